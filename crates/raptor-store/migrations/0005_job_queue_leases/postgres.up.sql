-- 0005_job_queue_leases (postgres, up): job_queue becomes a durable queue (#12).
-- A unique key for dedupe and once-per-tick work, a lease renewed while a job runs, and
-- indexes for claiming, rescuing and pruning. Keep in step with sqlite.up.sql.
ALTER TABLE job_queue ADD COLUMN unique_key TEXT NULL;
ALTER TABLE job_queue ADD COLUMN lease_until TIMESTAMPTZ NULL;
DROP INDEX ix_job_queue_run_at;
DROP INDEX ix_job_queue_locked_at;
CREATE INDEX ix_job_queue_claim ON job_queue (queue, run_at, id) WHERE status = 'queued';
CREATE INDEX ix_job_queue_lease_until ON job_queue (lease_until) WHERE status = 'running';
CREATE INDEX ix_job_queue_finished_at ON job_queue (finished_at)
    WHERE status IN ('succeeded', 'failed', 'canceled');
CREATE UNIQUE INDEX ux_job_queue_unique_key ON job_queue (unique_key)
    WHERE unique_key IS NOT NULL AND status <> 'canceled';
-- Every claim and completion leaves a dead tuple: vacuum this small, busy table early.
ALTER TABLE job_queue SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
