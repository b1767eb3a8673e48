#!/usr/bin/env python3
"""Regenerates crates/raptor-domain/fixtures/vectorbt.json: what vectorbt's portfolio
simulator makes of generated bars, for the strategies and execution options Raptor's engine
offers, so the engine's tests can check it against an engine this team did not write.

Run by hand, not in CI (vectorbt pulls in numba and takes minutes to install):

    python3 -m venv /tmp/vbt && /tmp/vbt/bin/pip install -r scripts/backtest/requirements.txt
    /tmp/vbt/bin/python scripts/backtest/vectorbt_fixtures.py

Signals are computed here from their definitions (Raptor's README): a simple moving average
crossover from pandas rolling means, Wilder's RSI, a Donchian channel from rolling extremes
of the bars before. vectorbt then trades them: whole shares (size_granularity=1), all in
(size=inf) or a fraction of equity, percent and fixed fees, slippage, long only or
reversing into shorts, at the signal's close or the next bar's open.
"""

import json
import pathlib

import numpy as np
import pandas as pd
import vectorbt as vbt

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/raptor-domain/fixtures/vectorbt.json"
BARS = 750
CASH = 100_000.0


def generated_bars(seed: int) -> pd.DataFrame:
    """A seeded random walk: daily bars from 2024-01-02, opens gapping from the last close."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, BARS)))
    previous = np.concatenate([[100.0], close[:-1]])
    open_ = previous * np.exp(rng.normal(0.0, 0.006, BARS))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.004, BARS)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.004, BARS)))
    # Round to cents, as stored prices are.
    index = pd.date_range("2024-01-02T05:00:00Z", periods=BARS, freq="D")
    return pd.DataFrame(
        {"open": open_.round(2), "high": high.round(2), "low": low.round(2), "close": close.round(2)},
        index=index,
    )


def sma_signals(close: pd.Series, fast: int, slow: int):
    f, s = close.rolling(fast).mean(), close.rolling(slow).mean()
    level = (f - s).abs() <= 1e-9 * np.maximum(f.abs(), s.abs())
    side = np.where(level, 0, np.where(f > s, 1, -1))
    side = pd.Series(side, index=close.index).where(s.notna())
    previous = side.shift(1)
    defined = side.notna() & previous.notna()
    return defined & (side == 1) & (previous != 1), defined & (side == -1) & (previous != -1)


def rsi_signals(close: pd.Series, period: int, lower: float, upper: float):
    change = close.diff().to_numpy()
    gain = loss = 0.0
    rsi = np.full(len(close), np.nan)
    for i in range(1, len(close)):
        up, down = max(change[i], 0.0), max(-change[i], 0.0)
        if i <= period:
            gain += up / period
            loss += down / period
            if i < period:
                continue
        else:
            gain = (gain * (period - 1) + up) / period
            loss = (loss * (period - 1) + down) / period
        rsi[i] = 100 - 100 / (1 + gain / loss) if loss > 0 else (100.0 if gain > 0 else 50.0)
    rsi = pd.Series(rsi, index=close.index)
    return rsi < lower, rsi > upper


def donchian_signals(bars: pd.DataFrame, period: int):
    top = bars["high"].rolling(period).max().shift(1)
    bottom = bars["low"].rolling(period).min().shift(1)
    return bars["close"] > top, bars["close"] < bottom


def signals(bars: pd.DataFrame, strategy: dict):
    close = bars["close"]
    kind = strategy["type"]
    if kind == "buy_and_hold":
        long = pd.Series(False, index=close.index)
        long.iloc[0] = True
        return long, pd.Series(False, index=close.index)
    if kind == "sma_crossover":
        return sma_signals(close, strategy["fast"], strategy["slow"])
    if kind == "rsi_reversion":
        return rsi_signals(close, strategy["period"], strategy["lower"], strategy["upper"])
    if kind == "donchian_breakout":
        return donchian_signals(bars, strategy["period"])
    raise ValueError(kind)


def simulate(bars: pd.DataFrame, strategy: dict, execution: dict) -> dict:
    long, short = signals(bars, strategy)
    long, short = long.fillna(False).astype(bool), short.fillna(False).astype(bool)
    if execution.get("fill", "next_open") == "next_open":
        long = long.shift(1, fill_value=False).astype(bool)
        short = short.shift(1, fill_value=False).astype(bool)
        price = bars["open"]
    else:
        price = bars["close"]
    commission = execution.get("commission", {"type": "none"})
    fees = commission["rate"] / 100 if commission["type"] == "percent" else 0.0
    fixed = commission["amount"] if commission["type"] == "fixed" else 0.0
    sizing = execution.get("sizing", {"type": "all_in"})
    size, size_type = (np.inf, "amount") if sizing["type"] == "all_in" else (sizing["fraction"], "percent")
    both = execution.get("direction", "long_only") == "long_short"
    pf = vbt.Portfolio.from_signals(
        bars["close"],
        entries=long,
        exits=None if both else short,
        short_entries=short if both else None,
        price=price,
        size=size,
        size_type=size_type,
        size_granularity=1,
        fees=fees,
        fixed_fees=fixed,
        slippage=execution.get("slippage_bps", 0.0) / 10_000,
        upon_opposite_entry="reverse",
        init_cash=CASH,
        freq="1D",
    )
    trades = pf.trades.records_arr
    position = {0: "long", 1: "short"}
    return {
        "strategy": strategy,
        "execution": execution,
        "final_equity": float(pf.final_value()),
        "trades": [
            {
                "side": position[int(t["direction"])],
                "entry_bar": int(t["entry_idx"]),
                "exit_bar": int(t["exit_idx"]),
                "entry_price": float(t["entry_price"]),
                "exit_price": float(t["exit_price"]),
                "qty": float(t["size"]),
                "fees": float(t["entry_fees"] + t["exit_fees"]),
                "pnl": float(t["pnl"]),
                "open_at_end": bool(t["status"] == 0),
            }
            for t in trades
        ],
    }


CASES = [
    ({"type": "buy_and_hold"}, {"commission": {"type": "percent", "rate": 0.1}}),
    ({"type": "sma_crossover", "fast": 10, "slow": 30}, {}),
    ({"type": "sma_crossover", "fast": 10, "slow": 30},
     {"fill": "signal_close", "commission": {"type": "percent", "rate": 0.1}, "slippage_bps": 5.0}),
    ({"type": "sma_crossover", "fast": 5, "slow": 20},
     {"commission": {"type": "percent", "rate": 0.05}, "slippage_bps": 2.0, "direction": "long_short"}),
    ({"type": "sma_crossover", "fast": 5, "slow": 20},
     {"commission": {"type": "fixed", "amount": 4.95}, "sizing": {"type": "fraction", "fraction": 0.5}}),
    ({"type": "rsi_reversion", "period": 14, "lower": 30.0, "upper": 70.0},
     {"commission": {"type": "percent", "rate": 0.2}, "slippage_bps": 10.0}),
    ({"type": "rsi_reversion", "period": 7, "lower": 25.0, "upper": 75.0},
     {"fill": "signal_close", "direction": "long_short"}),
    ({"type": "donchian_breakout", "period": 20}, {"slippage_bps": 5.0, "direction": "long_short"}),
    ({"type": "donchian_breakout", "period": 55}, {"commission": {"type": "fixed", "amount": 1.0}}),
]


def main():
    bars = generated_bars(seed=20261203)
    fixture = {
        "generator": f"scripts/backtest/vectorbt_fixtures.py with vectorbt {vbt.__version__}",
        "initial_cash": CASH,
        "bars": [
            {"t": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": r.open, "high": r.high, "low": r.low, "close": r.close}
            for t, r in bars.iterrows()
        ],
        "cases": [simulate(bars, s, e) for s, e in CASES],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, indent=1) + "\n")
    for case in fixture["cases"]:
        print(f"{case['strategy']['type']:<18} {len(case['trades']):>3} trades, final {case['final_equity']:.2f}")


if __name__ == "__main__":
    main()
