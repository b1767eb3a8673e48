-- 0006_audit_chain (postgres, down): back to an unchained audit_log that the database lets change.
DROP TRIGGER tr_audit_log_no_truncate ON audit_log;
DROP TRIGGER tr_audit_log_no_delete ON audit_log;
DROP TRIGGER tr_audit_log_no_update ON audit_log;
DROP FUNCTION raptor_audit_log_append_only();
ALTER TABLE audit_log DROP COLUMN row_hash;
ALTER TABLE audit_log DROP COLUMN prev_hash;
