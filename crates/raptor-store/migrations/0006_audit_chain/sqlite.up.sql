-- 0006_audit_chain (sqlite, up): audit_log becomes a hash chain the database keeps append-only (#12).
-- Each row written from now on carries the previous row's hash and its own (see
-- raptor_store::audit::chain); rows written before this revision keep NULLs and are reported as
-- the unchained prefix by `raptor audit verify`. The triggers refuse UPDATE and DELETE for every
-- connection, the owner's included. Keep in step with postgres.up.sql.
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT NULL;
ALTER TABLE audit_log ADD COLUMN row_hash TEXT NULL;
CREATE TRIGGER tr_audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;
CREATE TRIGGER tr_audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused');
END;
