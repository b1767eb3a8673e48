-- 0021_trade_update_notify_stmt (sqlite, up): nothing to change (see 0020).
SELECT 1;
