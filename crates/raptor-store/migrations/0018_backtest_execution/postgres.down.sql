-- 0018_backtest_execution (postgres, down).
ALTER TABLE backtests DROP COLUMN job_id;
ALTER TABLE backtests DROP COLUMN benchmark;
ALTER TABLE backtests DROP COLUMN execution;
