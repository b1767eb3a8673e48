-- 0017_orders_by_account_status (postgres, down).
DROP INDEX ix_paper_orders_account_id_status;
