-- 0013_watchlists (sqlite, down).
DROP TABLE watchlist_symbols;
DROP TABLE watchlists;
