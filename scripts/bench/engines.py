#!/usr/bin/env python3
"""The "engines" rows of scripts/bench/backtest: Raptor's backtest and sweep figures next to
vectorbt's and backtrader's on the same bars (scripts/bench/peers.py). Reads WORK/rows.jsonl
(Raptor's load rows), WORK/peers.json, WORK/sweep-{sqlite,postgresql}.txt and
WORK/warm-{sqlite,postgresql}.json (scripts/bench/warm.py); prints rows as JSON lines.

    engines.py WORK
"""
import json
import re
import sys


def row(what, target, rate, unit, ceiling, ceiling_rate, **extra):
    return {"bench": "engines", "route": what, "target": target, "rate": rate, "unit": unit,
            "ceiling": ceiling, "ceiling_rate": ceiling_rate, "ratio": rate / ceiling_rate, **extra}


def main():
    work = sys.argv[1]
    rows = {r["target"]: r for r in map(json.loads, open(f"{work}/rows.jsonl"))}
    peers = json.load(open(f"{work}/peers.json"))
    vbt, btr, bars = peers["vectorbt"], peers["backtrader"], peers["bars"]
    engine = bars / (rows["sqlite"]["engine_ms"] / 1000)
    out = [
        row("SMA 20/50, engine only", "raptor", engine, "bars/s", f"backtrader {btr['version']}",
            btr["bars"] / btr["s"]),
        row("SMA 20/50, engine only", "raptor", engine, "bars/s", "vectorbt warm, in memory",
            bars / vbt["warm_s"], vectorbt_cold_s=vbt["cold_s"]),
    ]
    for target in ("sqlite", "postgresql"):
        r = rows[target]
        seconds = r["wall_s"] - r["start_up_s"]
        out.append(row(f"SMA 20/50 over {bars:,} bars, loaded from the database and run ({seconds:.2f} s)",
                       target, bars / seconds, "bars/s", "vectorbt warm, in memory", bars / vbt["warm_s"]))
    for target in ("sqlite", "postgresql"):
        warm = json.load(open(f"{work}/warm-{target}.json"))
        seconds = sorted(warm["inline_s"])[len(warm["inline_s"]) // 2]
        out.append(row(f"SMA 20/50 over {bars:,} bars, asked again of a running server holding them "
                       f"({seconds:.3f} s, request to answer, median of {len(warm['inline_s'])})",
                       target, bars / seconds, "bars/s", "vectorbt warm, in memory", bars / vbt["warm_s"],
                       inline_s=warm["inline_s"], queued_s=warm["queued_s"]))
    for target in ("sqlite", "postgresql"):
        text = open(f"{work}/sweep-{target}.txt").read()
        found = re.search(r"(\d+) runs over (\d+) bars in ([\d.]+) s, after loading them in ([\d.]+) s", text)
        runs, swept, took, loaded = int(found[1]), int(found[2]), float(found[3]), float(found[4])
        rate = runs * swept / took
        out.append(row(f"sweep: {runs} SMA pairs × {swept:,} bars in {took:.2f} s (1,000 pairs: {1000 * swept / rate:.1f} s)",
                       target, rate, "bar steps/s", "vectorbt broadcast, warm",
                       vbt["sweep_combinations"] * bars / vbt["sweep_s"], load_s=loaded))
    for r in out:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
