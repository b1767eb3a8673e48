-- 0019_backtest_sweeps (sqlite, up): parameter sweeps, run as queued jobs. A sweep records
-- what to run (the strategy type, its grid, the execution model), how far it got, and its
-- ranked results.
CREATE TABLE backtest_sweeps (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER       NOT NULL,
    symbol       TEXT          NOT NULL,
    timeframe    TEXT          NOT NULL,
    period_start TEXT          NOT NULL,
    period_end   TEXT          NOT NULL,
    request      TEXT          NOT NULL,
    status       TEXT          NOT NULL DEFAULT 'queued',
    total        INTEGER       NOT NULL,
    done         INTEGER       NOT NULL DEFAULT 0,
    results      TEXT          NULL,
    error        TEXT          NULL,
    job_id       INTEGER       NULL,
    created_at   TEXT          NOT NULL,
    started_at   TEXT          NULL,
    finished_at  TEXT          NULL,
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT ck_backtest_sweeps_status CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    CONSTRAINT ck_backtest_sweeps_done CHECK (done >= 0 AND done <= total)
);
CREATE INDEX ix_backtest_sweeps_user_id_created_at ON backtest_sweeps (user_id, created_at);
