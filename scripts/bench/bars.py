#!/usr/bin/env python3
"""One-minute bars as CSV (deterministic random walk), for the benchmarks.

    bars.py N               N consecutive minutes from 2000-01-03 14:30 UTC (import, backtest)
    bars.py --sessions D    the regular hours (09:30-16:00 New York) of each weekday among the
                            last D days up to today, whole sessions even where they are still to
                            come, so `range=1d` answers a full session whatever the time of day
"""
import random
import sys
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo


def minutes(count, start):
    t = start
    for _ in range(count):
        yield t
        t += timedelta(minutes=1)


def session_minutes(days):
    new_york = ZoneInfo("America/New_York")
    today = datetime.now(new_york).date()
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        if day.weekday() >= 5:
            continue
        open_ = datetime.combine(day, time(9, 30), new_york).astimezone(timezone.utc)
        yield from minutes(390, open_)


def write(stamps, out):
    rng = random.Random(42)
    price = 100.0
    out.write("timestamp,open,high,low,close,volume,trade_count,vwap\n")
    for t in stamps:
        o = price
        c = max(1.0, o * (1 + rng.gauss(0, 0.001)))
        h = max(o, c) * (1 + abs(rng.gauss(0, 0.0005)))
        l = min(o, c) * (1 - abs(rng.gauss(0, 0.0005)))
        out.write(f"{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{o:.2f},{h:.2f},{l:.2f},{c:.2f},{rng.randint(100, 5000)},{rng.randint(1, 60)},{(o + c) / 2:.2f}\n")
        price = c


if __name__ == "__main__":
    if sys.argv[1] == "--sessions":
        write(session_minutes(int(sys.argv[2])), sys.stdout)
    else:
        write(minutes(int(sys.argv[1]), datetime(2000, 1, 3, 14, 30, tzinfo=timezone.utc)), sys.stdout)
