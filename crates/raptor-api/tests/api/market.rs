//! Market data over real HTTP on both dialects: the catalogue, ranges as trading sessions,
//! paging, validation, and fetching missing bars through a provider.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use raptor_app::market::BarSource;
use raptor_domain::calendar;
use raptor_domain::timeframe::Timeframe;
use raptor_store::market::StoredBar;
use raptor_testkit::{assert_problem, dual_test, TestApp};

fn times(body: &serde_json::Value) -> Vec<String> {
    body["bars"]
        .as_array()
        .expect("bars")
        .iter()
        .map(|b| b["t"].as_str().unwrap_or_default().to_owned())
        .collect()
}

dual_test!(symbols_are_searched_by_ticker_and_name, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let (status, body) = app.get_json("/api/symbols?query=micro").await;
    assert_eq!(status, 200);
    assert_eq!(body["symbols"][0]["symbol"], "MSFT");
    let (_, body) = app.get_json("/api/symbols?query=spy").await;
    assert_eq!(
        body["symbols"][0]["symbol"], "SPY",
        "an exact ticker comes first"
    );
    assert_eq!(app.get_json("/api/symbols?limit=0").await.0, 422);
    app.stop().await;
});

dual_test!(
    a_one_day_range_is_the_latest_session_in_regular_hours,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let sessions = calendar::last_sessions(Utc::now(), 2);
        let (earlier, latest) = (sessions[0], sessions[1]);
        let mut prices = vec![
            (earlier.open, 10.0),
            (latest.open, 11.0),
            (latest.open + Duration::minutes(1), 12.0),
        ];
        prices.push((latest.open - Duration::minutes(30), 10.5)); // pre-market
        t.put_prices("AAPL", &prices).await;

        let (status, body) = app
            .get_json("/api/historical-data/aapl?range=1d&timeframe=1Min")
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["symbol"], "AAPL");
        assert_eq!(times(&body).len(), 2, "{body}");
        assert_eq!(body["bars"][0]["o"], 11.0);
        let (_, extended) = app
            .get_json("/api/historical-data/AAPL?range=1d&timeframe=1Min&extended_hours=true")
            .await;
        assert_eq!(times(&extended).len(), 3);
        let (_, five) = app
            .get_json("/api/historical-data/AAPL?range=5d&timeframe=1Min")
            .await;
        let five = times(&five);
        assert_eq!(five.len(), 3, "{five:?}");
        assert!(five.windows(2).all(|w| w[0] < w[1]), "oldest first");
        let (_, default) = app.get_json("/api/historical-data/AAPL?range=1d").await;
        assert_eq!(default["timeframe"], "1Min", "1d defaults to minute bars");
        app.stop().await;
    }
);

dual_test!(explicit_windows_page_with_a_token, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let start: DateTime<Utc> = "2026-03-02T15:00:00Z".parse().expect("time");
    let prices: Vec<_> = (0..25)
        .map(|i| (start + Duration::minutes(i), 100.0 + i as f64))
        .collect();
    t.put_prices("AAPL", &prices).await;
    let base = "/api/historical-data/AAPL?timeframe=1Min&start=2026-03-02T15:00:00Z&end=2026-03-02T16:00:00Z&limit=10";
    let (_, first) = app.get_json(base).await;
    assert_eq!(times(&first).len(), 10);
    let token = first["next_page_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let (_, second) = app.get_json(&format!("{base}&page_token={token}")).await;
    assert_eq!(second["bars"][0]["c"], 110.0);
    let token = second["next_page_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let (_, last) = app.get_json(&format!("{base}&page_token={token}")).await;
    assert_eq!(
        (times(&last).len(), last["next_page_token"].is_null()),
        (5, true)
    );
    // A date is its midnight UTC.
    let (status, by_date) = app
        .get_json(
            "/api/historical-data/AAPL?timeframe=1Min&start=2026-03-02&end=2026-03-02T15:25:00Z",
        )
        .await;
    assert_eq!((status, times(&by_date).len()), (200, 25), "{by_date}");
    app.stop().await;
});

dual_test!(bad_market_data_requests_name_what_is_accepted, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let unknown = app
        .browser()
        .get("/api/historical-data/ZZZZ?range=1d")
        .await;
    assert_problem(&unknown, 404, "not_found");
    let (status, body) = app.get_json("/api/historical-data/AAPL?range=2d").await;
    assert_eq!((status, body["field"].as_str()), (400, Some("range")));
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("1d, 5d, 1m, 3m, 6m, 1y, 5y"),
        "{body}"
    );
    let (status, body) = app
        .get_json("/api/historical-data/AAPL?timeframe=2Min")
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("timeframe")));
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("1Min, 5Min, 15Min, 1Hour, 1Day"),
        "{body}"
    );
    let (status, _) = app
        .get_json("/api/historical-data/AAPL?range=1d&start=2026-01-01T00:00:00Z")
        .await;
    assert_eq!(status, 400);
    let (status, body) = app
        .get_json("/api/historical-data/AAPL?start=yesterday")
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("start")));
    // Years PostgreSQL cannot store, or that SQLite would compare as text.
    for bad in ["start=-5000-01-01", "end=%2B10000-01-01T00:00:00Z"] {
        let (status, body) = app
            .get_json(&format!("/api/historical-data/AAPL?timeframe=1Day&{bad}"))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    app.stop().await;
});

/// A provider that serves fixed bars and counts its calls.
#[derive(Debug, Default)]
struct CountingSource {
    calls: AtomicUsize,
}

impl BarSource for CountingSource {
    fn fetch<'a>(
        &'a self,
        _symbol: &'a str,
        _timeframe: Timeframe,
        start: DateTime<Utc>,
        _end: DateTime<Utc>,
        _limit: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<StoredBar>, String>> + Send + 'a>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let bars = (0..3)
            .map(|i| StoredBar {
                ts: start + Duration::days(i),
                open: 1.0,
                high: 2.0,
                low: 0.5,
                close: 1.5,
                volume: 10.0,
                trade_count: Some(3),
                vwap: Some(1.2),
            })
            .collect();
        Box::pin(async move { Ok(bars) })
    }
}

dual_test!(
    missing_bars_are_fetched_stored_and_then_served_from_the_store,
    Head,
    |t| {
        let source = Arc::new(CountingSource::default());
        let app = TestApp::builder(t.db().clone())
            .bar_source(source.clone())
            .spawn()
            .await;
        let url = "/api/historical-data/MSFT?timeframe=1Day&start=2026-02-02T05:00:00Z&end=2026-02-09T05:00:00Z";
        let (status, first) = app.get_json(url).await;
        assert_eq!((status, times(&first).len()), (200, 3), "{first}");
        assert_eq!(first["bars"][0]["n"], 3);
        let (_, second) = app.get_json(url).await;
        assert_eq!(times(&second), times(&first));
        assert_eq!(
            source.calls.load(Ordering::SeqCst),
            1,
            "stored bars were fetched again"
        );
        assert_eq!(
            raptor_store::market::count_bars(t.db(), "MSFT", raptor_domain::Timeframe::Day1)
                .await
                .expect("count"),
            3
        );
        app.stop().await;
    }
);

dual_test!(
    control_characters_in_a_symbol_or_query_are_refused_not_a_500,
    Head,
    |t| {
        // PostgreSQL refuses a NUL byte in text that SQLite stores; these routes need no sign-in.
        let app = TestApp::spawn(t.db().clone()).await;
        let mut visitor = app.browser();
        let search = visitor.get("/api/symbols?query=%00AA").await;
        assert_eq!(
            assert_problem(&search, 422, "invalid_field")["field"],
            "query"
        );
        let bell = visitor.get("/api/symbols?query=AA%07").await;
        assert_eq!(
            assert_problem(&bell, 422, "invalid_field")["field"],
            "query"
        );
        let history = visitor.get("/api/historical-data/AAPL%00?range=1d").await;
        assert_eq!(
            assert_problem(&history, 400, "invalid_parameter")["field"],
            "symbol"
        );
        let plain = visitor.get("/api/symbols?query=AA").await;
        assert_eq!(plain.status, 200, "{:?}", plain.body);
        app.stop().await;
    }
);

/// One GET with an optional `If-None-Match`: status, `ETag`, `Cache-Control`, body.
async fn get_page(
    app: &TestApp,
    path: &str,
    if_none_match: Option<&str>,
) -> (u16, String, String, String) {
    let mut request = reqwest::Client::new().get(app.url(path));
    if let Some(tag) = if_none_match {
        request = request.header("If-None-Match", tag);
    }
    let response = request.send().await.expect("request");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
            .unwrap_or_default()
    };
    let (etag, cache_control) = (header("etag"), header("cache-control"));
    let status = response.status().as_u16();
    (
        status,
        etag,
        cache_control,
        response.text().await.expect("body"),
    )
}

dual_test!(
    a_page_revalidates_by_its_etag_on_every_server_until_its_bars_are_written,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let start: DateTime<Utc> = "2026-03-02T15:00:00Z".parse().expect("time");
        t.put_prices(
            "AAPL",
            &[(start, 10.0), (start + Duration::minutes(1), 11.0)],
        )
        .await;
        let path = "/api/historical-data/AAPL?timeframe=1Min\
                    &start=2026-03-02T15:00:00Z&end=2026-03-02T16:00:00Z";

        let (status, etag, cache_control, body) = get_page(&app, path, None).await;
        assert_eq!(status, 200, "{body}");
        assert!(etag.starts_with('"') && etag.len() > 2, "{etag:?}");
        assert_eq!(cache_control, "public, max-age=300", "a closed window");
        let (status, same, _, body) = get_page(&app, path, Some(&etag)).await;
        assert_eq!((status, body.as_str()), (304, ""));
        assert_eq!(same, etag);
        let (status, ..) = get_page(&app, path, Some("\"something-else\"")).await;
        assert_eq!(status, 200);
        // A time finer than the databases keep names the same window, not a page of its own.
        let finer = path.replace("15:00:00Z", "15:00:00.0000001Z");
        let (status, finer_etag, _, finer_body) = get_page(&app, &finer, None).await;
        assert_eq!((status, finer_etag.as_str()), (200, etag.as_str()));
        let finer_body: serde_json::Value = serde_json::from_str(&finer_body).expect("json");
        assert_eq!(times(&finer_body).len(), 2, "{finer_body}");
        // A range moves with the clock: revalidated, never reused unasked.
        let (status, _, cache_control, _) =
            get_page(&app, "/api/historical-data/AAPL?range=5d", None).await;
        assert_eq!((status, cache_control.as_str()), (200, "public, no-cache"));

        // Another writer (here the store itself, as another process would) corrects a bar.
        t.put_prices("AAPL", &[(start, 12.5)]).await;
        let (status, fresh, _, body) = get_page(&app, path, Some(&etag)).await;
        assert_eq!(status, 200, "the old tag no longer names the content");
        assert_ne!(fresh, etag);
        let body: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            body["bars"][0]["o"], 12.5,
            "the corrected bar, not a kept page"
        );

        // A second server over the same database names the same content the same way.
        let other = TestApp::spawn(t.db().clone()).await;
        let (status, ..) = get_page(&other, path, Some(&fresh)).await;
        assert_eq!(status, 304);

        // A window still open must be revalidated before reuse.
        let now = Utc::now();
        let open = format!(
            "/api/historical-data/AAPL?timeframe=1Min&start={}&end={}",
            (now - Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ"),
            (now + Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ"),
        );
        let (status, _, cache_control, _) = get_page(&app, &open, None).await;
        assert_eq!((status, cache_control.as_str()), (200, "public, no-cache"));
        other.stop().await;
        app.stop().await;
    }
);
