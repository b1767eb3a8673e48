-- 0013_watchlists (postgres, down).
DROP TABLE watchlist_symbols;
DROP TABLE watchlists;
