//! Role separation (RM-11) on a real PostgreSQL with a real second role.

use crate::common::{public_url, raptor, serve, stderr, stdout};
use raptor_testkit::{Dialect, Start, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_role_works_with_rows_and_nothing_else_and_serves_the_smoke_suite() {
    let t = TestDb::create(Dialect::Postgres, Start::Head).await;
    let cli = raptor().database(t.url());
    let role = format!("raptor_app_t{}", std::process::id());
    let printed = cli.run(&["db", "roles", "--app-role", &role]).await;
    assert!(stdout(&printed).contains(&format!(
        "REVOKE ALL ON TABLE alembic_version, raptor_migration_checksums FROM {role};"
    )));

    let applied = cli
        .run(&["db", "roles", "--app-role", &role, "--apply"])
        .await;
    assert!(applied.status.success(), "{}", stderr(&applied));
    let password = stdout(&applied)
        .lines()
        .find_map(|l| l.strip_prefix("Password (shown once): "))
        .expect("a password")
        .to_owned();
    let mut app_url = url::Url::parse(t.url()).expect("url");
    app_url.set_username(&role).expect("user");
    app_url.set_password(Some(&password)).expect("password");
    let app_url = app_url.to_string();
    assert!(
        !stderr(&applied).contains(&password),
        "the password reached the log"
    );

    let verified = cli
        .run(&["db", "roles", "--verify", "--app-url", &app_url])
        .await;
    assert!(verified.status.success(), "{}", stdout(&verified));
    let report = stdout(&verified);
    assert!(
        report.contains("ok   refused (was refused): DROP TABLE alembic_version"),
        "{report}"
    );
    assert!(
        report.contains("ok   refused (was refused): UPDATE audit_log"),
        "{report}"
    );
    assert!(
        report.contains("ok   refused (was refused): CREATE TABLE"),
        "{report}"
    );
    // Trace partitions: created through the owner's function, never directly.
    assert!(
        report.contains("ok   allowed (was allowed): SELECT raptor_ensure_trace_partitions(3)"),
        "{report}"
    );
    assert!(
        report.contains("ok   refused (was refused): CREATE TABLE trace_events_p209901"),
        "{report}"
    );

    // The owner verifying as itself is not separation.
    let owner = cli
        .run(&["db", "roles", "--verify", "--app-url", t.url()])
        .await;
    assert_eq!(owner.status.code(), Some(1));

    let missing = cli
        .clone()
        .env("FLAG_RAPTOR_APP_ROLE_SEPARATION", "1")
        .run(&["serve", "--port", "0"])
        .await;
    assert!(
        stderr(&missing).contains("RAPTOR_APP_DATABASE_URL"),
        "{}",
        stderr(&missing)
    );

    assert!(cli
        .run(&["bars", "demo", "--symbols", "AAPL", "--sessions", "1"])
        .await
        .status
        .success());
    let token = stdout(&cli.run(&["admin", "bootstrap-token"]).await)
        .trim()
        .to_owned();
    let separation = [
        ("FLAG_RAPTOR_APP_ROLE_SEPARATION", "1"),
        ("RAPTOR_APP_DATABASE_URL", app_url.as_str()),
    ];
    let server = serve(t.url(), &[], &separation)
        .await
        .expect("serve with role separation");
    let health = server.health().await;
    assert_eq!(health["db"], "postgresql");
    assert!(health["revision"].is_string(), "{health}");
    let serving_as_app = t
        .scalar(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}'"
        ))
        .await;
    assert!(serving_as_app > 0, "serve is not connected as {role}");
    let smoke = cli
        .run(&[
            "smoke",
            "--base-url",
            &public_url(&server),
            "--bootstrap-token",
            &token,
        ])
        .await;
    assert!(smoke.status.success(), "{}", stdout(&smoke));
    assert!(server.terminate().await.success());

    t.execute(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .await;
    t.finish().await;
}

#[tokio::test]
async fn sqlite_has_no_roles_to_separate() {
    let t = TestDb::create(Dialect::Sqlite, Start::Head).await;
    let cli = raptor().database(t.url());
    let out = cli.run(&["db", "roles", "--apply"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("PostgreSQL feature"),
        "{}",
        stderr(&out)
    );
    t.finish().await;
}

/// A role separated before revision 0004 may keep the trace partitions ahead after upgrading,
/// and the grants apply at either revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_separated_before_the_trace_partitions_can_keep_them_ahead_after_the_upgrade() {
    let t = TestDb::create(Dialect::Postgres, Start::Empty).await;
    let cli = raptor().database(t.url());
    let upgraded = cli.run(&["db", "upgrade", "0003_seed_symbols"]).await;
    assert!(upgraded.status.success());
    let role = format!("raptor_app_u{}", std::process::id());
    let applied = cli
        .run(&[
            "db",
            "roles",
            "--app-role",
            &role,
            "--apply",
            "--password",
            "-s3cret-pw",
        ])
        .await;
    assert!(applied.status.success(), "{}", stderr(&applied));
    let upgraded = cli.run(&["db", "upgrade", "head"]).await;
    assert!(upgraded.status.success(), "{}", stderr(&upgraded));

    let mut app_url = url::Url::parse(t.url()).expect("url");
    app_url.set_username(&role).expect("user");
    app_url.set_password(Some("-s3cret-pw")).expect("password");
    let verified = cli
        .run(&["db", "roles", "--verify", "--app-url", app_url.as_str()])
        .await;
    let report = stdout(&verified);
    assert!(verified.status.success(), "{report}");
    assert!(
        report.contains("ok   allowed (was allowed): SELECT raptor_ensure_trace_partitions(3)"),
        "{report}"
    );
    t.execute(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .await;
    t.finish().await;
}
