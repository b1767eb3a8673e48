//! The Alpaca bar source against a local fake speaking Alpaca's wire format.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use raptor_app::alpaca::AlpacaBars;
use raptor_domain::timeframe::Timeframe;
use raptor_store::market::{self, StoredBar};
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
        .bars("AAPL", Timeframe::Min1, start, end, 10_000)
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
async fn paging_stops_once_the_bars_asked_for_are_in() {
    let fake = FakeAlpaca::start(KEY, SECRET, 100, 0).await;
    let (start, end) = window();
    let bars = client(&fake, SECRET)
        .bars("AAPL", Timeframe::Min1, start, end, 130)
        .await
        .expect("bars");
    assert_eq!(bars.len(), 130);
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "the third page is not needed");
    assert_eq!(
        requests[1].1["limit"], "30",
        "the last page asks only for what is missing"
    );
}

#[tokio::test]
async fn a_429_is_waited_out_and_retried() {
    let fake = FakeAlpaca::start(KEY, SECRET, 1000, 2).await;
    let (start, end) = window();
    let bars = client(&fake, SECRET)
        .bars("AAPL", Timeframe::Min1, start, end, 10_000)
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
        .bars("AAPL", Timeframe::Min1, start, end, 10_000)
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
        .bars(
            "AAPL",
            Timeframe::Min1,
            now - Duration::hours(1),
            now,
            10_000,
        )
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
        .bars(
            "AAPL",
            Timeframe::Min1,
            now - Duration::minutes(5),
            now,
            10_000,
        )
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
            market::count_bars(t.db(), "AAPL", Timeframe::Min1)
                .await
                .expect("count"),
            250
        );
        app.stop().await;
    }
);

async fn app_with(t: &raptor_testkit::TestDb, fake: &FakeAlpaca) -> TestApp {
    TestApp::builder(t.db().clone())
        .bar_source(Arc::new(client(fake, SECRET)))
        .spawn()
        .await
}

fn bar_times(body: &serde_json::Value) -> Vec<DateTime<Utc>> {
    body["bars"]
        .as_array()
        .expect("bars")
        .iter()
        .filter_map(|b| b["t"].as_str()?.parse().ok())
        .collect()
}

dual_test!(
    a_wide_range_fetches_only_the_pages_the_answer_needs,
    Head,
    |t| {
        // A week of minutes is 101 fake pages of 100; a page of 250 bars needs three.
        let fake = FakeAlpaca::start(KEY, SECRET, 100, 0).await;
        let app = app_with(t, &fake).await;
        let base = "/api/historical-data/AAPL?timeframe=1Min&start=2026-03-02T00:00:00Z&end=2026-03-09T00:00:00Z&limit=250";
        let (status, first) = app.get_json(base).await;
        assert_eq!(status, 200, "{first}");
        let first_times = bar_times(&first);
        assert_eq!(first_times.len(), 250);
        assert!(
            fake.requests().len() <= 3,
            "{} pages fetched for 250 bars",
            fake.requests().len()
        );
        let token = first["next_page_token"].as_str().expect("a next page");
        let (status, second) = app.get_json(&format!("{base}&page_token={token}")).await;
        assert_eq!(status, 200, "{second}");
        let second_times = bar_times(&second);
        assert_eq!(
            second_times.len(),
            250,
            "the next page is fetched through too"
        );
        assert_eq!(
            second_times[0],
            first_times[249] + Duration::minutes(1),
            "no bar is skipped or repeated between pages"
        );
        assert!(
            fake.requests().len() <= 6,
            "{} pages fetched for two pages of 250 bars",
            fake.requests().len()
        );
        assert!(
            market::count_bars(t.db(), "AAPL", Timeframe::Min1)
                .await
                .expect("count")
                <= 502,
            "only what was answered (and one bar to know there is more) is stored"
        );
        app.stop().await;
    }
);

dual_test!(
    an_empty_closed_window_is_asked_once_until_bars_are_written,
    Head,
    |t| {
        let fake = FakeAlpaca::start(KEY, SECRET, 100, 0).await;
        fake.quiet("MSFT");
        let app = app_with(t, &fake).await;
        let url = "/api/historical-data/MSFT?timeframe=1Min&start=2026-03-02T14:30:00Z&end=2026-03-02T16:30:00Z";
        let (status, body) = app.get_json(url).await;
        assert_eq!((status, bar_times(&body).len()), (200, 0), "{body}");
        assert_eq!(fake.requests().len(), 1);
        let (status, again) = app.get_json(url).await;
        assert_eq!((status, bar_times(&again).len()), (200, 0), "{again}");
        assert_eq!(fake.requests().len(), 1, "the empty window was asked again");

        // Bars imported into the window later are answered (and forget the empty record).
        let start: DateTime<Utc> = "2026-03-02T15:00:00Z".parse().expect("time");
        let imported: Vec<StoredBar> = (0..3)
            .map(|i| StoredBar {
                ts: start + Duration::minutes(i),
                open: 10.0,
                high: 11.0,
                low: 9.0,
                close: 10.5,
                volume: 100.0,
                trade_count: None,
                vwap: None,
            })
            .collect();
        let mut tx = t.db().begin().await.expect("begin");
        market::upsert_bars(&mut tx, "MSFT", Timeframe::Min1, &imported)
            .await
            .expect("import");
        tx.commit().await.expect("commit");
        let (status, after) = app.get_json(url).await;
        assert_eq!(status, 200, "{after}");
        assert_eq!(
            bar_times(&after),
            imported.iter().map(|b| b.ts).collect::<Vec<_>>()
        );
        let (from, to) = (
            "2026-03-02T14:30:00Z".parse().expect("time"),
            "2026-03-02T16:30:00Z".parse().expect("time"),
        );
        assert!(
            !market::is_known_empty(t.db(), "MSFT", Timeframe::Min1, from, to)
                .await
                .expect("read"),
            "writing bars into the window must drop its empty record"
        );
        app.stop().await;
    }
);

dual_test!(
    concurrent_requests_for_one_empty_window_ask_alpaca_once,
    Head,
    |t| {
        let fake = FakeAlpaca::start(KEY, SECRET, 100, 0).await;
        fake.quiet("SPY");
        let app = app_with(t, &fake).await;
        let url = "/api/historical-data/SPY?timeframe=1Min&start=2026-03-03T14:30:00Z&end=2026-03-03T21:00:00Z";
        let answers = futures_util::future::join_all((0..8).map(|_| app.get_json(url))).await;
        assert!(
            answers.iter().all(|(status, _)| *status == 200),
            "{answers:?}"
        );
        assert_eq!(
            fake.requests().len(),
            1,
            "concurrent requests each asked Alpaca"
        );
        app.stop().await;
    }
);

dual_test!(
    an_empty_window_reaching_into_the_present_is_asked_again,
    Head,
    |t| {
        // New bars can still arrive for a recent window: its empty answer is not remembered.
        let fake = FakeAlpaca::start(KEY, SECRET, 100, 0).await;
        fake.quiet("QQQ");
        let app = app_with(t, &fake).await;
        let start = (Utc::now() - Duration::hours(3)).format("%Y-%m-%dT%H:%M:00Z");
        let url = format!("/api/historical-data/QQQ?timeframe=1Min&start={start}");
        for _ in 0..2 {
            let (status, body) = app.get_json(&url).await;
            assert_eq!((status, bar_times(&body).len()), (200, 0), "{body}");
        }
        assert_eq!(fake.requests().len(), 2);
        app.stop().await;
    }
);

dual_test!(
    a_huge_limit_or_an_inverted_range_is_refused_before_alpaca_is_asked,
    Head,
    |t| {
        let fake = FakeAlpaca::start(KEY, SECRET, 100, 0).await;
        let app = app_with(t, &fake).await;
        let (status, body) = app
            .get_json("/api/historical-data/AAPL?timeframe=1Min&start=2020-01-01T00:00:00Z&end=2026-01-01T00:00:00Z&limit=10000000")
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some("limit")),
            "{body}"
        );
        let (status, body) = app
            .get_json("/api/historical-data/AAPL?timeframe=1Min&start=2026-03-02T00:00:00Z&end=2026-03-01T00:00:00Z")
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some("end")),
            "{body}"
        );
        assert!(fake.requests().is_empty());
        app.stop().await;
    }
);

dual_test!(
    an_operator_fetch_of_a_wide_range_stores_it_all_a_chunk_at_a_time,
    Head,
    |t| {
        // Eight days of minutes is more than one 10,000-bar chunk.
        let fake = FakeAlpaca::start(KEY, SECRET, 10_000, 0).await;
        let app =
            raptor_app::App::new(t.db().clone()).with_bar_source(Arc::new(client(&fake, SECRET)));
        let start: DateTime<Utc> = "2026-02-01T00:00:00Z".parse().expect("time");
        let end = start + Duration::days(8);
        let done = raptor_app::market::fetch_bars(&app, "AAPL", Timeframe::Min1, start, end)
            .await
            .expect("fetched");
        assert_eq!(done.fetched, 8 * 24 * 60);
        assert_eq!(
            market::count_bars(t.db(), "AAPL", Timeframe::Min1)
                .await
                .expect("count"),
            8 * 24 * 60
        );
        let requests = fake.requests();
        assert_eq!(requests.len(), 2, "one request per chunk");
        assert_eq!(requests[1].1["start"], "2026-02-07T22:39:01Z");
    }
);
