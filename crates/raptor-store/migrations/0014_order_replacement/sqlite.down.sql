-- 0014_order_replacement (sqlite, down).
ALTER TABLE paper_orders DROP COLUMN replaced_at;
ALTER TABLE paper_orders DROP COLUMN replaced_by;
ALTER TABLE paper_orders DROP COLUMN replaces;
