-- 0013_watchlists (sqlite, up): named lists of symbols a user keeps, as Alpaca's watchlists
-- (a name is unique per account; symbols keep the order they were added in).
CREATE TABLE watchlists (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    FOREIGN KEY (account_id) REFERENCES paper_accounts (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX ux_watchlists_account_id_name ON watchlists (account_id, name);

CREATE TABLE watchlist_symbols (
    watchlist_id INTEGER NOT NULL,
    symbol       TEXT    NOT NULL,
    position     INTEGER NOT NULL,                                       -- order of addition
    PRIMARY KEY (watchlist_id, symbol),
    FOREIGN KEY (watchlist_id) REFERENCES watchlists (id) ON DELETE CASCADE
);
