#!/usr/bin/env python3
"""Sequential GETs over one keep-alive connection; prints p50/p99/mean in milliseconds."""
import http.client
import statistics
import sys
import time

host, port, path, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
conn = http.client.HTTPConnection(host, port)
samples = []
for i in range(count + 20):
    start = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status >= 500:
        sys.exit(f"{path}: HTTP {response.status}: {body[:200]!r}")
    if i >= 20:  # warm-up
        samples.append(elapsed)
samples.sort()
p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
print(f"p50={p(0.50):.3f} p99={p(0.99):.3f} mean={statistics.mean(samples):.3f} bytes={len(body)}")
