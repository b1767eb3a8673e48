-- 0018_backtest_execution (sqlite, down).
ALTER TABLE backtests DROP COLUMN job_id;
ALTER TABLE backtests DROP COLUMN benchmark;
ALTER TABLE backtests DROP COLUMN execution;
