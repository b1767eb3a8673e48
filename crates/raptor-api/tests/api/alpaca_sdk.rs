//! The official Alpaca SDK (alpaca-py, from PyPI), a client this team did not write, drives a
//! paper account through `/v2` with an API key: `scripts/alpaca/sdk_check.py`, on both
//! dialects.

use std::path::PathBuf;
use std::process::Command;

use chrono::{Duration, Utc};
use raptor_testkit::{accounts, dual_test, python, TestApp};

const AAPL: f64 = 190.25;
const MSFT: f64 = 50.0;

dual_test!(alpaca_py_trades_a_paper_account_unchanged, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let mut owner = accounts::customer(&app, "bot-owner@example.com").await;
    let bot = accounts::bot(&app, &mut owner).await;
    let (key_id, secret) = bot.api_key.clone().expect("a key");
    let minute_ago = Utc::now() - Duration::minutes(1);
    t.put_prices("AAPL", &[(minute_ago, AAPL)]).await;
    t.put_prices("MSFT", &[(minute_ago, MSFT)]).await;
    let mut check = Command::new(python::tool("python"));
    check
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/alpaca/sdk_check.py"))
        .env("RAPTOR_URL", app.url(""))
        .env("APCA_API_KEY_ID", key_id)
        .env("APCA_API_SECRET_KEY", secret)
        .env("RAPTOR_AAPL_PRICE", AAPL.to_string())
        .env("RAPTOR_MSFT_PRICE", MSFT.to_string());
    let output = tokio::task::spawn_blocking(move || check.output())
        .await
        .expect("the check's thread")
        .expect("run the alpaca-py check");
    assert!(
        output.status.success(),
        "alpaca-py on {}:\n{}\n{}",
        t.dialect().name(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{}", String::from_utf8_lossy(&output.stdout));
    app.stop().await;
});
