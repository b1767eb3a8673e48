-- 0005_job_queue_leases (sqlite, down): the new indexes go first, since SQLite refuses to drop
-- a column an index uses.
DROP INDEX ux_job_queue_unique_key;
DROP INDEX ix_job_queue_finished_at;
DROP INDEX ix_job_queue_lease_until;
DROP INDEX ix_job_queue_claim;
ALTER TABLE job_queue DROP COLUMN lease_until;
ALTER TABLE job_queue DROP COLUMN unique_key;
CREATE INDEX ix_job_queue_locked_at ON job_queue (locked_at) WHERE status = 'running';
CREATE INDEX ix_job_queue_run_at ON job_queue (run_at) WHERE status = 'queued';
