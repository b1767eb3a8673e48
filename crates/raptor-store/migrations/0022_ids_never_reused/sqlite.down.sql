-- 0022_ids_never_reused (sqlite, down): the tables rebuilt as before, their ids free again
-- to be given once more.
CREATE TABLE watchlists_rebuilt (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    FOREIGN KEY (account_id) REFERENCES paper_accounts (id) ON DELETE CASCADE
);
INSERT INTO watchlists_rebuilt (id, account_id, name, created_at, updated_at)
SELECT id, account_id, name, created_at, updated_at FROM watchlists;
DROP TABLE watchlists;
ALTER TABLE watchlists_rebuilt RENAME TO watchlists;
CREATE UNIQUE INDEX ux_watchlists_account_id_name ON watchlists (account_id, name);

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
INSERT INTO paper_orders_rebuilt (id, account_id, client_order_id, symbol, side, type, time_in_force, qty, notional, limit_price, stop_price, status, filled_qty, filled_avg_price, reject_reason, created_at, submitted_at, filled_at, canceled_at, expired_at, updated_at, replaces, replaced_by, replaced_at, order_class, parent_id, trail_price, trail_percent, hwm, hwm_at, extended_hours)
SELECT id, account_id, client_order_id, symbol, side, type, time_in_force, qty, notional, limit_price, stop_price, status, filled_qty, filled_avg_price, reject_reason, created_at, submitted_at, filled_at, canceled_at, expired_at, updated_at, replaces, replaced_by, replaced_at, order_class, parent_id, trail_price, trail_percent, hwm, hwm_at, extended_hours FROM paper_orders;
DROP TABLE paper_orders;
ALTER TABLE paper_orders_rebuilt RENAME TO paper_orders;
CREATE UNIQUE INDEX ux_paper_orders_account_id_client_order_id ON paper_orders (account_id, client_order_id);
CREATE INDEX ix_paper_orders_account_id_submitted_at ON paper_orders (account_id, submitted_at);
CREATE INDEX ix_paper_orders_status_symbol ON paper_orders (status, symbol);
CREATE INDEX ix_paper_orders_parent_id ON paper_orders (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX ix_paper_orders_account_id_status ON paper_orders (account_id, status);

CREATE TABLE webauthn_credentials_rebuilt (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL,
    credential_id   BLOB    NOT NULL,                                    -- raw credential id bytes
    passkey         TEXT    NOT NULL,                                    -- serialized webauthn-rs Passkey
    sign_count      INTEGER NOT NULL DEFAULT 0,
    backup_eligible BOOLEAN NOT NULL DEFAULT FALSE,
    backup_state    BOOLEAN NOT NULL DEFAULT FALSE,
    aaguid          BLOB    NULL,                                        -- authenticator model, for display
    name            TEXT    NOT NULL,                                    -- user-chosen label
    created_at      TEXT    NOT NULL,
    last_used_at    TEXT    NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
INSERT INTO webauthn_credentials_rebuilt (id, user_id, credential_id, passkey, sign_count, backup_eligible, backup_state, aaguid, name, created_at, last_used_at)
SELECT id, user_id, credential_id, passkey, sign_count, backup_eligible, backup_state, aaguid, name, created_at, last_used_at FROM webauthn_credentials;
DROP TABLE webauthn_credentials;
ALTER TABLE webauthn_credentials_rebuilt RENAME TO webauthn_credentials;
CREATE UNIQUE INDEX ux_webauthn_credentials_credential_id ON webauthn_credentials (credential_id);
CREATE INDEX ix_webauthn_credentials_user_id ON webauthn_credentials (user_id);
