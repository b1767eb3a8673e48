-- 0020_trade_update_notify (postgres, down): writers of trade updates must send the NOTIFY
-- themselves again (the binary of revision 0019 does).
DROP TRIGGER tr_trade_updates_notify ON trade_updates;
DROP FUNCTION raptor_trade_update_notify();
