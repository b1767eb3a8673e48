//! The official Alpaca SDK's `TradingStream` (alpaca-py) hears the orders placed through another
//! `raptor serve` process over the same database: `scripts/alpaca/stream_check.py`, run
//! against two real servers on both dialects (PostgreSQL announces with `NOTIFY`; on SQLite the
//! streaming server finds another process's changes by looking).

use std::path::PathBuf;
use std::process::Command;

use chrono::{Duration, Utc};
use raptor_testkit::{accounts, dual_test, python, ServeProcess, TestApp};

use crate::common::RAPTOR;

dual_test!(alpaca_py_hears_orders_placed_on_another_server, Head, |t| {
    t.put_prices("AAPL", &[(Utc::now() - Duration::minutes(1), 190.25)])
        .await;
    // Sign-up needs a passkey ceremony: done once in-process, then the real servers serve.
    let setup = TestApp::spawn(t.db().clone()).await;
    let mut owner = accounts::customer(&setup, "bot-owner@example.com").await;
    let bot = accounts::bot(&setup, &mut owner).await;
    let (key_id, secret) = bot.api_key.clone().expect("a key");
    setup.stop().await;

    let streaming = ServeProcess::start(RAPTOR, t.url(), &[])
        .await
        .expect("serve starts");
    let trading = ServeProcess::start(RAPTOR, t.url(), &[])
        .await
        .expect("serve starts");
    let mut check = Command::new(python::tool("python"));
    check
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/alpaca/stream_check.py"))
        .env("RAPTOR_STREAM_URL", &streaming.base_url)
        .env("RAPTOR_URL", &trading.base_url)
        .env("APCA_API_KEY_ID", key_id)
        .env("APCA_API_SECRET_KEY", secret);
    let output = tokio::task::spawn_blocking(move || check.output())
        .await
        .expect("the check's thread")
        .expect("run the alpaca-py stream check");
    assert!(
        output.status.success(),
        "alpaca-py TradingStream on {}:\n{}\n{}\n--- streaming server:\n{}\n--- trading \
             server:\n{}",
        t.dialect().name(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        streaming.log(),
        trading.log()
    );
    println!("{}", String::from_utf8_lossy(&output.stdout));
    for server in [streaming, trading] {
        assert!(
            server.terminate().await.success(),
            "a server did not stop cleanly"
        );
    }
});
