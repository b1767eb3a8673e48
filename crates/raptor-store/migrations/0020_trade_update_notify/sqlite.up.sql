-- 0020_trade_update_notify (sqlite, up): nothing to change. On PostgreSQL a trade update's
-- insert trigger announces its account; SQLite has no channel between processes, and its
-- writers announce in-process.
SELECT 1;
