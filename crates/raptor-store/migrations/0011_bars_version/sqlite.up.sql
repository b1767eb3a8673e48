-- 0011_bars_version (sqlite, up): a counter each write of a symbol's bars moves, in the
-- writing transaction, so every process can tell whether a page of bars it answered before
-- is still what the store holds (one indexed read instead of the bars).
ALTER TABLE symbols ADD COLUMN bars_version INTEGER NOT NULL DEFAULT 0;
