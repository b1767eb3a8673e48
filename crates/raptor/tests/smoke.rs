//! `raptor smoke` against a real `raptor serve`, on both dialects.

use std::process::{Output, Stdio};

use raptor_testkit::{dual_test, ServeProcess};
use tokio::process::Command;

async fn raptor(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raptor"))
        .env("DATABASE_URL", database_url)
        .env("RAPTOR_LOG", "warn")
        .env_remove("RAPTOR_SMOKE_BOOTSTRAP_TOKEN")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run raptor")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

dual_test!(
    the_smoke_suite_passes_against_a_running_raptor_and_the_user_is_real,
    Head,
    |t| {
        assert!(raptor(
            t.url(),
            &["bars", "demo", "--symbols", "AAPL", "--sessions", "1"]
        )
        .await
        .status
        .success());
        let server = ServeProcess::start(env!("CARGO_BIN_EXE_raptor"), t.url(), &[])
            .await
            .expect("serve");
        let port = server.base_url.rsplit(':').next().expect("port").to_owned();
        let base = format!("http://localhost:{port}");
        let token = text(&raptor(t.url(), &["admin", "bootstrap-token"]).await.stdout)
            .trim()
            .to_owned();

        let out = raptor(
            t.url(),
            &[
                "smoke",
                "--base-url",
                &base,
                "--expect-db",
                t.dialect().name(),
                "--bootstrap-token",
                &token,
                "--json",
            ],
        )
        .await;
        assert!(out.status.success(), "{}", text(&out.stdout));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
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

        let wrong = raptor(
            t.url(),
            &["smoke", "--base-url", &base, "--expect-db", "mysql"],
        )
        .await;
        assert_eq!(wrong.status.code(), Some(1));
        assert!(
            text(&wrong.stdout).contains("FAIL healthz"),
            "{}",
            text(&wrong.stdout)
        );
        let no_admin = raptor(t.url(), &["smoke", "--base-url", &base]).await;
        assert_eq!(no_admin.status.code(), Some(1));
        assert!(
            text(&no_admin.stdout).contains("--bootstrap-token"),
            "{}",
            text(&no_admin.stdout)
        );
        assert!(server.terminate().await.success());
    }
);

/// Bootstrap tokens are base64url: one in 64 begins with '-', and is still a value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_token_beginning_with_a_dash_is_taken_as_the_token() {
    let unreachable = "http://127.0.0.1:9";
    let out = raptor(
        "sqlite://:memory:",
        &[
            "smoke",
            "--base-url",
            unreachable,
            "--bootstrap-token",
            "-jq3Xw",
            "--json",
        ],
    )
    .await;
    assert!(
        !text(&out.stderr).contains("unexpected argument"),
        "{}",
        text(&out.stderr)
    );
    // The run got as far as the first step, which fails: nothing listens there.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("healthz"),
        "{}",
        text(&out.stdout)
    );
}
