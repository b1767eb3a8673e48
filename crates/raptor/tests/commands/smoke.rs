//! `raptor smoke` against a real `raptor serve`, on both dialects.

use crate::common::{json, public_url, raptor, serve, stderr, stdout};
use raptor_testkit::dual_test;

dual_test!(
    the_smoke_suite_passes_against_a_running_raptor_and_the_user_is_real,
    Head,
    |t| {
        let cli = raptor().database(t.url());
        assert!(cli
            .run(&["bars", "demo", "--symbols", "AAPL", "--sessions", "1"])
            .await
            .status
            .success());
        let server = serve(t.url(), &[], &[]).await.expect("serve");
        let base = public_url(&server);
        let token = stdout(&cli.run(&["admin", "bootstrap-token"]).await)
            .trim()
            .to_owned();

        let out = cli
            .run(&[
                "smoke",
                "--base-url",
                &base,
                "--expect-db",
                t.dialect().name(),
                "--bootstrap-token",
                &token,
                "--json",
            ])
            .await;
        assert!(out.status.success(), "{}", stdout(&out));
        let report = json(&out);
        let steps: Vec<&str> = report["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .filter_map(|s| s["step"].as_str())
            .collect();
        assert_eq!(
            steps,
            vec![
                "healthz",
                "register",
                "login",
                "historical-data",
                "billing-snapshot",
                "logout"
            ]
        );
        assert_eq!(
            t.scalar("SELECT count(*) FROM users").await,
            1,
            "the runbook's re-query sees the smoke user"
        );

        let wrong = cli
            .run(&["smoke", "--base-url", &base, "--expect-db", "mysql"])
            .await;
        assert_eq!(wrong.status.code(), Some(1));
        assert!(
            stdout(&wrong).contains("FAIL healthz"),
            "{}",
            stdout(&wrong)
        );
        let no_admin = cli.run(&["smoke", "--base-url", &base]).await;
        assert_eq!(no_admin.status.code(), Some(1));
        assert!(
            stdout(&no_admin).contains("--bootstrap-token"),
            "{}",
            stdout(&no_admin)
        );
        assert!(server.terminate().await.success());
    }
);

/// Bootstrap tokens are base64url: one in 64 begins with '-', and is still a value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_token_beginning_with_a_dash_is_taken_as_the_token() {
    let unreachable = "http://127.0.0.1:9";
    let out = raptor()
        .database("sqlite://:memory:")
        .run(&[
            "smoke",
            "--base-url",
            unreachable,
            "--bootstrap-token",
            "-jq3Xw",
            "--json",
        ])
        .await;
    assert!(
        !stderr(&out).contains("unexpected argument"),
        "{}",
        stderr(&out)
    );
    // The run got as far as the first step, which fails: nothing listens there.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("healthz"), "{}", stdout(&out));
}
