-- 0015_trade_updates (postgres, down).
DROP TABLE trade_updates;
