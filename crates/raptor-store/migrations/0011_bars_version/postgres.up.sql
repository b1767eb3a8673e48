-- 0011_bars_version (postgres, up): a version of each symbol's bars, moved in the transaction of
-- every write of them to that write's time in microseconds, so every process can tell whether
-- a page of bars it answered before is still what the store holds (one indexed read instead
-- of the bars). Existing symbols start at this migration's time, so no version seen before
-- the upgrade (or in another database) comes back.
ALTER TABLE symbols ADD COLUMN bars_version BIGINT NOT NULL DEFAULT 0;
UPDATE symbols SET bars_version = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
