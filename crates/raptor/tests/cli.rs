//! The `raptor` binary as an operator runs it: real processes against real databases.

use std::process::{Output, Stdio};

use raptor_store::schema;
use raptor_testkit::{dual_test, Dialect, Start, TestDb};
use tokio::process::Command;

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

fn raptor(database_url: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_raptor"));
    cmd.env_remove("DATABASE_URL")
        .env_remove("RAPTOR_LOG_FORMAT")
        .env_remove("PORT")
        .env("RAPTOR_LOG", "info")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    cmd
}

async fn run(database_url: Option<&str>, args: &[&str]) -> Output {
    raptor(database_url)
        .args(args)
        .output()
        .await
        .expect("run raptor")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

dual_test!(racing_upgrades_apply_the_baseline_once, Empty, |t| {
    let spawn = || {
        raptor(Some(t.url()))
            .args(["db", "upgrade", "head"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = tokio::join!(a.wait_with_output(), b.wait_with_output());
    let (a, b) = (a.expect("first"), b.expect("second"));
    assert!(a.status.success(), "{}", text(&a.stderr));
    assert!(b.status.success(), "{}", text(&b.stderr));
    let logs = text(&a.stderr) + &text(&b.stderr);
    assert_eq!(
        logs.matches("Running upgrade").count(),
        revisions(),
        "{logs}"
    );
    let current = run(Some(t.url()), &["db", "current"]).await;
    assert_eq!(text(&current.stdout).trim(), format!("{} (head)", head()));
});

dual_test!(
    offline_sql_is_printed_without_touching_the_database,
    Empty,
    |t| {
        let out = run(Some(t.url()), &["db", "upgrade", "head", "--sql"]).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains("CREATE TABLE users"), "{script}");
        assert!(script.contains(&format!(
            "UPDATE alembic_version SET version_num = '{}'",
            head()
        )));
        let tables = schema::table_names(t.db()).await.expect("tables");
        assert!(tables.is_empty(), "--sql changed the database: {tables:?}");

        // A DBA who runs the reviewed script gets a database the binary accepts as head.
        t.execute(&script).await;
        let current = run(Some(t.url()), &["db", "current"]).await;
        assert!(current.status.success(), "{}", text(&current.stdout));
        assert_eq!(text(&current.stdout).trim(), format!("{} (head)", head()));
    }
);

dual_test!(db_commands_report_as_alembic_does, Empty, |t| {
    let url = Some(t.url());
    let up = run(url, &["db", "upgrade", "head"]).await;
    assert!(up.status.success(), "{}", text(&up.stderr));
    assert!(text(&up.stderr).contains("Running upgrade  -> 0001_raptor_baseline, raptor baseline"));
    let dialect = format!(
        "Database engine initialized: dialect={}",
        t.dialect().name()
    );
    assert!(text(&up.stderr).contains(&dialect), "{}", text(&up.stderr));

    let history = text(&run(url, &["db", "history"]).await.stdout);
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

    let down = run(url, &["db", "downgrade", "base"]).await;
    assert!(down.status.success(), "{}", text(&down.stderr));
    let current = run(url, &["db", "current"]).await;
    assert_eq!(text(&current.stdout).trim(), "<base> (no revision applied)");

    let unknown = run(url, &["db", "upgrade", "cafe0000"]).await;
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("Can't locate revision identified by 'cafe0000'"));

    let stamp = run(url, &["db", "stamp", head()]).await;
    assert!(stamp.status.success(), "{}", text(&stamp.stderr));
    let current = run(url, &["db", "current"]).await;
    assert_eq!(text(&current.stdout).trim(), format!("{} (head)", head()));
});

dual_test!(current_fails_loudly_on_an_edited_migration, Head, |t| {
    t.execute(
        "UPDATE raptor_migration_checksums SET checksum = 'edited' \
         WHERE version_num = '0001_raptor_baseline'",
    )
    .await;
    let current = run(Some(t.url()), &["db", "current"]).await;
    assert!(!current.status.success(), "drift must not exit 0");
    assert!(text(&current.stdout).contains("WARNING: revision 0001_raptor_baseline was applied"));
    let upgrade = run(Some(t.url()), &["db", "upgrade", "head"]).await;
    assert!(!upgrade.status.success());
    assert!(text(&upgrade.stderr).contains("raptor db accept-checksum"));
    let accept = run(
        Some(t.url()),
        &["db", "accept-checksum", "0001_raptor_baseline"],
    )
    .await;
    assert!(accept.status.success(), "{}", text(&accept.stderr));
    assert!(run(Some(t.url()), &["db", "current"])
        .await
        .status
        .success());
});

/// Starts `raptor serve` of this build on a free port.
async fn serve(database_url: &str, extra: &[&str]) -> Result<raptor_testkit::ServeProcess, String> {
    raptor_testkit::ServeProcess::start(env!("CARGO_BIN_EXE_raptor"), database_url, extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_sqlite_migrates_itself_and_drains_on_sigterm() {
    let t = TestDb::create(Dialect::Sqlite, Start::Empty).await;
    let server = serve(t.url(), &[]).await.expect("serve starts");
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
    let refused = serve(t.url(), &[]).await.err().expect("must refuse");
    assert!(refused.contains("raptor db upgrade head"), "{refused}");
    assert!(schema::table_names(t.db())
        .await
        .expect("tables")
        .is_empty());

    let server = serve(t.url(), &["--migrate"])
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
        let out = run(Some(url), &["db", "current"]).await;
        let stderr = text(&out.stderr);
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
    let out = run(
        Some("postgresql://raptor:hunter2@127.0.0.1:1/raxx"),
        &["db", "upgrade"],
    )
    .await;
    let stderr = text(&out.stderr);
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
    let out = run(None, &["--help"]).await;
    let help = text(&out.stdout);
    assert!(
        help.contains("serve") && help.contains("Serve the Raxx API over HTTP"),
        "{help}"
    );
    assert!(
        help.contains("db") && help.contains("Manage the database schema"),
        "{help}"
    );
    let db_help = text(&run(None, &["db", "--help"]).await.stdout);
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
    let out = run(
        Some(t.url()),
        &["admin", "bootstrap-token", "--ttl-minutes", "30"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    assert!(token.len() >= 40, "{token}");
    assert!(
        !text(&out.stderr).contains(&token),
        "the token went to the log"
    );

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
    app.stop().await;

    let granted = run(
        Some(t.url()),
        &["admin", "grant-role", "ROOT@example.com", "support"],
    )
    .await;
    assert!(granted.status.success(), "{}", text(&granted.stderr));
    assert_eq!(
        text(&granted.stdout).trim(),
        "Granted support for root@example.com; roles now: customer, support, admin"
    );
    let bad = run(
        Some(t.url()),
        &["admin", "grant-role", "root@example.com", "root"],
    )
    .await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("roles are customer, support, admin"));
    let nobody = run(
        Some(t.url()),
        &["admin", "grant-role", "nobody@example.com", "admin"],
    )
    .await;
    assert!(text(&nobody.stderr).contains("no user with email nobody@example.com"));
});

dual_test!(
    a_ceremony_begun_on_one_serve_process_finishes_on_another,
    Head,
    |t| {
        let first = serve(t.url(), &[]).await.expect("first serve");
        let port = first.base_url.rsplit(':').next().expect("port").to_owned();
        let public = format!("http://localhost:{port}");
        let second = serve(t.url(), &["--public-url", &public])
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
        let url = Some(t.url());
        let stale = "INSERT INTO trace_events (created_at, workflow_id, name) VALUES ('2020-02-02T00:00:00+00:00', 'w', 'stale')";
        let fresh = "INSERT INTO trace_events (created_at, workflow_id, name) VALUES ('2099-02-02T00:00:00+00:00', 'w', 'fresh')";
        t.execute(stale).await;
        t.execute(fresh).await;

        let bad = run(url, &["db", "traces", "prune", "--older-than", "90 days"]).await;
        assert_eq!(bad.status.code(), Some(1));
        assert!(text(&bad.stderr).contains("is not a duration like 90s, 30m, 24h or 3d"));
        assert_eq!(t.scalar("SELECT count(*) FROM trace_events").await, 2);

        let ensured = run(url, &["db", "traces", "ensure", "--months-ahead", "2"]).await;
        assert!(ensured.status.success(), "{}", text(&ensured.stderr));
        let status = text(&ensured.stdout);
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

        let pruned = run(url, &["db", "traces", "prune", "--older-than", "365d"]).await;
        assert!(pruned.status.success(), "{}", text(&pruned.stderr));
        assert!(
            text(&pruned.stdout).contains("1 rows remain"),
            "{}",
            text(&pruned.stdout)
        );
        if t.dialect() == Dialect::Postgres {
            assert!(text(&pruned.stdout).contains("dropped partition trace_events_p202002"));
        }
        assert_eq!(
            t.scalar("SELECT count(*) FROM trace_events WHERE name = 'fresh'")
                .await,
            1
        );

        let timescale = run(url, &["db", "timescale"]).await;
        assert!(timescale.status.success(), "{}", text(&timescale.stderr));
        assert!(
            text(&timescale.stdout).contains("raptor db traces"),
            "{}",
            text(&timescale.stdout)
        );
    }
);
