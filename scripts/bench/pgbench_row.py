#!/usr/bin/env python3
"""One benchmark row (JSON) from a pgbench run with `-l` in WORK: the rate, and p50 and p99
from the per-transaction log.

    pgbench_row.py WORK ROUTE
"""
import glob
import json
import re
import sys

work, route = sys.argv[1], sys.argv[2]
text = open(f"{work}/pgbench.txt").read()
# Each log line: client, transaction, latency in µs (or "failed"), ...
fields = [line.split() for path in glob.glob(f"{work}/pgbench_log.*") for line in open(path)]
latencies = sorted(int(f[2]) for f in fields if len(f) > 2 and f[2].isdigit())
if not latencies:
    sys.exit(f"pgbench logged no transaction:\n{text}")
seconds = float(re.search(r"duration: (\d+) s", text).group(1))
failed = re.search(r"number of failed transactions: (\d+)", text)


def percentile(q):
    return latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1000


print(json.dumps({"target": "ceiling", "route": route, "ceiling_route": None, "rss_mb": None,
                  "requests": len(latencies), "seconds": seconds, "rps": len(latencies) / seconds,
                  "p50_ms": percentile(0.5), "p99_ms": percentile(0.99),
                  "non_2xx": int(failed.group(1)) if failed else 0, "socket_errors": 0}))
