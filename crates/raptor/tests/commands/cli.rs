//! The `raptor` binary as an operator runs it: real processes against real databases.

use std::process::Stdio;

use crate::common::{public_url, raptor, serve, stderr, stdout, Raptor};
use raptor_store::schema;
use raptor_testkit::{dual_test, Dialect, Start, TestDb};

fn head() -> &'static str {
    raptor_store::migrate::Migrator::embedded()
        .head()
        .expect("a head")
}

fn revisions() -> usize {
    raptor_store::migrate::Migrator::embedded()
        .revisions()
        .len()
}

/// `raptor` logging at `info`: these tests read what the binary logs.
fn info() -> Raptor {
    raptor().log("info")
}

dual_test!(racing_upgrades_apply_the_baseline_once, Empty, |t| {
    let cli = info().database(t.url());
    let spawn = || {
        cli.command()
            .args(["db", "upgrade", "head"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = tokio::join!(a.wait_with_output(), b.wait_with_output());
    let (a, b) = (a.expect("first"), b.expect("second"));
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(b.status.success(), "{}", stderr(&b));
    let logs = stderr(&a) + &stderr(&b);
    assert_eq!(
        logs.matches("Running upgrade").count(),
        revisions(),
        "{logs}"
    );
    let current = cli.run(&["db", "current"]).await;
    assert_eq!(stdout(&current).trim(), format!("{} (head)", head()));
});

dual_test!(
    offline_sql_is_printed_without_touching_the_database,
    Empty,
    |t| {
        let cli = info().database(t.url());
        let out = cli.run(&["db", "upgrade", "head", "--sql"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains("CREATE TABLE users"), "{script}");
        assert!(script.contains(&format!(
            "UPDATE alembic_version SET version_num = '{}'",
            head()
        )));
        let tables = schema::table_names(t.db()).await.expect("tables");
        assert!(tables.is_empty(), "--sql changed the database: {tables:?}");

        // A DBA who runs the reviewed script gets a database the binary accepts as head.
        t.execute(&script).await;
        let current = cli.run(&["db", "current"]).await;
        assert!(current.status.success(), "{}", stdout(&current));
        assert_eq!(stdout(&current).trim(), format!("{} (head)", head()));
    }
);

dual_test!(db_commands_report_as_alembic_does, Empty, |t| {
    let cli = info().database(t.url());
    let up = cli.run(&["db", "upgrade", "head"]).await;
    assert!(up.status.success(), "{}", stderr(&up));
    assert!(stderr(&up).contains("Running upgrade  -> 0001_raptor_baseline, raptor baseline"));
    let dialect = format!(
        "Database engine initialized: dialect={}",
        t.dialect().name()
    );
    assert!(stderr(&up).contains(&dialect), "{}", stderr(&up));

    let history = stdout(&cli.run(&["db", "history"]).await);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), revisions(), "{history}");
    assert!(
        lines[0].contains(&format!("-> {} (head), ", head())),
        "{history}"
    );
    assert_eq!(
        lines[lines.len() - 1],
        "<base> -> 0001_raptor_baseline, raptor baseline"
    );

    let down = cli.run(&["db", "downgrade", "base"]).await;
    assert!(down.status.success(), "{}", stderr(&down));
    let current = cli.run(&["db", "current"]).await;
    assert_eq!(stdout(&current).trim(), "<base> (no revision applied)");

    let unknown = cli.run(&["db", "upgrade", "cafe0000"]).await;
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("Can't locate revision identified by 'cafe0000'"));

    let stamp = cli.run(&["db", "stamp", head()]).await;
    assert!(stamp.status.success(), "{}", stderr(&stamp));
    let current = cli.run(&["db", "current"]).await;
    assert_eq!(stdout(&current).trim(), format!("{} (head)", head()));
});

dual_test!(current_fails_loudly_on_an_edited_migration, Head, |t| {
    let cli = info().database(t.url());
    t.execute(
        "UPDATE raptor_migration_checksums SET checksum = 'edited' \
         WHERE version_num = '0001_raptor_baseline'",
    )
    .await;
    let current = cli.run(&["db", "current"]).await;
    assert!(!current.status.success(), "drift must not exit 0");
    assert!(stdout(&current).contains("WARNING: revision 0001_raptor_baseline was applied"));
    let upgrade = cli.run(&["db", "upgrade", "head"]).await;
    assert!(!upgrade.status.success());
    assert!(stderr(&upgrade).contains("raptor db accept-checksum"));
    let accept = cli
        .run(&["db", "accept-checksum", "0001_raptor_baseline"])
        .await;
    assert!(accept.status.success(), "{}", stderr(&accept));
    assert!(cli.run(&["db", "current"]).await.status.success());
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_sqlite_migrates_itself_and_drains_on_sigterm() {
    let t = TestDb::create(Dialect::Sqlite, Start::Empty).await;
    let server = serve(t.url(), &[], &[]).await.expect("serve starts");
    let health = server.health().await;
    assert_eq!(health["db"], "sqlite");
    assert_eq!(health["revision"], head());
    let status = server.terminate().await;
    assert!(
        status.success(),
        "SIGTERM should end serve cleanly: {status}"
    );
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgres_refuses_to_start_behind_head_unless_told_to_migrate() {
    let t = TestDb::create(Dialect::Postgres, Start::Empty).await;
    let refused = serve(t.url(), &[], &[]).await.err().expect("must refuse");
    assert!(refused.contains("raptor db upgrade head"), "{refused}");
    assert!(schema::table_names(t.db())
        .await
        .expect("tables")
        .is_empty());

    let server = serve(t.url(), &["--migrate"], &[])
        .await
        .expect("serve --migrate");
    let health = server.health().await;
    assert_eq!(health["db"], "postgresql");
    assert_eq!(health["revision"], head());
    assert!(server.terminate().await.success());
    t.finish().await;
}

#[tokio::test]
async fn bad_database_urls_exit_non_zero_listing_the_accepted_forms() {
    for url in [
        "mysql://root:hunter2@localhost/raxx",
        "root:hunter2@localhost/raxx",
        "sqlite://raptor.db",
        "postgresql://raptor:hunter2@host:port/raxx",
    ] {
        let out = info().database(url).run(&["db", "current"]).await;
        let stderr = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{url}: {stderr}");
        assert!(
            stderr.contains("accepted forms: sqlite:///"),
            "{url}: {stderr}"
        );
        assert!(
            !stderr.contains("hunter2"),
            "{url} leaked its password: {stderr}"
        );
    }
}

#[tokio::test]
async fn unreachable_postgres_is_reported_without_the_password() {
    let out = info()
        .database("postgresql://raptor:hunter2@127.0.0.1:1/raxx")
        .run(&["db", "upgrade"])
        .await;
    let stderr = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("could not connect to the postgresql database"),
        "{stderr}"
    );
    assert!(
        stderr.contains("postgresql://raptor:***@127.0.0.1:1/raxx"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test]
async fn help_lists_every_command_with_its_purpose() {
    let out = info().run(&["--help"]).await;
    let help = stdout(&out);
    assert!(
        help.contains("serve") && help.contains("Serve the Raxx API over HTTP"),
        "{help}"
    );
    assert!(
        help.contains("db") && help.contains("Manage the database schema"),
        "{help}"
    );
    let db_help = stdout(&info().run(&["db", "--help"]).await);
    for command in [
        "upgrade",
        "downgrade",
        "stamp",
        "current",
        "history",
        "accept-checksum",
    ] {
        assert!(db_help.contains(command), "{command} missing: {db_help}");
    }
}

dual_test!(a_bootstrap_token_makes_its_first_user_an_admin, Head, |t| {
    let cli = info().database(t.url());
    let out = cli
        .run(&["admin", "bootstrap-token", "--ttl-minutes", "30"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out).trim().to_owned();
    assert!(token.len() >= 40, "{token}");
    assert!(!stderr(&out).contains(&token), "the token went to the log");

    let app = raptor_testkit::TestApp::spawn(t.db().clone()).await;
    let mut browser = app.browser();
    let mut key = raptor_testkit::SoftAuthenticator::new(app.origin());
    let reply = key
        .sign_up(&mut browser, "root@example.com", Some(&token))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.body["roles"],
        serde_json::json!(["customer", "admin"])
    );
    raptor_testkit::accounts::verify_email(&app, &mut browser, "root@example.com").await;
    app.stop().await;

    let granted = cli
        .run(&["admin", "grant-role", "ROOT@example.com", "support"])
        .await;
    assert!(granted.status.success(), "{}", stderr(&granted));
    assert_eq!(
        stdout(&granted).trim(),
        "Granted support for root@example.com; roles now: customer, support, admin"
    );
    let bad = cli
        .run(&["admin", "grant-role", "root@example.com", "root"])
        .await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("roles are customer, support, admin"));
    let nobody = cli
        .run(&["admin", "grant-role", "nobody@example.com", "admin"])
        .await;
    assert!(stderr(&nobody).contains("no user with email nobody@example.com"));
});

dual_test!(
    a_ceremony_begun_on_one_serve_process_finishes_on_another,
    Head,
    |t| {
        let first = serve(t.url(), &[], &[]).await.expect("first serve");
        let public = public_url(&first);
        let second = serve(t.url(), &["--public-url", &public], &[])
            .await
            .expect("second serve");
        let mut key = raptor_testkit::SoftAuthenticator::new(&public);
        let mut on_first = raptor_testkit::Browser::new(&first.base_url, &public);
        let options = on_first
            .post(
                "/api/auth/register/options",
                serde_json::json!({ "email": "ada@example.com", "display_name": "Ada" }),
            )
            .await;
        assert_eq!(options.status, 200, "{:?}", options.body);
        let mut on_second = raptor_testkit::Browser::new(&second.base_url, &public);
        let reply = on_second
        .post(
            "/api/auth/register",
            serde_json::json!({ "ceremony_id": options.body["ceremony_id"], "credential": key.create(&options.body) }),
        )
        .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        on_first.cookie = on_second.cookie.clone();
        assert_eq!(on_first.get("/api/auth/session").await.status, 200);
        assert!(first.terminate().await.success());
        assert!(second.terminate().await.success());
    }
);

dual_test!(
    trace_retention_and_partition_upkeep_from_the_command_line,
    Head,
    |t| {
        let cli = info().database(t.url());
        let stale = "INSERT INTO trace_events (created_at, workflow_id, name) VALUES ('2020-02-02T00:00:00+00:00', 'w', 'stale')";
        let fresh = "INSERT INTO trace_events (created_at, workflow_id, name) VALUES ('2099-02-02T00:00:00+00:00', 'w', 'fresh')";
        t.execute(stale).await;
        t.execute(fresh).await;

        let bad = cli
            .run(&["db", "traces", "prune", "--older-than", "90 days"])
            .await;
        assert_eq!(bad.status.code(), Some(1));
        assert!(stderr(&bad).contains("is not a duration like 90s, 30m, 24h or 3d"));
        assert_eq!(t.scalar("SELECT count(*) FROM trace_events").await, 2);

        let ensured = cli
            .run(&["db", "traces", "ensure", "--months-ahead", "2"])
            .await;
        assert!(ensured.status.success(), "{}", stderr(&ensured));
        let status = stdout(&ensured);
        match t.dialect() {
            Dialect::Sqlite => assert!(status.contains("plain indexed tables"), "{status}"),
            Dialect::Postgres => {
                for partition in [
                    "trace_events_p202002",
                    "trace_events_p209902",
                    "trace_workflows_default",
                ] {
                    assert!(
                        status.contains(partition),
                        "{partition} missing from\n{status}"
                    );
                }
            }
        }

        let pruned = cli
            .run(&["db", "traces", "prune", "--older-than", "365d"])
            .await;
        assert!(pruned.status.success(), "{}", stderr(&pruned));
        assert!(
            stdout(&pruned).contains("1 rows remain"),
            "{}",
            stdout(&pruned)
        );
        if t.dialect() == Dialect::Postgres {
            assert!(stdout(&pruned).contains("dropped partition trace_events_p202002"));
        }
        assert_eq!(
            t.scalar("SELECT count(*) FROM trace_events WHERE name = 'fresh'")
                .await,
            1
        );

        let timescale = cli.run(&["db", "timescale"]).await;
        assert!(timescale.status.success(), "{}", stderr(&timescale));
        assert!(
            stdout(&timescale).contains("raptor db traces"),
            "{}",
            stdout(&timescale)
        );
    }
);
