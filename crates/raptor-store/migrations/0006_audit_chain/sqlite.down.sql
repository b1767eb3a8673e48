-- 0006_audit_chain (sqlite, down): back to an unchained audit_log that the database lets change.
DROP TRIGGER tr_audit_log_no_delete;
DROP TRIGGER tr_audit_log_no_update;
ALTER TABLE audit_log DROP COLUMN row_hash;
ALTER TABLE audit_log DROP COLUMN prev_hash;
