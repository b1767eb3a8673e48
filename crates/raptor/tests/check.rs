//! `raptor db check`: the runbook's pre-checks and their STOP gates, on both dialects.

use std::process::{Output, Stdio};

use raptor_testkit::dual_test;
use tokio::process::Command;

async fn raptor(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_raptor"))
        .env("DATABASE_URL", database_url)
        .env("RAPTOR_LOG", "warn")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run raptor")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

dual_test!(
    an_empty_database_stops_the_head_gate_and_names_what_to_run,
    Empty,
    |t| {
        let out = raptor(t.url(), &["db", "check", "--expect-head", "--json"]).await;
        assert_eq!(out.status.code(), Some(1));
        let report = json(&out);
        assert_eq!(report["result"], "stop");
        assert_eq!(report["dialect"], t.dialect().name());
        assert!(report["gates"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("raptor db upgrade head"));
        assert_eq!(report["tables"]["present"], 0);
    }
);

dual_test!(a_migrated_empty_database_passes_every_gate, Head, |t| {
    let dialect = t.dialect().name();
    let out = raptor(
        t.url(),
        &[
            "db",
            "check",
            "--expect-dialect",
            dialect,
            "--expect-empty",
            "--expect-head",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("RESULT: OK") && text.contains("36/36 present"),
        "{text}"
    );
    let other = if dialect == "sqlite" {
        "postgresql"
    } else {
        "sqlite"
    };
    let wrong = raptor(
        t.url(),
        &["db", "check", "--expect-dialect", other, "--json"],
    )
    .await;
    assert_eq!(wrong.status.code(), Some(1));
    assert_eq!(json(&wrong)["gates"][0]["passed"], false);
});

dual_test!(customer_rows_close_the_pre_launch_gate, Head, |t| {
    let mut tx = t.db().begin().await.expect("begin");
    raptor_store::users::create(
        &mut tx,
        "ada@example.com",
        "Ada",
        &[7; 16],
        raptor_testkit::now(),
    )
    .await
    .expect("user");
    tx.commit().await.expect("commit");
    let out = raptor(t.url(), &["db", "check", "--expect-empty", "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(report["customer_rows"]["users"], 1);
    let gates = report["gates"].as_array().expect("gates");
    let empty = gates
        .iter()
        .find(|g| g["gate"] == "empty")
        .expect("the empty gate");
    assert_eq!(empty["passed"], false);
    assert!(
        empty["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("users=1"),
        "{empty}"
    );
});

#[tokio::test]
async fn an_unreachable_database_exits_3_without_the_password() {
    let out = raptor(
        "postgresql://raptor:hunter2@127.0.0.1:1/raxx",
        &["db", "check"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("UNREACHABLE") && !text.contains("hunter2"),
        "{text}"
    );
}
