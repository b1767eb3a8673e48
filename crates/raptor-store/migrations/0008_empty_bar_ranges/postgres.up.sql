-- 0008_empty_bar_ranges (postgres, up): windows the bar source answered with no bars, so a
-- request for the same closed past window is answered from the store instead of asking again.
-- Writing bars of a symbol and timeframe deletes the records they overlap.
CREATE TABLE empty_bar_ranges (
    symbol      TEXT        NOT NULL,
    timeframe   TEXT        NOT NULL,
    range_start TIMESTAMPTZ NOT NULL,                                    -- inclusive
    range_end   TIMESTAMPTZ NOT NULL,                                    -- exclusive
    checked_at  TIMESTAMPTZ NOT NULL,                                    -- when the source answered
    PRIMARY KEY (symbol, timeframe, range_start, range_end)
);
