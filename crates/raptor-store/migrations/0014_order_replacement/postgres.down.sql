-- 0014_order_replacement (postgres, down).
ALTER TABLE paper_orders DROP COLUMN replaced_at;
ALTER TABLE paper_orders DROP COLUMN replaced_by;
ALTER TABLE paper_orders DROP COLUMN replaces;
