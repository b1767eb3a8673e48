-- 0015_trade_updates (sqlite, down).
DROP TABLE trade_updates;
