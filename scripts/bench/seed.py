#!/usr/bin/env python3
"""Signed-in users for the HTTP benchmark, written straight into the store as SQL.

    seed.py sqlite|postgres COUNT TOKENS_FILE > seed.sql

Each user `bench-N@bench.invalid` gets the customer role, a paper account with 1,000,000,000 USD
(so a run of market buys never runs out of buying power) and a live passkey session. Only
SHA-256(token) is stored, as Raptor stores it; the tokens (the `raptor_session` cookie values)
go to TOKENS_FILE, one a line, in user order.

The script also lifts the order submission limit (200 a minute per account) for the benchmark
database only: a trigger takes a window's count back to 1 whenever an account's count passes
100, so every submission still pays for counting and the limit never refuses one. Without it a
10 s run at the aimed rate would be mostly 429s.
"""
import hashlib
import secrets
import sys
from datetime import datetime, timedelta, timezone

dialect, count, tokens_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
now = datetime.now(timezone.utc)
stamp = lambda t: f"'{t.isoformat(timespec='microseconds')}'"
blob = (lambda b: f"X'{b.hex()}'") if dialect == "sqlite" else (lambda b: f"'\\x{b.hex()}'::bytea")
cash = "'1000000000.00000000'"

out = ["BEGIN;"]
tokens = []
for i in range(count):
    email = f"'bench-{i}@bench.invalid'"
    token = secrets.token_urlsafe(32)
    tokens.append(token)
    digest = hashlib.sha256(token.encode()).digest()
    out += [
        "INSERT INTO users (email, display_name, user_handle, status, email_undeliverable, created_at, updated_at) "
        f"VALUES ({email}, 'Bench {i}', {blob(secrets.token_bytes(16))}, 'active', FALSE, {stamp(now)}, {stamp(now)});",
        "INSERT INTO user_roles (user_id, role_id, granted_at) "
        f"SELECT u.id, r.id, {stamp(now)} FROM users u, roles r WHERE u.email = {email} AND r.name = 'customer';",
        "INSERT INTO paper_accounts (user_id, currency, cash, starting_cash, created_at, updated_at) "
        f"SELECT id, 'USD', {cash}, {cash}, {stamp(now)}, {stamp(now)} FROM users WHERE email = {email};",
        "INSERT INTO sessions (token_hash, user_id, auth_method, created_at, last_seen_at, expires_at, authenticated_at) "
        f"SELECT {blob(digest)}, id, 'passkey', {stamp(now)}, {stamp(now)}, {stamp(now + timedelta(days=13))}, {stamp(now)} "
        f"FROM users WHERE email = {email};",
    ]
if dialect == "sqlite":
    out.append(
        "CREATE TRIGGER bench_lift_order_limit AFTER UPDATE OF count ON rate_limits "
        "WHEN NEW.key LIKE 'orders:account:%' AND NEW.count > 100 BEGIN "
        "UPDATE rate_limits SET count = 1 WHERE key = NEW.key AND window_start = NEW.window_start; END;"
    )
else:
    out += [
        "CREATE FUNCTION bench_lift_order_limit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.key LIKE 'orders:account:%' AND NEW.count > 100 THEN NEW.count := 1; END IF; "
        "RETURN NEW; END $$;",
        "CREATE TRIGGER bench_lift_order_limit BEFORE UPDATE ON rate_limits "
        "FOR EACH ROW EXECUTE FUNCTION bench_lift_order_limit();",
    ]
out.append("COMMIT;")
print("\n".join(out))
with open(tokens_path, "w") as f:
    f.write("\n".join(tokens) + "\n")
