-- 0021_trade_update_notify_stmt (postgres, up): the trade-update trigger of 0020 runs
-- once per statement, not once per row. It sends one NOTIFY raptor_trade_updates per account
-- among the statement's new rows, as before, but a bulk write (`raptor db copy`, a restore) no
-- longer calls a function per row. The function names everything it uses by schema, so it sets
-- no search_path: a setting saved and restored on every call of the order path.
CREATE OR REPLACE FUNCTION raptor_trade_update_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.pg_notify('raptor_trade_updates', accounts.account_id::text)
    FROM (SELECT DISTINCT account_id FROM written) AS accounts;
    RETURN NULL;
END
$$;
ALTER FUNCTION raptor_trade_update_notify() RESET search_path;
DROP TRIGGER tr_trade_updates_notify ON trade_updates;
CREATE TRIGGER tr_trade_updates_notify AFTER INSERT ON trade_updates
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION raptor_trade_update_notify();
