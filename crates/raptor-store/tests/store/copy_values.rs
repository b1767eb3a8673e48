//! `copy` carries awkward values exactly: PostgreSQL → SQLite (multi-row INSERTs) → PostgreSQL
//! (`COPY` text format) gives back every row unchanged, byte for byte, and the copies verify.

use raptor_store::copy::{self, CopyOptions};
use raptor_testdb::{Dialect, Start, TestDb};

/// Rows whose values trip naive copies: text needing COPY escapes (tab, newline, CR, backslash,
/// a literal `\N`), unicode, bytes with NUL and backslash, a key above 2^53, floats without a
/// short decimal form, exact 28-digit decimals, microsecond times, JSON with escapes and NULLs
/// of every type.
const AWKWARD: &str = r#"
INSERT INTO users (id, email, display_name, user_handle, email_undeliverable, created_at, updated_at, last_login_at)
VALUES (9007199254740993, E'tab\there\nnew\rline\\back', E'\\N', '\x00ff5c0a095c4e'::bytea, TRUE,
        '2026-11-21 12:34:56.123456+00', '1970-01-01 00:00:00+00', NULL),
       (2, 'zoë@example.com', 'Zoë 名前 🚀', '\x01'::bytea, FALSE,
        '2026-03-08 07:00:00.000001+00', '2026-03-08 07:00:00+00', '2026-11-01 00:00:00.5+00');
INSERT INTO webauthn_credentials (user_id, credential_id, passkey, sign_count, backup_eligible, backup_state, aaguid, name, created_at)
VALUES (9007199254740993, '\x5c5c0a'::bytea,
        E'{"k": "tab\\there \\\\ \\"q\\" \\n é", "n": [1, 2.5, -3e-7], "nested": {"z": null}}',
        4294967297, TRUE, FALSE, NULL, E'my\tkey', '2026-11-21 12:00:00+00');
INSERT INTO historical_bars (symbol, timeframe, ts, open, high, low, close, volume, trade_count, vwap)
VALUES ('AAPL', '1Min', '2026-11-20 14:30:00+00', 0.30000000000000004, 1e-300, 123456789.12345679,
        1.7976931348623157e308, 5e-324, 9007199254740993, NULL),
       ('AAPL', '1Min', '2026-11-20 14:31:00+00', 0.1, 0.2, 0.1, 0.15, 0, NULL, 0.125);
INSERT INTO backtests (user_id, strategy, params, symbol, timeframe, period_start, period_end, initial_cash, status, created_at)
VALUES (2, 'sma_crossover', '{"fast": 20, "slow": 50}', 'AAPL', '1Min', '2026-01-01 00:00:00+00',
        '2026-02-01 00:00:00+00', 12345678901234567890.12345678, 'queued', '2026-11-21 00:00:00+00'),
       (2, 'buy_and_hold', '{}', 'MSFT', '1Day', '2026-01-01 00:00:00+00',
        '2026-02-01 00:00:00+00', 0.00000001, 'queued', '2026-11-21 00:00:00+00');
INSERT INTO trace_events (id, created_at, workflow_id, name, attributes)
VALUES (7, '2019-06-30 23:59:59.999999+00', 'wf', 'old', '{"a": [1, "x"]}'),
       (8, now(), 'wf', 'now', NULL);
"#;

/// A 60-bit fingerprint of a table's rows as PostgreSQL prints them.
fn fingerprint(table: &str) -> String {
    format!(
        "SELECT ('x' || substr(md5(string_agg(t::text, '|' ORDER BY t::text)), 1, 15))::bit(60)::bigint FROM {table} t"
    )
}

const TABLES: &[&str] = &[
    "trace_events",
    "users",
    "webauthn_credentials",
    "historical_bars",
    "backtests",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_values_survive_postgres_to_sqlite_to_postgres_exactly() {
    let source = TestDb::create(Dialect::Postgres, Start::Head).await;
    source.execute(AWKWARD).await;
    let middle = TestDb::create(Dialect::Sqlite, Start::Head).await;
    let back = TestDb::create(Dialect::Postgres, Start::Head).await;

    let counted = CopyOptions {
        count_first: true,
        ..CopyOptions::default()
    };
    let mut seen = Vec::new();
    let mut progress = |table: &str, rows: i64, total: i64| {
        if rows == total && table == "historical_bars" {
            seen.push(rows);
        }
    };
    for (from, to) in [(&source, &middle), (&middle, &back)] {
        let reports = copy::copy(from.db(), to.db(), counted, &mut progress)
            .await
            .expect("copy");
        assert!(
            reports.iter().all(|r| r.matches()),
            "{:?}",
            reports.iter().filter(|r| !r.matches()).collect::<Vec<_>>()
        );
        let users = reports.iter().find(|r| r.table == "users").expect("users");
        assert_eq!((users.source_rows, users.target_rows), (2, 2));
    }
    assert_eq!(seen, [2, 2], "progress reaches each table's total");

    for table in TABLES {
        let sql = fingerprint(table);
        assert_eq!(
            source.scalar(&sql).await,
            back.scalar(&sql).await,
            "{table} changed on the way"
        );
    }
    // The old trace row arrived through the DEFAULT partition and was given its month's.
    assert_eq!(
        back.scalar("SELECT count(*) FROM trace_events_p201906")
            .await,
        1
    );
    assert_eq!(
        back.scalar("SELECT count(*) FROM trace_events_default")
            .await,
        0
    );
    // The SQLite copy holds the same values in its own storage forms.
    assert_eq!(
        middle
            .scalar("SELECT count(*) FROM users WHERE id = 9007199254740993 AND email = 'tab\there\nnew\rline\\back' AND display_name = '\\N' AND hex(user_handle) = '00FF5C0A095C4E' AND email_undeliverable = 1")
            .await,
        1
    );
    assert_eq!(
        middle
            .scalar("SELECT count(*) FROM backtests WHERE initial_cash IN ('12345678901234567890.12345678', '0.00000001')")
            .await,
        2
    );
    // Identity sequences continue after the copied ids.
    back.execute("INSERT INTO users (email, display_name, user_handle, created_at, updated_at) VALUES ('new@example.com', 'New', '\\x02'::bytea, now(), now())")
        .await;
    assert!(
        back.scalar("SELECT id FROM users WHERE email = 'new@example.com'")
            .await
            > 9007199254740993
    );

    // A value changed after the copy is caught by verification, as is the added user.
    back.execute(
        "UPDATE webauthn_credentials SET passkey = jsonb_set(passkey, '{n,1}', '2.50001')",
    )
    .await;
    let reports = copy::verify(middle.db(), back.db()).await.expect("verify");
    let differing: Vec<&str> = reports
        .iter()
        .filter(|r| !r.matches())
        .map(|r| r.table.as_str())
        .collect();
    assert_eq!(differing, ["users", "webauthn_credentials"]);

    for db in [source, middle, back] {
        db.finish().await;
    }
}

/// A table large enough to be verified as two halves of its heap read at once: every row is
/// counted once, and a change in either half is caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_table_verifies_in_halves_and_a_change_in_either_half_is_caught() {
    let source = TestDb::create(Dialect::Postgres, Start::Head).await;
    source
        .execute(
            "INSERT INTO historical_bars (symbol, timeframe, ts, open, high, low, close, volume) \
             SELECT 'AAPL', '1Min', timestamptz '2020-01-01 00:00:00+00' + g * interval '1 minute', \
                    g, g + 1, g - 1, g + 0.5, 100 FROM generate_series(1, 40000) g",
        )
        .await;
    let pages = source
        .scalar("SELECT pg_relation_size('historical_bars') / 8192")
        .await;
    assert!(
        pages >= 256,
        "only {pages} pages: the table must be read in halves"
    );
    let target = TestDb::create(Dialect::Postgres, Start::Head).await;
    let mut progress = |_: &str, _: i64, _: i64| {};
    let reports = copy::copy(
        source.db(),
        target.db(),
        CopyOptions::default(),
        &mut progress,
    )
    .await
    .expect("copy");
    let bars = reports
        .iter()
        .find(|r| r.table == "historical_bars")
        .expect("bars");
    assert!(bars.matches(), "{bars:?}");
    assert_eq!(bars.target_rows, 40000);

    let bars_differ = |reports: Vec<copy::TableReport>| {
        reports
            .into_iter()
            .find(|r| r.table == "historical_bars")
            .is_some_and(|r| !r.matches())
    };
    let replace = CopyOptions {
        truncate: true,
        ..CopyOptions::default()
    };
    for change in [
        // The first row written sits at the start of the heap (the lower half), the last one
        // at its end (the upper half); an update writes a new row version.
        "DELETE FROM historical_bars WHERE ts = timestamptz '2020-01-01 00:01:00+00'",
        "DELETE FROM historical_bars WHERE ts = (SELECT max(ts) FROM historical_bars)",
        "UPDATE historical_bars SET close = close + 1e-9 WHERE ts = timestamptz '2020-01-01 00:02:00+00'",
    ] {
        let fresh = copy::copy(source.db(), target.db(), replace, &mut progress)
            .await
            .expect("copy again");
        assert!(!bars_differ(fresh), "a fresh copy verifies");
        target.execute(change).await;
        let reports = copy::verify(source.db(), target.db()).await.expect("verify");
        assert!(bars_differ(reports), "not caught: {change}");
    }
    for db in [source, target] {
        db.finish().await;
    }
}

/// SQLite keeps whatever it is given (here a Unix time, which its TEXT column turns into
/// digits); a value that is not of its column's type is refused by name, and the target is
/// left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_of_the_wrong_type_stops_the_copy_and_nothing_is_written() {
    let source = TestDb::create(Dialect::Sqlite, Start::Head).await;
    source
        .execute(
            "INSERT INTO users (email, display_name, user_handle, created_at, updated_at) \
             VALUES ('a@example.com', 'A', x'01', '2026-01-01T00:00:00+00:00', 1700000000)",
        )
        .await;
    let target = TestDb::create(Dialect::Postgres, Start::Head).await;
    let mut progress = |_: &str, _: i64, _: i64| {};
    let err = copy::copy(
        source.db(),
        target.db(),
        CopyOptions::default(),
        &mut progress,
    )
    .await
    .expect_err("refused");
    let message = err.to_string();
    assert!(
        message.contains("users")
            && message.contains("updated_at")
            && message.contains("not Timestamp"),
        "{message}"
    );
    assert!(
        !message.contains("1700000000"),
        "values stay out of messages: {message}"
    );
    assert_eq!(target.scalar("SELECT count(*) FROM users").await, 0);
    assert_eq!(target.scalar("SELECT count(*) FROM symbols").await, 20);
    for db in [source, target] {
        db.finish().await;
    }
}
