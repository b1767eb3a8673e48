-- 0011_bars_version (postgres, down).
ALTER TABLE symbols DROP COLUMN bars_version;
