//! Role separation (RM-11) on a real PostgreSQL with a real second role, and the
//! application's own roles (RBAC v2) from a shell.

use crate::common::{json, public_url, raptor, serve, stderr, stdout};
use raptor_domain::Permission;
use raptor_testkit::{dual_test, Dialect, Start, TestDb};

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

// ---- RBAC v2: `raptor admin roles`, and grants from a shell with an end and a reason.

/// A user written straight into the store; the CLI finds them by email.
async fn stored_user(t: &TestDb, email: &str) {
    let mut tx = t.db().begin().await.expect("begin");
    raptor_store::users::create(
        &mut tx,
        email,
        "Ada",
        email.as_bytes(),
        raptor_testkit::now(),
    )
    .await
    .expect("user");
    tx.commit().await.expect("commit");
}

dual_test!(
    admin_roles_lists_each_role_with_its_permissions,
    Head,
    |t| {
        let cli = raptor().database(t.url());
        let out = cli.run(&["admin", "roles"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let table = stdout(&out);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["ROLE", "PERMISSIONS"]
        );
        assert!(lines.contains(&"customer  -"), "{table}");
        assert!(
            lines.contains(&"support   customers.read, support.read, support.reply, traces.read"),
            "{table}"
        );
        let all: Vec<&str> = {
            let mut names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
            names.sort();
            names
        };
        assert!(
            lines.contains(&format!("admin     {}", all.join(", ")).as_str()),
            "{table}"
        );
        assert!(
            table.contains("within 10 minutes: customers.suspend, billing.manage, roles.grant"),
            "{table}"
        );

        // The database holds what a role carries: an operator's change shows at once.
        t.execute(
            "DELETE FROM role_permissions WHERE permission = 'traces.read' \
         AND role_id = (SELECT id FROM roles WHERE name = 'support')",
        )
        .await;
        let out = cli.run(&["admin", "roles", "--json"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let listed = json(&out);
        let support = listed["roles"]
            .as_array()
            .expect("roles")
            .iter()
            .find(|r| r["role"] == "support")
            .expect("support")
            .clone();
        assert_eq!(
            support["permissions"],
            serde_json::json!(["customers.read", "support.read", "support.reply"])
        );
        let catalogue = listed["permissions"].as_array().expect("permissions");
        assert_eq!(catalogue.len(), Permission::ALL.len());
        let grant = catalogue
            .iter()
            .find(|p| p["name"] == "roles.grant")
            .expect("roles.grant");
        assert_eq!(grant["step_up"], true);
    }
);

/// Records that the user proved their address, as using the mailed link does.
async fn verified(t: &TestDb, email: &str) {
    let user = raptor_store::users::by_email(t.db(), email)
        .await
        .expect("lookup")
        .expect("user");
    let mut tx = t.db().begin().await.expect("begin");
    raptor_store::users::verify_email(&mut tx, user.id, raptor_testkit::now())
        .await
        .expect("verify");
    tx.commit().await.expect("commit");
}

dual_test!(grant_role_from_a_shell_records_until_and_why, Head, |t| {
    stored_user(t, "ada@example.com").await;
    let cli = raptor().database(t.url());
    let unproven = cli
        .run(&["admin", "grant-role", "ada@example.com", "support"])
        .await;
    assert_eq!(unproven.status.code(), Some(1));
    assert!(
        stderr(&unproven).contains("has not verified their email address"),
        "{}",
        stderr(&unproven)
    );
    verified(t, "ada@example.com").await;
    let past = cli
        .run(&[
            "admin",
            "grant-role",
            "ada@example.com",
            "support",
            "--until",
            "2001-01-01T00:00:00Z",
        ])
        .await;
    assert_eq!(past.status.code(), Some(1));
    assert!(
        stderr(&past).contains("until: must be in the future"),
        "{}",
        stderr(&past)
    );

    let until = "2099-01-31T18:00:00Z";
    let granted = cli
        .run(&[
            "admin",
            "grant-role",
            "ada@example.com",
            "support",
            "--until",
            until,
            "--reason",
            "holiday cover",
        ])
        .await;
    assert!(granted.status.success(), "{}", stderr(&granted));
    assert_eq!(
        stdout(&granted).trim(),
        "Granted support until 2099-01-31T18:00:00+00:00 for ada@example.com; roles now: support"
    );
    let revoked = cli
        .run(&[
            "admin",
            "revoke-role",
            "ada@example.com",
            "support",
            "--reason",
            "back from holiday",
        ])
        .await;
    assert!(revoked.status.success(), "{}", stderr(&revoked));

    let entries = raptor_store::audit::recent(t.db(), None, 10)
        .await
        .expect("audit");
    let grant = entries
        .iter()
        .find(|e| e.action == "role.grant")
        .expect("grant audited");
    let details = &grant.details.as_ref().expect("details").0;
    assert_eq!(grant.actor_user_id, None, "an operator, not a user");
    assert_eq!(details["via"], "cli");
    assert_eq!(details["reason"], "holiday cover");
    assert_eq!(details["until"], "2099-01-31T18:00:00Z");
    let revoke = entries
        .iter()
        .find(|e| e.action == "role.revoke")
        .expect("revoke audited");
    let details = &revoke.details.as_ref().expect("details").0;
    assert_eq!(details["reason"], "back from holiday");
    assert_eq!(details["was_until"], "2099-01-31T18:00:00Z");
    assert_eq!(
        t.scalar(
            "SELECT count(*) FROM audit_log WHERE actor_type = 'operator' AND action LIKE 'role.%'"
        )
        .await,
        2
    );
});

dual_test!(
    a_role_is_taken_back_from_an_account_that_never_proved_its_address,
    Head,
    |t| {
        // A bootstrap admin, or staff from before addresses were verified, holds a role
        // without a verified address: taking it away must still work.
        stored_user(t, "ops@example.com").await;
        let user = raptor_store::users::by_email(t.db(), "ops@example.com")
            .await
            .expect("lookup")
            .expect("user");
        let mut tx = t.db().begin().await.expect("begin");
        let grant = raptor_store::users::NewGrant {
            user_id: user.id,
            role: raptor_domain::Role::Support,
            granted_by: None,
            expires_at: None,
            reason: None,
        };
        raptor_store::users::grant_role(&mut tx, &grant, raptor_testkit::now())
            .await
            .expect("grant");
        tx.commit().await.expect("commit");
        let revoked = raptor()
            .database(t.url())
            .run(&["admin", "revoke-role", "ops@example.com", "support"])
            .await;
        assert!(revoked.status.success(), "{}", stderr(&revoked));
        let roles = raptor_store::users::roles(t.db(), user.id, raptor_testkit::now())
            .await
            .expect("roles");
        assert!(roles.is_empty(), "{roles:?}");
    }
);
