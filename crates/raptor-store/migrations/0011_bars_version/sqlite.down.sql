-- 0011_bars_version (sqlite, down).
ALTER TABLE symbols DROP COLUMN bars_version;
