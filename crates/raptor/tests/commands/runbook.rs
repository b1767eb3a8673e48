//! The cutover runbook, driven end to end on this machine: SQLite in service, pre-checks,
//! a PostgreSQL brought to head, a verified copy, role-separated serving, the smoke suite,
//! and the rollback copy back to SQLite with every row intact.

use crate::common::{public_url, raptor, serve, stdout, text};
use raptor_testkit::{Dialect, ServeProcess, Start, TestDb};

/// Issues a bootstrap token on `db` and runs the smoke suite against `server`.
async fn smoke(db: &str, server: &ServeProcess, expect: &str) {
    let token = stdout(
        &raptor()
            .database(db)
            .run(&["admin", "bootstrap-token"])
            .await,
    )
    .trim()
    .to_owned();
    let base = public_url(server);
    let out = raptor()
        .run(&[
            "smoke",
            "--base-url",
            &base,
            "--expect-db",
            expect,
            "--bootstrap-token",
            &token,
        ])
        .await;
    assert!(out.status.success(), "smoke on {expect}: {}", text(&out));
}

async fn emails(t: &TestDb) -> i64 {
    t.scalar("SELECT count(*) FROM users WHERE email LIKE 'smoke-%@example.com'")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_cutover_runbook_and_its_rollback() {
    // Raptor in service on SQLite (zero set-up: serve migrates the file), with data.
    let sqlite = TestDb::create(Dialect::Sqlite, Start::Empty).await;
    let sqlite_cli = raptor().database(sqlite.url());
    let on_sqlite = serve(sqlite.url(), &[], &[])
        .await
        .expect("serve on SQLite");
    assert!(sqlite_cli
        .run(&["bars", "demo", "--symbols", "AAPL", "--sessions", "1"])
        .await
        .status
        .success());
    smoke(sqlite.url(), &on_sqlite, "sqlite").await;
    assert!(on_sqlite.terminate().await.success());

    // Pre-checks on the new PostgreSQL: STOP until the schema is there, then every gate passes.
    let postgres = TestDb::create(Dialect::Postgres, Start::Empty).await;
    let postgres_cli = raptor().database(postgres.url());
    let gates = [
        "db",
        "check",
        "--expect-dialect",
        "postgresql",
        "--expect-empty",
        "--expect-head",
    ];
    assert_eq!(postgres_cli.run(&gates).await.status.code(), Some(1));
    let upgrade = postgres_cli.run(&["db", "upgrade", "head"]).await;
    assert!(upgrade.status.success(), "{}", text(&upgrade));
    let current = postgres_cli.run(&["db", "current"]).await;
    assert!(text(&current).contains("(head)"), "{}", text(&current));
    let checked = postgres_cli.run(&gates).await;
    assert!(checked.status.success(), "{}", text(&checked));

    // The cutover copy, verified.
    let copied = raptor()
        .run(&["db", "copy", "--from", sqlite.url(), "--to", postgres.url()])
        .await;
    assert!(
        copied.status.success() && text(&copied).contains("VERIFIED"),
        "{}",
        text(&copied)
    );

    // Role separation, then serving as the application role.
    let role = format!("raptor_app_rb{}", std::process::id());
    let applied = postgres_cli
        .run(&["db", "roles", "--app-role", &role, "--apply"])
        .await;
    let password = stdout(&applied)
        .lines()
        .find_map(|l| l.strip_prefix("Password (shown once): ").map(str::to_owned))
        .expect("a password");
    let mut app_url = url::Url::parse(postgres.url()).expect("url");
    app_url.set_username(&role).expect("user");
    app_url.set_password(Some(&password)).expect("password");
    let app_url = app_url.to_string();
    assert!(postgres_cli
        .run(&["db", "roles", "--verify", "--app-url", &app_url])
        .await
        .status
        .success());
    let separation = [
        ("FLAG_RAPTOR_APP_ROLE_SEPARATION", "1"),
        ("RAPTOR_APP_DATABASE_URL", app_url.as_str()),
    ];
    let on_postgres = serve(postgres.url(), &[], &separation)
        .await
        .expect("serve on Postgres");
    assert_eq!(on_postgres.health().await["db"], "postgresql");
    smoke(postgres.url(), &on_postgres, "postgresql").await;
    assert!(on_postgres.terminate().await.success());
    assert_eq!(
        emails(&postgres).await,
        2,
        "the SQLite smoke user was copied and a second one signed up"
    );

    // Rollback after launch: copy back to a fresh SQLite and serve from it.
    let rollback = TestDb::create(Dialect::Sqlite, Start::Head).await;
    let back = raptor()
        .run(&[
            "db",
            "copy",
            "--from",
            postgres.url(),
            "--to",
            rollback.url(),
        ])
        .await;
    assert!(
        back.status.success() && text(&back).contains("VERIFIED"),
        "{}",
        text(&back)
    );
    let verify = raptor()
        .run(&[
            "db",
            "copy",
            "--from",
            postgres.url(),
            "--to",
            rollback.url(),
            "--verify-only",
        ])
        .await;
    assert!(verify.status.success(), "{}", text(&verify));
    let on_rollback = serve(rollback.url(), &[], &[])
        .await
        .expect("serve on the rollback");
    smoke(rollback.url(), &on_rollback, "sqlite").await;
    assert!(on_rollback.terminate().await.success());
    assert_eq!(
        emails(&rollback).await,
        3,
        "every user survived the round trip"
    );

    postgres
        .execute(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .await;
    for db in [sqlite, postgres, rollback] {
        db.finish().await;
    }
}
