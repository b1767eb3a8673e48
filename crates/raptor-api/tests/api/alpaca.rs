//! The Alpaca bar source against a local fake speaking Alpaca's wire format.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use raptor_app::alpaca::AlpacaBars;
use raptor_domain::timeframe::Timeframe;
use raptor_testkit::{dual_test, FakeAlpaca, TestApp};

const KEY: &str = "PKTESTKEY";
const SECRET: &str = "alpaca-secret-value";

fn client(fake: &FakeAlpaca, secret: &str) -> AlpacaBars {
    AlpacaBars::new(fake.url(), KEY, secret, "iex", Duration::minutes(15))
}

fn window() -> (DateTime<Utc>, DateTime<Utc>) {
    let start: DateTime<Utc> = "2026-03-02T14:30:00Z".parse().expect("time");
    (start, start + Duration::minutes(250))
}

#[tokio::test]
async fn every_page_is_fetched_until_there_is_no_next_page_token() {
    let fake = FakeAlpaca::start(KEY, SECRET, 100, 0).await;
    let (start, end) = window();
    let bars = client(&fake, SECRET)
        .bars("AAPL", Timeframe::Min1, start, end)
        .await
        .expect("bars");
    assert_eq!(bars.len(), 250);
    assert_eq!(bars[249].close, 349.0);
    assert!(bars.windows(2).all(|w| w[0].ts < w[1].ts));
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].1["timeframe"], "1Min");
    assert_eq!(requests[0].1["feed"], "iex");
    assert_eq!(requests[2].1["page_token"], "200");
}

#[tokio::test]
async fn a_429_is_waited_out_and_retried() {
    let fake = FakeAlpaca::start(KEY, SECRET, 1000, 2).await;
    let (start, end) = window();
    let bars = client(&fake, SECRET)
        .bars("AAPL", Timeframe::Min1, start, end)
        .await
        .expect("bars after back-off");
    assert_eq!(bars.len(), 250);
    assert_eq!(
        fake.requests().len(),
        3,
        "two throttled attempts and one that succeeded"
    );
}

#[tokio::test]
async fn refused_keys_are_reported_without_the_secret() {
    let fake = FakeAlpaca::start(KEY, SECRET, 100, 0).await;
    let (start, end) = window();
    let err = client(&fake, "wrong-secret-123")
        .bars("AAPL", Timeframe::Min1, start, end)
        .await
        .expect_err("refused");
    assert!(
        err.contains("403") && err.contains("ALPACA_API_KEY_ID"),
        "{err}"
    );
    assert!(!err.contains("wrong-secret-123"), "{err}");
}

#[tokio::test]
async fn requests_stay_behind_the_plans_delay() {
    let fake = FakeAlpaca::start(KEY, SECRET, 10_000, 0).await;
    let now = Utc::now();
    client(&fake, SECRET)
        .bars("AAPL", Timeframe::Min1, now - Duration::hours(1), now)
        .await
        .expect("bars");
    let end: DateTime<Utc> = fake.requests()[0].1["end"]
        .as_str()
        .expect("end")
        .parse()
        .expect("time");
    assert!(
        end <= now - Duration::minutes(15) + Duration::seconds(1),
        "asked for {end}, now is {now}"
    );
    let nothing = client(&fake, SECRET)
        .bars("AAPL", Timeframe::Min1, now - Duration::minutes(5), now)
        .await
        .expect("empty");
    assert!(
        nothing.is_empty(),
        "a window entirely inside the delay needs no request"
    );
    assert_eq!(fake.requests().len(), 1);
}

dual_test!(
    historical_data_fetches_missing_bars_from_alpaca_once,
    Head,
    |t| {
        let fake = FakeAlpaca::start(KEY, SECRET, 100, 0).await;
        let app = TestApp::builder(t.db().clone())
            .bar_source(Arc::new(client(&fake, SECRET)))
            .spawn()
            .await;
        let url = "/api/historical-data/AAPL?timeframe=1Min&start=2026-03-02T14:30:00Z&end=2026-03-02T18:40:00Z";
        let (status, body) = app.get_json(url).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["bars"].as_array().map(Vec::len), Some(250));
        let (_, again) = app.get_json(url).await;
        assert_eq!(again["bars"], body["bars"]);
        assert_eq!(fake.requests().len(), 3, "stored bars were fetched again");
        assert_eq!(
            raptor_store::market::count_bars(t.db(), "AAPL", raptor_domain::Timeframe::Min1)
                .await
                .expect("count"),
            250
        );
        app.stop().await;
    }
);
