//! `raptor db copy` both ways between SQLite and PostgreSQL, with real data: after each copy
//! the same passkey signs in against a server over the copy.

use crate::common::{raptor, stderr, stdout};
use chrono::{Duration, Utc};
use raptor_testkit::{accounts, Dialect, SoftAuthenticator, Start, TestApp, TestDb};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_sqlite_to_postgres_and_back_and_the_same_passkey_signs_in() {
    let sqlite = TestDb::create(Dialect::Sqlite, Start::Head).await;
    let app = TestApp::spawn(sqlite.db().clone()).await;
    let mut ada = app.browser();
    let mut key = SoftAuthenticator::new(app.origin());
    assert_eq!(
        key.sign_up(&mut ada, "ada@example.com", None).await.status,
        200
    );
    sqlite
        .put_prices("AAPL", &[(Utc::now() - Duration::minutes(1), 123.45)])
        .await;
    let order = ada.post("/api/orders", json!({ "symbol": "AAPL", "qty": "2.5", "side": "buy", "type": "market", "time_in_force": "day" })).await;
    assert_eq!(order.status, 201, "{:?}", order.body);
    let mut root = accounts::admin(&app, sqlite.db(), "root@example.com").await;
    let snapshot = json!({ "vendor": "alpaca", "amount": "99.10", "period_start": "2026-10-01T00:00:00Z", "period_end": "2026-11-01T00:00:00Z", "details": { "plan": "free" } });
    assert_eq!(
        root.post("/api/billing/snapshots", snapshot).await.status,
        201
    );
    let cash_before = ada.get("/api/account").await.body["cash"].clone();

    let postgres = TestDb::create(Dialect::Postgres, Start::Head).await;
    let out = raptor()
        .run(&["db", "copy", "--from", sqlite.url(), "--to", postgres.url()])
        .await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("VERIFIED"), "{}", stdout(&out));
    for table in [
        "users",
        "webauthn_credentials",
        "paper_orders",
        "paper_fills",
        "positions",
        "audit_log",
        "historical_bars",
    ] {
        let sql = format!("SELECT count(*) FROM {table}");
        assert_eq!(
            postgres.scalar(&sql).await,
            sqlite.scalar(&sql).await,
            "{table}"
        );
    }

    // The copy serves the same account, exactly: same passkey, same cash, new ids keep going.
    let on_postgres = app.spawn_sibling(postgres.db().clone()).await;
    let mut ada_pg = on_postgres.browser();
    assert_eq!(
        key.sign_in(&mut ada_pg, "ada@example.com").await.status,
        200
    );
    assert_eq!(ada_pg.get("/api/account").await.body["cash"], cash_before);
    assert_eq!(ada_pg.get("/api/positions").await.body[0]["qty"], "2.5");
    let mut grace = on_postgres.browser();
    assert_eq!(
        SoftAuthenticator::new(on_postgres.origin())
            .sign_up(&mut grace, "grace@example.com", None)
            .await
            .status,
        200
    );

    // And back: Postgres → a fresh SQLite, for a rollback after launch.
    let back = TestDb::create(Dialect::Sqlite, Start::Head).await;
    let out = raptor()
        .run(&[
            "db",
            "copy",
            "--from",
            postgres.url(),
            "--to",
            back.url(),
            "--json",
        ])
        .await;
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let report = crate::common::json(&out);
    assert_eq!(report["verified"], true);
    let on_back = app.spawn_sibling(back.db().clone()).await;
    let mut ada_back = on_back.browser();
    assert_eq!(
        key.sign_in(&mut ada_back, "ada@example.com").await.status,
        200
    );
    assert_eq!(ada_back.get("/api/account").await.body["cash"], cash_before);
    assert_eq!(back.scalar("SELECT count(*) FROM users").await, 3);

    for app in [app, on_postgres, on_back] {
        app.stop().await;
    }
    for db in [sqlite, postgres, back] {
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_are_refused_across_revisions_and_onto_data_and_differences_are_reported() {
    let source = TestDb::create(Dialect::Sqlite, Start::Head).await;
    source.put_prices("AAPL", &[(Utc::now(), 10.0)]).await;
    let empty = TestDb::create(Dialect::Postgres, Start::Empty).await;
    let out = raptor()
        .run(&["db", "copy", "--from", source.url(), "--to", empty.url()])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("raptor db upgrade head"),
        "{}",
        stderr(&out)
    );

    let target = TestDb::create(Dialect::Postgres, Start::Head).await;
    assert!(raptor()
        .run(&["db", "copy", "--from", source.url(), "--to", target.url()])
        .await
        .status
        .success());
    let again = raptor()
        .run(&["db", "copy", "--from", source.url(), "--to", target.url()])
        .await;
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("historical_bars=1") && stderr(&again).contains("--truncate"),
        "{}",
        stderr(&again)
    );
    assert!(raptor()
        .run(&[
            "db",
            "copy",
            "--from",
            source.url(),
            "--to",
            target.url(),
            "--truncate"
        ])
        .await
        .status
        .success());

    target
        .execute("UPDATE historical_bars SET close = 11")
        .await;
    let verify = raptor()
        .run(&[
            "db",
            "copy",
            "--from",
            source.url(),
            "--to",
            target.url(),
            "--verify-only",
        ])
        .await;
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        stdout(&verify).contains("historical_bars") && stdout(&verify).contains("CONTENT DIFFERS"),
        "{}",
        stdout(&verify)
    );
    for db in [source, empty, target] {
        db.finish().await;
    }
}
