-- 0016_order_classes (postgres, down): refused while trailing stops or held legs exist (they
-- break the older checks).
DROP INDEX ix_paper_orders_parent_id;
ALTER TABLE paper_orders DROP COLUMN extended_hours;
ALTER TABLE paper_orders DROP COLUMN hwm_at;
ALTER TABLE paper_orders DROP COLUMN hwm;
ALTER TABLE paper_orders DROP COLUMN trail_percent;
ALTER TABLE paper_orders DROP COLUMN trail_price;
ALTER TABLE paper_orders DROP COLUMN parent_id;
ALTER TABLE paper_orders DROP CONSTRAINT ck_paper_orders_order_class;
ALTER TABLE paper_orders DROP COLUMN order_class;
ALTER TABLE paper_orders DROP CONSTRAINT ck_paper_orders_status;
ALTER TABLE paper_orders ADD CONSTRAINT ck_paper_orders_status CHECK (status IN ('new', 'accepted', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected'));
ALTER TABLE paper_orders DROP CONSTRAINT ck_paper_orders_type;
ALTER TABLE paper_orders ADD CONSTRAINT ck_paper_orders_type CHECK (type IN ('market', 'limit', 'stop', 'stop_limit'));
