#!/usr/bin/env python3
"""A pgbench script of the statements PostgreSQL logged for one Raptor request.

    pgbench_from_log.py LOG DATABASE ACCOUNT_ID ACCOUNTS > request.pgb
    pgbench -n -M prepared -c 10 -j 2 -T 10 -f request.pgb DATABASE_URL

LOG is PostgreSQL's server log with `log_min_duration_statement = 0` for DATABASE (so each
statement and its parameters are logged; lines are told apart by the `user@database` of the
default Debian `log_line_prefix`), written while a `raptor serve` with no workers
(`RAPTOR_WORKER_CONCURRENCY=0 RAPTOR_BACKTEST_CONCURRENCY=0`) answered requests of the
account ACCOUNT_ID (whose user has the same id, as in the benchmark's seed). The script
replays the last request: every statement from its session read on, in order, but for those
a steady stream of requests does not run (see ONCE_IN_A_WHILE), each time for one of the
accounts 1 to ACCOUNTS.

The replay runs PostgreSQL's share of the request with nothing else in the way (no HTTP, no
Raptor), so its rate is the ceiling the database puts on that route on this machine. Values
are made to repeat safely: the account becomes a random one, the order id comes from the
order's own INSERT, client order ids are random, and each time keeps its distance from the
moment of the request (the session read's "now"), so a replay finds what the request found.
"""
import re
import sys
from datetime import datetime

log_path, database, account, accounts = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
STATEMENT = re.compile(r"(?:execute [A-Za-z_0-9<>]+|statement): (.*)$")
PARAMETER = re.compile(r"\$(\d+) = (NULL|'((?:[^']|'')*)')")

statements = []
marker = f"@{database} "
lines = [line for line in open(log_path, errors="replace").read().splitlines() if marker in line]
for i, line in enumerate(lines):
    found = STATEMENT.search(line)
    if not found or "duration:" not in line:
        continue
    params = {}
    if i + 1 < len(lines) and "DETAIL:  parameters:" in lines[i + 1]:
        for p in PARAMETER.finditer(lines[i + 1].split("parameters: ", 1)[1]):
            params[int(p.group(1))] = None if p.group(2) == "NULL" else p.group(3).replace("''", "'")
    statements.append((found.group(1), params))

sessions = [i for i, (sql, _) in enumerate(statements) if "FROM sessions s JOIN users" in sql]
if not sessions:
    sys.exit("no signed-in request in the log: is log_min_duration_statement 0?")
# Left out: a session's last-seen write (once a minute), a symbol's latest bar (read once per
# process and bars version), a user's account id and first order's onboarding step (each once
# per process and user): a steady stream of requests does not run them.
ONCE_IN_A_WHILE = (
    "UPDATE sessions SET last_seen_at",
    "SELECT ts, open, high, low, close",
    "SELECT id, user_id, currency, cash, starting_cash FROM paper_accounts WHERE user_id",
    "INSERT INTO onboarding_progress",
)
request = [s for s in statements[sessions[-1]:] if not s[0].startswith(ONCE_IN_A_WHILE)]
MOMENT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00")


def moment(text):
    return datetime.fromisoformat(text.replace("+00", "+00:00"))


# The session read binds now as $2.
request_now = moment(request[0][1][2])


def literal(text):
    """A SQL string literal that pgbench will not read a :variable in."""
    quoted = text.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\x3a")
    return f"E'{quoted}'"


def value(text, cast, sql):
    if text is None:
        return "NULL"
    if text == account:
        return f"(:aid)::{cast}"
    if text == f"orders:account:{account}":
        return f"{literal('orders:account:')} || (:aid)::text"
    if MOMENT.fullmatch(text):
        if sql.startswith("INSERT INTO rate_limits"):
            return "date_trunc('minute', now())"
        offset = moment(text) - request_now
        micros = (offset.days * 86_400 + offset.seconds) * 1_000_000 + offset.microseconds
        return f"(now() + interval '{micros} microseconds')"
    if re.fullmatch(r"[A-Za-z0-9_-]{43}", text):
        return "md5(random()::text)"
    if text.startswith("\\x"):
        return f"'{text}'::bytea"
    return literal(text)


def named_order(sql, params):
    """The order id a statement after an order's INSERT names, if it names one."""
    if sql.startswith("INSERT INTO paper_fills"):
        return params.get(1)
    if sql.startswith("INSERT INTO trade_updates"):
        return params.get(2)
    return None


out = [f"\\set aid random(1, {accounts})"]
order_id = None
for i, (sql, params) in enumerate(request):

    def substitute(m):
        text = params.get(int(m.group(1)))
        if order_id is not None and text == order_id:
            return "(:id)::bigint"
        return value(text, "bigint", sql)

    line = re.sub(r"\$(\d+)", substitute, sql)
    if sql.startswith("INSERT INTO paper_orders"):
        # One order per request (the bench sends simple market orders): a bracket's legs would
        # each need an id of their own. From here on, the order's id (the first a fill or trade update after it names) is the
        # one this INSERT returns.
        later = (named_order(*s) for s in request[i + 1:])
        order_id = next((o for o in later if o is not None), None)
        out.append(line + " \\gset")
    else:
        out.append(line + ";")
print("\n".join(out))
