//! `raptor db check`: the runbook's pre-checks and their STOP gates, on both dialects.

use std::process::Stdio;

use crate::common::{json, raptor, stderr, stdout};
use raptor_testkit::dual_test;

dual_test!(
    an_empty_database_stops_the_head_gate_and_names_what_to_run,
    Empty,
    |t| {
        let cli = raptor().database(t.url());
        let out = cli.run(&["db", "check", "--expect-head", "--json"]).await;
        assert_eq!(out.status.code(), Some(1));
        let report = json(&out);
        assert_eq!(report["result"], "stop");
        assert_eq!(report["dialect"], t.dialect().name());
        assert!(report["gates"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("raptor db upgrade head"));
        assert_eq!(report["tables"]["present"], 0);
        // The binary under test is built with the workspace's SQLite flags.
        let shared_cache = if t.dialect().name() == "sqlite" {
            serde_json::json!(false)
        } else {
            serde_json::Value::Null
        };
        assert_eq!(report["sqlite_shared_page_cache"], shared_cache);
    }
);

dual_test!(a_migrated_empty_database_passes_every_gate, Head, |t| {
    let cli = raptor().database(t.url());
    let dialect = t.dialect().name();
    let out = cli
        .run(&[
            "db",
            "check",
            "--expect-dialect",
            dialect,
            "--expect-empty",
            "--expect-head",
        ])
        .await;
    assert!(out.status.success(), "{}", stdout(&out));
    let text = stdout(&out);
    let tables = raptor_store::schema::EXPECTED_TABLES.len();
    assert!(
        text.contains("RESULT: OK") && text.contains(&format!("{tables}/{tables} present")),
        "{text}"
    );
    let other = if dialect == "sqlite" {
        "postgresql"
    } else {
        "sqlite"
    };
    let wrong = cli
        .run(&["db", "check", "--expect-dialect", other, "--json"])
        .await;
    assert_eq!(wrong.status.code(), Some(1));
    assert_eq!(json(&wrong)["gates"][0]["passed"], false);
});

dual_test!(a_reader_that_goes_away_ends_the_report_quietly, Head, |t| {
    // `raptor db check | head -1` once `head` has gone: the next line written ends the command
    // quietly with the status a shell gives a tool that SIGPIPE ended (141), not with a panic.
    let mut child = raptor()
        .database(t.url())
        .command()
        .args(["db", "check"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().await.expect("wait");
    assert_eq!(out.status.code(), Some(141), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
});

dual_test!(customer_rows_close_the_pre_launch_gate, Head, |t| {
    let cli = raptor().database(t.url());
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
    let out = cli.run(&["db", "check", "--expect-empty", "--json"]).await;
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
    let out = raptor()
        .database("postgresql://raptor:hunter2@127.0.0.1:1/raxx")
        .run(&["db", "check"])
        .await;
    assert_eq!(out.status.code(), Some(3));
    let text = stdout(&out);
    assert!(
        text.contains("UNREACHABLE") && !text.contains("hunter2"),
        "{text}"
    );
}
