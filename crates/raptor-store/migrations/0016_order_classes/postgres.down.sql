-- 0016_order_classes (postgres, down): refused (changing nothing) while any
-- trailing stop or order of a group has not ended: older releases would fill the exits of a
-- group as independent orders.
DO $$ BEGIN IF EXISTS (SELECT 1 FROM paper_orders WHERE (type = 'trailing_stop' OR order_class <> 'simple') AND status IN ('new', 'accepted', 'partially_filled', 'held')) THEN RAISE EXCEPTION 'trailing stops or bracket, OCO or OTO orders are still working: cancel them before downgrading'; END IF; END $$;
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
