-- 0020_trade_update_notify (sqlite, down): nothing to undo.
SELECT 1;
