-- 0014_order_replacement (postgres, up): an order replaced (Alpaca's PATCH of an order) ends,
-- stored as canceled and named by the order that replaces it, which names it back. The links
-- are plain ids, as the copy tool moves rows in any order.
ALTER TABLE paper_orders ADD COLUMN replaces BIGINT NULL;                -- the order this one replaced
ALTER TABLE paper_orders ADD COLUMN replaced_by BIGINT NULL;             -- the order that replaced this one
ALTER TABLE paper_orders ADD COLUMN replaced_at TIMESTAMPTZ NULL;
