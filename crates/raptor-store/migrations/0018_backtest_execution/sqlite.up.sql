-- 0018_backtest_execution (sqlite, up): each run records its execution model (where signals
-- fill, commission, slippage, sizing, direction), the benchmark it is compared with and, when
-- queued, the job that runs it. Runs stored before it filled signals at their own bar's close,
-- free, all in and long only: they are recorded as such; they were compared with nothing.
ALTER TABLE backtests ADD COLUMN execution TEXT NULL;
ALTER TABLE backtests ADD COLUMN benchmark TEXT NULL;
ALTER TABLE backtests ADD COLUMN job_id INTEGER NULL;
UPDATE backtests SET execution = '{"fill":"signal_close","commission":{"type":"none"},"slippage_bps":0.0,"sizing":{"type":"all_in"},"direction":"long_only"}';
