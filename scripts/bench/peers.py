#!/usr/bin/env python3
"""Benchmark (not a test): vectorbt and backtrader on the bars the backtest bench stored, for
scripts/bench/backtest to set next to Raptor's figures. Prints one JSON object.

    peers.py BARS.csv WINDOWS        (CSV: ts,open,high,low,close,volume; WINDOWS: 5,10,20,…)

- vectorbt: SMA 20/50 crossover filled at the next open, all in, whole shares, from bars
  already in memory (indexed by position, its fastest input); timed once cold (numba
  compiles) and once warm.
- vectorbt sweep: every pair of WINDOWS (fast below slow) in one broadcast run, warm.
- backtrader: the same crossover with its own SMA and CrossOver indicators on the first
  100,000 bars (its pace is steady; the whole series would take minutes).
"""
import itertools
import json
import sys
import time

import backtrader as bt
import numpy as np
import pandas as pd
import vectorbt as vbt

BACKTRADER_BARS = 100_000


def crossover(close, open_, fast, slow):
    f, s = vbt.MA.run(close, fast).ma, vbt.MA.run(close, slow).ma
    entries = f.vbt.crossed_above(s).shift(1, fill_value=False)
    exits = f.vbt.crossed_below(s).shift(1, fill_value=False)
    pf = vbt.Portfolio.from_signals(close, entries, exits, price=open_, size=np.inf,
                                    size_granularity=1, init_cash=100_000.0)
    return float(pf.final_value())


def sweep(close, open_, windows):
    pairs = [(f, s) for f, s in itertools.combinations(sorted(windows), 2)]
    fast = vbt.MA.run(close, [f for f, _ in pairs], short_name="fast")
    slow = vbt.MA.run(close, [s for _, s in pairs], short_name="slow")
    entries = fast.ma_crossed_above(slow.ma.values)
    exits = fast.ma_crossed_below(slow.ma.values)
    opens = np.broadcast_to(open_.to_numpy()[:, None], entries.shape)
    pf = vbt.Portfolio.from_signals(close, entries.shift(1, fill_value=False), exits.shift(1, fill_value=False),
                                    price=opens, size=np.inf, size_granularity=1, init_cash=100_000.0)
    pf.final_value()
    return len(pairs)


class Crossover(bt.Strategy):
    def __init__(self):
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=20), bt.ind.SMA(period=50))

    def next(self):
        if self.cross > 0 and not self.position:
            self.buy(size=int(self.broker.getcash() / self.data.close[0]))
        elif self.cross < 0 and self.position:
            self.close()


def backtrader(frame):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(Crossover)
    cerebro.broker.setcash(100_000.0)
    started = time.perf_counter()
    cerebro.run()
    return time.perf_counter() - started


def timed(f, *args):
    started = time.perf_counter()
    f(*args)
    return time.perf_counter() - started


def main():
    frame = pd.read_csv(sys.argv[1], names=["ts", "open", "high", "low", "close", "volume"])
    frame.index = pd.to_datetime(frame.pop("ts"), utc=True, format="ISO8601")
    windows = [int(w) for w in sys.argv[2].split(",")]
    # vectorbt gets its fastest input: with pandas 3 a time index of a million rows costs its
    # wrappers seconds a call (0.33 s against 15 s for this run, measured here).
    close, open_ = frame["close"].reset_index(drop=True), frame["open"].reset_index(drop=True)
    cold = timed(crossover, close, open_, 20, 50)
    warm = timed(crossover, close, open_, 20, 50)
    sweep(close.iloc[:1000], open_.iloc[:1000], windows)  # compile
    started = time.perf_counter()
    pairs = sweep(close, open_, windows)
    sweep_s = time.perf_counter() - started
    head = frame.iloc[:BACKTRADER_BARS].tz_localize(None)
    print(json.dumps({
        "bars": len(frame),
        "vectorbt": {"version": vbt.__version__, "cold_s": cold, "warm_s": warm,
                     "sweep_combinations": pairs, "sweep_s": sweep_s},
        "backtrader": {"version": bt.__version__, "bars": len(head), "s": backtrader(head)},
    }))


if __name__ == "__main__":
    main()
