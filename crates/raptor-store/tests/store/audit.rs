//! The audit log's hash chain on both dialects: rows link to the row before them, the database
//! itself refuses UPDATE and DELETE, and `verify` names the first row that was edited, deleted
//! or forged by someone writing to the database directly (the owner, triggers bypassed).

use chrono::{DateTime, Duration, TimeZone, Utc};
use raptor_store::audit::{self, AuditEvent, Verification, GENESIS};
use raptor_store::migrate::Migrator;
use raptor_store::Dialect;
use raptor_testdb::{dual_test, TestDb};
use serde_json::json;

fn t0() -> DateTime<Utc> {
    // Nanoseconds on purpose: the chain keeps microseconds on both dialects.
    Utc.with_ymd_and_hms(2026, 12, 2, 9, 30, 0).unwrap() + Duration::nanoseconds(123_456_789)
}

fn event(n: i64) -> AuditEvent {
    AuditEvent {
        actor_user_id: Some(n),
        actor_email: Some(format!("user{n}@example.com")),
        actor_type: "admin",
        action: if n % 2 == 0 {
            "role.grant"
        } else {
            "customer.suspend"
        },
        target_type: Some("user"),
        target_id: Some((100 + n).to_string()),
        outcome: "success",
        ip: Some("203.0.113.7".into()),
        user_agent: Some("test\nagent ✓".into()),
        session_id: Some(n),
        // Keys out of order, nested, with numbers of both kinds: JSONB reorders them.
        details: Some(
            json!({ "zeta": 1, "alpha": { "y": [1.5, -0.0, 1e-7, null, "x"], "b": true } }),
        ),
        request_id: Some(format!("req-{n}")),
    }
}

/// Records `n` events, one transaction each, a second apart.
async fn record(t: &TestDb, n: i64) {
    for i in 1..=n {
        audit::record_alone(t.db(), &event(i), t0() + Duration::seconds(i))
            .await
            .expect("record");
    }
}

async fn verify(t: &TestDb) -> Verification {
    audit::verify(t.db()).await.expect("verify")
}

/// The id of the first bad row and the reason, or a panic naming what verify said.
async fn broken(t: &TestDb) -> (i64, String) {
    let found = verify(t).await;
    let Some(broken) = found.broken.clone() else {
        panic!("the chain verified: {found:?}");
    };
    (broken.id, broken.reason)
}

async fn hash_of(t: &TestDb, id: i64) -> String {
    audit::search(
        t.db(),
        &audit::AuditFilter {
            after_id: Some(id - 1),
            ..Default::default()
        },
        audit::Order::OldestFirst,
        1,
    )
    .await
    .expect("search")[0]
        .row_hash
        .clone()
        .expect("chained")
}

dual_test!(
    each_row_links_to_the_one_before_and_the_log_verifies,
    Head,
    |t| {
        assert_eq!(verify(t).await, Verification::default(), "an empty log");
        record(t, 3).await;
        let found = verify(t).await;
        assert!(found.is_intact(), "{found:?}");
        assert_eq!((found.rows, found.chained, found.unchained), (3, 3, 0));
        assert_eq!(found.first_chained_id, Some(1));
        let entries = audit::recent(t.db(), None, 10).await.expect("recent");
        let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, [3, 2, 1]);
        assert_eq!(entries[2].prev_hash.as_deref(), Some(GENESIS));
        assert_eq!(entries[1].prev_hash, entries[2].row_hash);
        assert_eq!(entries[0].prev_hash, entries[1].row_hash);
        assert_eq!(
            found.head,
            Some((3, entries[0].row_hash.clone().expect("hash")))
        );
        // Stored to the microsecond, so what is read back is what was hashed.
        assert_eq!(
            entries[2].created_at.timestamp_subsec_nanos(),
            123_456_000,
            "{:?}",
            entries[2].created_at
        );
    }
);

dual_test!(
    the_database_refuses_updates_and_deletes_even_from_the_owner,
    Head,
    |t| {
        record(t, 2).await;
        for sql in [
            "UPDATE audit_log SET action = 'nothing.happened' WHERE id = 1",
            "DELETE FROM audit_log WHERE id = 2",
            "DELETE FROM audit_log",
        ] {
            let refused = t.try_execute(sql).await.expect_err(sql);
            assert!(
                refused.contains("audit_log is append-only"),
                "{sql}: {refused}"
            );
        }
        if t.dialect() == Dialect::Postgres {
            let refused = t
                .try_execute("TRUNCATE audit_log")
                .await
                .expect_err("truncate");
            assert!(
                refused.contains("append-only: TRUNCATE refused"),
                "{refused}"
            );
        }
        assert_eq!(t.scalar("SELECT count(*) FROM audit_log").await, 2);
        assert!(verify(t).await.is_intact());
    }
);

dual_test!(verify_names_an_edited_row, Head, |t| {
    record(t, 4).await;
    t.execute_bypassing_triggers(
        "audit_log",
        "UPDATE audit_log SET action = 'role.revoke' WHERE id = 2",
    )
    .await;
    let (id, reason) = broken(t).await;
    assert_eq!(id, 2);
    assert!(reason.contains("edited"), "{reason}");
    let found = verify(t).await;
    assert_eq!((found.rows, found.chained), (2, 1), "{found:?}");
    assert_eq!(found.head.map(|(id, _)| id), Some(1));
});

dual_test!(verify_names_the_row_after_a_deleted_one, Head, |t| {
    record(t, 4).await;
    t.execute_bypassing_triggers("audit_log", "DELETE FROM audit_log WHERE id = 2")
        .await;
    let (id, reason) = broken(t).await;
    assert_eq!(id, 3);
    assert!(reason.contains("row 1"), "{reason}");
    assert!(reason.contains("ids 2 to 2 are missing"), "{reason}");
});

dual_test!(verify_names_a_forged_row_with_made_up_hashes, Head, |t| {
    record(t, 3).await;
    // Linked to the real last hash, so only its own hash gives it away.
    let last = hash_of(t, 3).await;
    t.execute(&format!(
        "INSERT INTO audit_log (id, created_at, actor_type, action, outcome, prev_hash, row_hash) \
         VALUES (4, '2026-12-02T10:00:00Z', 'admin', 'role.grant', 'success', '{last}', '{}')",
        "ab".repeat(32)
    ))
    .await;
    let (id, reason) = broken(t).await;
    assert_eq!(id, 4);
    assert!(reason.contains("does not match its contents"), "{reason}");
});

dual_test!(verify_names_a_row_inserted_outside_the_writer, Head, |t| {
    record(t, 2).await;
    t.execute(
        "INSERT INTO audit_log (id, created_at, actor_type, action, outcome) \
         VALUES (3, '2026-12-02T10:00:00Z', 'admin', 'role.grant', 'success')",
    )
    .await;
    // The writer goes on after it, but the forged row stays in the chain's way.
    record(t, 1).await;
    let (id, reason) = broken(t).await;
    assert_eq!(id, 3);
    assert!(reason.contains("outside Raptor's audit writer"), "{reason}");
});

dual_test!(
    rows_from_before_the_chain_are_an_unchained_prefix,
    Empty,
    |t| {
        // A log written before revision 0006, then upgraded: its rows keep no hashes.
        let migrator = Migrator::embedded();
        migrator
            .upgrade(t.db(), "0005_job_queue_leases")
            .await
            .expect("upgrade to 0005");
        for day in 1..=2 {
            t.execute(&format!(
                "INSERT INTO audit_log (created_at, actor_type, action, outcome) \
                 VALUES ('2026-11-0{day}T10:00:00Z', 'user', 'auth.login', 'success')"
            ))
            .await;
        }
        migrator
            .upgrade(t.db(), "head")
            .await
            .expect("upgrade to head");
        record(t, 2).await;
        let found = verify(t).await;
        assert!(found.is_intact(), "{found:?}");
        assert_eq!((found.unchained, found.chained), (2, 2));
        assert_eq!(found.first_chained_id, Some(3));
        assert_eq!(
            audit::recent(t.db(), None, 10).await.expect("recent")[1]
                .prev_hash
                .as_deref(),
            Some(GENESIS)
        );
        // Deleting the first chained row shows: the next one no longer starts from genesis.
        t.execute_bypassing_triggers("audit_log", "DELETE FROM audit_log WHERE id = 3")
            .await;
        let (id, reason) = broken(t).await;
        assert_eq!(id, 4);
        assert!(reason.contains("genesis"), "{reason}");
    }
);

dual_test!(
    concurrent_writers_on_separate_pools_make_one_chain,
    Head,
    |t| {
        // Each task has a pool of its own, as each `raptor serve` process does.
        let mut tasks = Vec::new();
        for worker in 0..6 {
            let db = t.connect_again().await;
            tasks.push(tokio::spawn(async move {
                for i in 0..5 {
                    let n = worker * 10 + i;
                    audit::record_alone(&db, &event(n), t0() + Duration::milliseconds(n))
                        .await
                        .expect("record");
                }
                db.close().await;
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let found = verify(t).await;
        assert!(found.is_intact(), "{found:?}");
        assert_eq!(found.chained, 30);
        assert_eq!(found.head.map(|(id, _)| id), Some(30));
    }
);
