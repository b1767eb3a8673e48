-- 0021_trade_update_notify_stmt (postgres, down): back to 0020's trigger, once per row.
DROP TRIGGER tr_trade_updates_notify ON trade_updates;
CREATE OR REPLACE FUNCTION raptor_trade_update_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_notify('raptor_trade_updates', NEW.account_id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER tr_trade_updates_notify AFTER INSERT ON trade_updates
    FOR EACH ROW EXECUTE FUNCTION raptor_trade_update_notify();
