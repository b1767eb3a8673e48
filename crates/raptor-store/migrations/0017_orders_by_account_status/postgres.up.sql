-- 0017_orders_by_account_status (postgres, up): an account's working orders without reading its
-- whole history. Every order placed counts and sums the account's open orders, and an account
-- read sums its working buys; with only (account_id, submitted_at) those read every order the
-- account ever placed.
CREATE INDEX ix_paper_orders_account_id_status ON paper_orders (account_id, status);
