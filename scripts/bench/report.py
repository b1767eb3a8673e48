#!/usr/bin/env python3
"""The benchmarks' one table, from the JSON each benchmark script writes to target/bench/.

    report.py table FILE...             print the rows of these files as one table
    report.py results OUT FILE...       the same, and write OUT: the machine, the commit, the
                                        date, the sizes and every file's content (results.json)
    report.py markdown FILE             print results.json's table as Markdown (docs/benchmarks.md)
"""
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone

SIZES = ("BENCH_ROWS", "BENCH_COPY_ROWS", "BENCH_SECONDS", "BENCH_WARMUP", "BENCH_CONNECTIONS",
         "BENCH_THREADS", "BENCH_ACCOUNTS", "BENCH_RAPTOR_LOG")
HEADER = ("bench", "what", "target", "rate", "p50 ms", "p99 ms", "errors", "ceiling", "vs ceiling", "RSS MB",
          "CPU µs/req")


def count(n):
    return f"{n:,.0f}"


def cells(row):
    """One row of the table, as text."""
    if row["bench"] == "http":
        errors = row["non_2xx"] + row["socket_errors"]
        shown = str(errors)
        failed = {s: n for s, n in row.get("statuses", {}).items() if int(s) >= 400}
        if failed:
            shown += " (" + ", ".join(f"{s}: {n}" for s, n in sorted(failed.items())) + ")"
        if row["socket_errors"]:
            shown += f" ({row['socket_errors']} socket)"
        ceiling = ""
        if row["ceiling_route"]:
            ceiling = f"{row['ceiling_route']} {count(row['ceiling_rps'])} req/s"
        ratio = f"{row['ratio'] * 100:.1f}%" if row["ratio"] is not None else ""
        rate = f"{count(row['rps'])} req/s"
        if errors:
            rate += f" (2xx: {count((row['requests'] - row['non_2xx']) / row['seconds'])}/s)"
        return (row["bench"], row["route"], row["target"], rate,
                f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.2f}", shown, ceiling, ratio,
                "" if row["rss_mb"] is None
                else f"{row['rss_mb']:.0f}" if row["target"] != "ceiling" else f"({row['rss_mb']:.0f})",
                f"{row['cpu_us']:.1f}" if "cpu_us" in row else "")
    what = row["route"]
    if row["bench"] == "backtest":
        what += f" (engine {row['engine_ms']:.0f} ms)"
    return (row["bench"], what, row["target"], f"{count(row['rate'])} {row['unit']}", "", "", "",
            f"{row['ceiling']} {count(row['ceiling_rate'])} {row['unit']}", f"{row['ratio']:.2f}×", "", "")


def load_rows(paths):
    rows, notes = [], []
    for path in paths:
        data = json.load(open(path))
        http_ceilings = {r["route"]: r["rps"] for r in data["rows"] if r.get("target") == "ceiling"}
        for row in data["rows"]:
            if row["bench"] == "http" and row["ceiling_route"]:
                row["ceiling_rps"] = http_ceilings[row["ceiling_route"]]
            rows.append(row)
        for t in data.get("targets", []):
            serial = "holds" if t["serialised"] else "BROKEN"
            notes.append(f"http {t['target']}: {t.get('error_lines', 0)} ERROR lines in the server log, "
                         f"'database is locked' {t['database_is_locked']} times; "
                         f"one account's {t['one_account_filled']} filled orders vs its position "
                         f"{t['one_account_position']}: serialisation {serial}")
    return rows, notes


def table(rows, markdown=False):
    lines = [cells(r) for r in rows]
    if markdown:
        out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(x[i]) for x in [HEADER, *lines]) for i in range(len(HEADER))]
    fmt = lambda line: "  ".join(c.ljust(w) if i < 3 or i >= 6 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(line, widths))).rstrip()
    return "\n".join([fmt(HEADER), fmt(["-" * w for w in widths]), *map(fmt, lines)])


def machine():
    info = {"nproc": os.cpu_count(), "kernel": platform.release()}
    with open("/proc/meminfo") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    info["memory_gib"] = round(kb / 1024 / 1024, 1)
    with open("/proc/cpuinfo") as f:
        info["cpu"] = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")
    return info


def git_commit():
    run = lambda *args: subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()
    commit = run("rev-parse", "HEAD")
    return commit + ("-dirty" if run("status", "--porcelain", "--untracked-files=no") else "")


def main():
    mode = sys.argv[1]
    if mode == "markdown":
        data = json.load(open(sys.argv[2]))
        rows, notes = data["rows"], data["notes"]
        print(table(rows, markdown=True))
        print()
        for note in notes:
            print(f"- {note}")
        return
    out = sys.argv[2] if mode == "results" else None
    paths = sys.argv[3:] if out else sys.argv[2:]
    rows, notes = load_rows(paths)
    print(table(rows))
    for note in notes:
        print(note)
    if out:
        results = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "commit": git_commit(),
            "machine": machine(),
            "sizes": {k: os.environ[k] for k in SIZES if k in os.environ},
            "rows": rows,
            "notes": notes,
            "benches": {os.path.basename(p).removesuffix(".json"): json.load(open(p)) for p in paths},
        }
        with open(out, "w") as f:
            json.dump(results, f, indent=2)
        m = results["machine"]
        print(f"\n{m['cpu']}, {m['nproc']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}; "
              f"commit {results['commit'][:12]}; {results['date']}; written to {out}")


if __name__ == "__main__":
    main()
