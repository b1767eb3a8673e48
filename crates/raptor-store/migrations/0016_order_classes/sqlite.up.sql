-- 0016_order_classes (sqlite, up): SQLite cannot change a table's checks, so the table
-- is rebuilt: made anew, filled from the old one, and renamed into its place, with foreign keys
-- off meanwhile (paper_fills refers to it; the migrator turns them off around the revision's
-- transaction, as `PRAGMA foreign_keys` has no effect inside one).
-- Trailing stops and Alpaca's order classes: see the postgres script.
CREATE TABLE paper_orders_rebuilt (
    id               INTEGER PRIMARY KEY,
    account_id       INTEGER NOT NULL,
    client_order_id  TEXT    NOT NULL,
    symbol           TEXT    NOT NULL,
    side             TEXT    NOT NULL,
    type             TEXT    NOT NULL,
    time_in_force    TEXT    NOT NULL,
    qty              TEXT    NULL,                                       -- exactly one of qty / notional
    notional         TEXT    NULL,
    limit_price      TEXT    NULL,
    stop_price       TEXT    NULL,
    status           TEXT    NOT NULL,
    filled_qty       TEXT    NOT NULL,
    filled_avg_price TEXT    NULL,
    reject_reason    TEXT    NULL,
    created_at       TEXT    NOT NULL,
    submitted_at     TEXT    NOT NULL,
    filled_at        TEXT    NULL,
    canceled_at      TEXT    NULL,
    expired_at       TEXT    NULL,
    updated_at       TEXT    NOT NULL,
    replaces         INTEGER NULL,                                       -- the order this one replaced
    replaced_by      INTEGER NULL,                                       -- the order that replaced this one
    replaced_at      TEXT    NULL,
    order_class      TEXT    NOT NULL DEFAULT 'simple',
    parent_id        INTEGER NULL,                                       -- the order whose leg this is
    trail_price      TEXT    NULL,                                       -- trailing stops: a distance in money, or…
    trail_percent    TEXT    NULL,                                       -- …in percent of the best price
    hwm              TEXT    NULL,                                       -- trailing stops: the best price so far…
    hwm_at           TEXT    NULL,                                       -- …up to the bar that began then
    extended_hours   BOOLEAN NOT NULL DEFAULT FALSE,
    FOREIGN KEY (account_id) REFERENCES paper_accounts (id) ON DELETE CASCADE,
    CONSTRAINT ck_paper_orders_side CHECK (side IN ('buy', 'sell')),
    CONSTRAINT ck_paper_orders_type CHECK (type IN ('market', 'limit', 'stop', 'stop_limit', 'trailing_stop')),
    CONSTRAINT ck_paper_orders_time_in_force CHECK (time_in_force IN ('day', 'gtc', 'ioc', 'fok', 'opg', 'cls')),
    CONSTRAINT ck_paper_orders_status CHECK (status IN ('new', 'accepted', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected', 'held')),
    CONSTRAINT ck_paper_orders_order_class CHECK (order_class IN ('simple', 'bracket', 'oco', 'oto')),
    CONSTRAINT ck_paper_orders_qty_or_notional CHECK ((qty IS NULL) <> (notional IS NULL))
);
INSERT INTO paper_orders_rebuilt (id, account_id, client_order_id, symbol, side, type, time_in_force, qty, notional, limit_price, stop_price, status, filled_qty, filled_avg_price, reject_reason, created_at, submitted_at, filled_at, canceled_at, expired_at, updated_at, replaces, replaced_by, replaced_at)
SELECT id, account_id, client_order_id, symbol, side, type, time_in_force, qty, notional, limit_price, stop_price, status, filled_qty, filled_avg_price, reject_reason, created_at, submitted_at, filled_at, canceled_at, expired_at, updated_at, replaces, replaced_by, replaced_at FROM paper_orders;
DROP TABLE paper_orders;
ALTER TABLE paper_orders_rebuilt RENAME TO paper_orders;
CREATE UNIQUE INDEX ux_paper_orders_account_id_client_order_id ON paper_orders (account_id, client_order_id);
CREATE INDEX ix_paper_orders_account_id_submitted_at ON paper_orders (account_id, submitted_at);
CREATE INDEX ix_paper_orders_status_symbol ON paper_orders (status, symbol);
CREATE INDEX ix_paper_orders_parent_id ON paper_orders (parent_id) WHERE parent_id IS NOT NULL;
