-- 0015_trade_updates (sqlite, up): what happened to each order, in the order it happened,
-- for the trade-updates streams. Written in the transaction that changed the order, so an
-- update exists exactly when its change committed; `order_state` is the order as it was right
-- after the change (JSON). Within one account, ids follow commit order (every change holds
-- the account's row lock), so a reader resumes from the last id it saw. Pruned after a week.
CREATE TABLE trade_updates (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused, so a reader's position stays valid
    account_id   INTEGER     NOT NULL,
    order_id     INTEGER     NOT NULL,
    event        TEXT        NOT NULL,                  -- new, fill, canceled, expired, rejected, replaced
    at           TEXT        NOT NULL,
    price        TEXT        NULL,                      -- fills: the price
    qty          TEXT        NULL,                      -- fills: the quantity
    position_qty TEXT        NULL,                      -- fills: the position afterwards
    fill_id      INTEGER     NULL,                      -- fills: the row in paper_fills
    order_state  TEXT        NOT NULL,
    FOREIGN KEY (account_id) REFERENCES paper_accounts (id) ON DELETE CASCADE
);
CREATE INDEX ix_trade_updates_account_id ON trade_updates (account_id, id);
CREATE INDEX ix_trade_updates_at ON trade_updates (at);
