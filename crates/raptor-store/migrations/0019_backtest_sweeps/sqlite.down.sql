-- 0019_backtest_sweeps (sqlite, down).
DROP TABLE backtest_sweeps;
