-- 0019_backtest_sweeps (postgres, down).
DROP TABLE backtest_sweeps;
