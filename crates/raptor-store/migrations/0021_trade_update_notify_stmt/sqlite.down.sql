-- 0021_trade_update_notify_stmt (sqlite, down): nothing to undo.
SELECT 1;
