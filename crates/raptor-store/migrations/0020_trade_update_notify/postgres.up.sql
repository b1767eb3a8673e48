-- 0020_trade_update_notify (postgres, up): a trade update announces its account as it is
-- written. Each inserted row sends NOTIFY raptor_trade_updates with the account's id, delivered
-- to every listening process when the transaction commits; PostgreSQL delivers one notification
-- per account however many rows a transaction writes for it. The writer used to send the same
-- NOTIFY itself, one more round trip per order. SQLite has no such channel: its writers announce
-- in-process (see raptor_store::trade_updates). Keep the channel in step with
-- raptor_store::dialect::wakeups::TRADE_UPDATES.
CREATE FUNCTION raptor_trade_update_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_notify('raptor_trade_updates', NEW.account_id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER tr_trade_updates_notify AFTER INSERT ON trade_updates
    FOR EACH ROW EXECUTE FUNCTION raptor_trade_update_notify();
