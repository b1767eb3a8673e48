#!/usr/bin/env python3
"""The warm row of scripts/bench/backtest: one SMA 20/50 backtest over every stored AAPL minute
bar through a running `raptor serve`, asked for once (queued: a worker loads the bars and keeps
them) and then RUNS more times, each answered inline from the bars the server holds. Prints
JSON: the queued run's seconds from request to result (polled every 50 ms), and each inline
run's seconds from request to answer.

    warm.py BASE_URL SESSION_TOKEN [RUNS]
"""
import json
import sys
import time
import urllib.request

base, token = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
headers = {"Cookie": f"raptor_session={token}", "Origin": base, "Content-Type": "application/json"}
body = json.dumps({"symbol": "AAPL", "timeframe": "1Min", "start": "1990-01-01T00:00:00Z",
                   "end": "2100-01-01T00:00:00Z", "strategy": {"type": "sma_crossover", "fast": 20, "slow": 50}}).encode()


def call(method, path, data=None):
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=120) as reply:
        return reply.status, json.load(reply)


started = time.perf_counter()
status, queued = call("POST", "/api/backtests", body)
if status != 202:
    sys.exit(f"the first run answered {status}, not 202 (queued): {queued}")
while True:
    _, run = call("GET", f"/api/backtests/{queued['id']}")
    if run["status"] not in ("queued", "running"):
        break
    time.sleep(0.05)
if run["status"] != "succeeded":
    sys.exit(f"the queued run ended {run['status']}: {run.get('error')}")
queued_s = time.perf_counter() - started
inline = []
for _ in range(runs):
    started = time.perf_counter()
    status, answer = call("POST", "/api/backtests", body)
    inline.append(time.perf_counter() - started)
    if status != 201 or answer["metrics"]["total_return"] != run["metrics"]["total_return"]:
        sys.exit(f"an inline run answered {status}, or another result: {answer.get('metrics')}")
print(json.dumps({"queued_s": queued_s, "inline_s": inline, "bars": answer["bars_processed"],
                  "engine_ms": [answer["elapsed_ms"]]}))
