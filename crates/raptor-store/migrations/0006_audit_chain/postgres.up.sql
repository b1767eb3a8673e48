-- 0006_audit_chain (postgres, up): audit_log becomes a hash chain the database keeps append-only (#12).
-- Each row written from now on carries the previous row's hash and its own (see
-- raptor_store::audit::chain); rows written before this revision keep NULLs and are reported as
-- the unchained prefix by `raptor audit verify`. The triggers refuse UPDATE, DELETE and TRUNCATE
-- for every role, the owner's included (the application role also lacks the grants once
-- `raptor db roles --apply` has run). Keep in step with sqlite.up.sql.
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT NULL;
ALTER TABLE audit_log ADD COLUMN row_hash TEXT NULL;
CREATE FUNCTION raptor_audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER tr_audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION raptor_audit_log_append_only();
CREATE TRIGGER tr_audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION raptor_audit_log_append_only();
CREATE TRIGGER tr_audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION raptor_audit_log_append_only();
