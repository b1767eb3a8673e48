//! `raptor audit verify` as an operator runs it: a clean log passes with its head, and a row
//! edited, deleted or forged by the database owner (triggers bypassed) fails with exit 2 and
//! names the first bad row, on both dialects; the chain survives `raptor db copy` both ways.

use chrono::{Duration, TimeZone, Utc};
use raptor_store::audit::{self, AuditEvent};
use raptor_store::Db;
use raptor_testkit::{dual_test, Dialect, Start, TestDb};
use serde_json::json;

use crate::common::{json as json_out, raptor, stderr, stdout, text};

/// Records `n` audited events on `db`, numbered from `first`.
async fn record(db: &Db, first: i64, n: i64) {
    for i in first..first + n {
        let event = AuditEvent {
            actor_user_id: Some(1),
            actor_email: Some("root@example.com".into()),
            actor_type: "admin",
            action: "role.grant",
            target_type: Some("user"),
            target_id: Some(i.to_string()),
            outcome: "success",
            ip: Some("198.51.100.4".into()),
            details: Some(json!({ "role": "support", "n": i, "via": { "cli": false } })),
            request_id: Some(format!("req-{i}")),
            ..AuditEvent::default()
        };
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap()
            + Duration::microseconds(1_000_001 * i);
        audit::record_alone(db, &event, at).await.expect("record");
    }
}

async fn verify(t: &TestDb, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    raptor().database(t.url()).run(&args).await
}

/// Runs verify and checks it failed with exit 2, naming `id` as the first bad row.
async fn assert_broken_at(t: &TestDb, id: i64, why: &str) {
    let out = verify(t, &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = stdout(&out);
    assert!(
        said.contains(&format!("audit log BROKEN at row {id}: ")),
        "{said}"
    );
    assert!(said.contains(why), "{said}");
    let report = json_out(&verify(t, &["--json"]).await);
    assert_eq!(report["intact"], false);
    assert_eq!(report["broken"]["id"], id);
}

dual_test!(
    a_clean_log_verifies_and_an_anchor_catches_a_cut_tail,
    Head,
    |t| {
        record(t.db(), 1, 3).await;
        let out = verify(t, &[]).await;
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            stdout(&out).contains("audit log intact: 3 rows, 3 chained (from id 1)"),
            "{}",
            stdout(&out)
        );
        let report = json_out(&verify(t, &["--json"]).await);
        assert_eq!(report["intact"], true);
        assert_eq!(report["chained"], 3);
        assert_eq!(report["head"]["id"], 3);
        let anchor = format!("3:{}", report["head"]["row_hash"].as_str().expect("hash"));
        assert!(verify(t, &["--anchor", &anchor]).await.status.success());

        // Cutting the last row leaves a shorter chain that links up: only the anchor shows it.
        t.execute_bypassing_triggers("audit_log", "DELETE FROM audit_log WHERE id = 3")
            .await;
        assert!(verify(t, &[]).await.status.success());
        let out = verify(t, &["--anchor", &anchor]).await;
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            stdout(&out).contains("BROKEN at row 3: the anchor's row is gone"),
            "{}",
            stdout(&out)
        );

        let out = verify(t, &["--anchor", "3:nothex"]).await;
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("is not an anchor like"),
            "{}",
            stderr(&out)
        );
    }
);

dual_test!(verify_names_an_edited_row, Head, |t| {
    record(t.db(), 1, 4).await;
    t.execute_bypassing_triggers(
        "audit_log",
        "UPDATE audit_log SET action = 'role.revoke' WHERE id = 3",
    )
    .await;
    assert_broken_at(t, 3, "does not match its contents").await;
});

dual_test!(verify_names_the_row_after_a_deleted_one, Head, |t| {
    record(t.db(), 1, 4).await;
    t.execute_bypassing_triggers("audit_log", "DELETE FROM audit_log WHERE id = 2")
        .await;
    assert_broken_at(t, 3, "does not match the hash of row 1").await;
});

dual_test!(verify_names_a_forged_row, Head, |t| {
    record(t.db(), 1, 2).await;
    // An insert that bypasses the writer, with a plausible but made-up link and hash.
    t.execute(&format!(
        "INSERT INTO audit_log (id, created_at, actor_type, action, outcome, prev_hash, row_hash) \
         VALUES (3, '2026-12-01T09:00:00Z', 'admin', 'role.grant', 'success', '{}', '{}')",
        "0".repeat(64),
        "f".repeat(64)
    ))
    .await;
    record(t.db(), 3, 1).await;
    assert_broken_at(t, 3, "does not match the hash of row 2").await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_survives_copies_from_sqlite_to_postgres_and_back() {
    let sqlite = TestDb::create(Dialect::Sqlite, Start::Head).await;
    record(sqlite.db(), 1, 5).await;
    let postgres = TestDb::create(Dialect::Postgres, Start::Head).await;
    let out = raptor()
        .run(&["db", "copy", "--from", sqlite.url(), "--to", postgres.url()])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let on_sqlite = json_out(&verify(&sqlite, &["--json"]).await);
    let on_postgres = json_out(&verify(&postgres, &["--json"]).await);
    assert_eq!(on_postgres["intact"], true, "{on_postgres}");
    assert_eq!(on_postgres["head"], on_sqlite["head"]);

    // The chain goes on on PostgreSQL, then comes back to a fresh SQLite whole.
    record(postgres.db(), 6, 2).await;
    let back = TestDb::create(Dialect::Sqlite, Start::Head).await;
    let out = raptor()
        .run(&["db", "copy", "--from", postgres.url(), "--to", back.url()])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let on_back = json_out(&verify(&back, &["--json"]).await);
    assert_eq!(on_back["intact"], true, "{on_back}");
    assert_eq!(on_back["chained"], 7);
    assert_eq!(
        on_back["head"],
        json_out(&verify(&postgres, &["--json"]).await)["head"]
    );
    record(back.db(), 8, 1).await;
    assert!(verify(&back, &[]).await.status.success());

    // --truncate cannot replace an audit log, which nothing may delete: said before it starts.
    let out = raptor()
        .run(&[
            "db",
            "copy",
            "--from",
            sqlite.url(),
            "--to",
            back.url(),
            "--truncate",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("audit_log holds 8 rows and the audit log is append-only"),
        "{}",
        stderr(&out)
    );
    assert_eq!(back.scalar("SELECT count(*) FROM audit_log").await, 8);
    for db in [sqlite, postgres, back] {
        db.finish().await;
    }
}
