-- 0003_seed_symbols (postgres, down).
DELETE FROM symbols WHERE ticker IN ('AAPL', 'MSFT', 'GOOGL', 'AMZN', 'NVDA', 'META', 'TSLA', 'NFLX', 'AMD', 'INTC', 'JPM', 'V', 'JNJ', 'XOM', 'KO', 'DIS', 'SPY', 'QQQ', 'IWM', 'DIA');
