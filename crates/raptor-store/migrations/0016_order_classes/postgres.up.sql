-- 0016_order_classes (postgres, up): trailing stops and Alpaca's order classes. A bracket, OCO
-- or OTO order is a parent and its legs (`parent_id`, a plain id as the copy tool moves rows in
-- any order); a leg waiting for its parent to fill is `held`. A trailing stop keeps its trail
-- (`trail_price` in money or `trail_percent`), the best price seen since it was placed (`hwm`,
-- up to the end of the bar at `hwm_at`) and the stop that follows from them (`stop_price`).
ALTER TABLE paper_orders DROP CONSTRAINT ck_paper_orders_type;
ALTER TABLE paper_orders ADD CONSTRAINT ck_paper_orders_type CHECK (type IN ('market', 'limit', 'stop', 'stop_limit', 'trailing_stop'));
ALTER TABLE paper_orders DROP CONSTRAINT ck_paper_orders_status;
ALTER TABLE paper_orders ADD CONSTRAINT ck_paper_orders_status CHECK (status IN ('new', 'accepted', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected', 'held'));
ALTER TABLE paper_orders ADD COLUMN order_class TEXT NOT NULL DEFAULT 'simple';
ALTER TABLE paper_orders ADD CONSTRAINT ck_paper_orders_order_class CHECK (order_class IN ('simple', 'bracket', 'oco', 'oto'));
ALTER TABLE paper_orders ADD COLUMN parent_id BIGINT NULL;
ALTER TABLE paper_orders ADD COLUMN trail_price NUMERIC(28,8) NULL;
ALTER TABLE paper_orders ADD COLUMN trail_percent NUMERIC(28,8) NULL;
ALTER TABLE paper_orders ADD COLUMN hwm NUMERIC(28,8) NULL;
ALTER TABLE paper_orders ADD COLUMN hwm_at TIMESTAMPTZ NULL;
ALTER TABLE paper_orders ADD COLUMN extended_hours BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX ix_paper_orders_parent_id ON paper_orders (parent_id) WHERE parent_id IS NOT NULL;
