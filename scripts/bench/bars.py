#!/usr/bin/env python3
"""Writes N one-minute bars as CSV (deterministic random walk), for import benchmarks."""
import random
import sys
from datetime import datetime, timedelta, timezone

rows = int(sys.argv[1])
out = sys.stdout
rng = random.Random(42)
t = datetime(2000, 1, 3, 14, 30, tzinfo=timezone.utc)
price = 100.0
out.write("timestamp,open,high,low,close,volume,trade_count,vwap\n")
for _ in range(rows):
    o = price
    c = max(1.0, o * (1 + rng.gauss(0, 0.001)))
    h = max(o, c) * (1 + abs(rng.gauss(0, 0.0005)))
    l = min(o, c) * (1 - abs(rng.gauss(0, 0.0005)))
    out.write(f"{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{o:.2f},{h:.2f},{l:.2f},{c:.2f},{rng.randint(100, 5000)},{rng.randint(1, 60)},{(o + c) / 2:.2f}\n")
    price = c
    t += timedelta(minutes=1)
