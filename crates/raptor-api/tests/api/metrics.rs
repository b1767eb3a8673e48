//! `/metrics` as Prometheus reads it: off without a token, refused without the right one, and
//! with it an exposition that the Prometheus project's own parsers accept, whose counters
//! move by exactly the requests, sign-ins, orders and jobs made — on both databases.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use chrono::{Duration, Utc};
use raptor_app::jobs::{Handler, JobError, JobFuture, Registry, Worker, WorkerConfig};
use raptor_app::trading::match_symbol;
use raptor_app::App;
use raptor_domain::Timeframe;
use raptor_store::jobs::{self, NewJob};
use raptor_testkit::{
    assert_problem, dual_app_test, dual_test, python, Browser, Reply, SoftAuthenticator, TestApp,
};
use serde_json::{json, Value};

const TOKEN: &str = "scrape-me-3f9a";

/// GETs `/metrics` with `authorization` (if any) as a plain client would.
async fn scrape_with(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url("/metrics"));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    request.send().await.expect("a /metrics answer")
}

async fn reply_of(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

/// One scrape, parsed by `scripts/python/parse_metrics.py` (prometheus-client's OpenMetrics
/// and text-format parsers): every sample as `(name, labels, value)`, and each family's type.
#[derive(Debug)]
struct Scrape(Vec<(String, Value, f64)>, HashMap<String, String>);

impl Scrape {
    async fn take(app: &TestApp) -> Self {
        let response = scrape_with(app, Some(&format!("Bearer {TOKEN}"))).await;
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
        let text = response.text().await.expect("the exposition");
        Self::parse(&text)
    }

    fn parse(text: &str) -> Self {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/python/parse_metrics.py");
        let mut child = Command::new(python::tool("python"))
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the parser");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("feed the parser");
        let out = child.wait_with_output().expect("the parser ends");
        assert!(
            out.status.success(),
            "the Prometheus parsers refused the exposition: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        let families: Value = serde_json::from_slice(&out.stdout).expect("the parser's JSON");
        let mut samples = Vec::new();
        let mut types = HashMap::new();
        for family in families.as_array().expect("families") {
            types.insert(
                family["name"].as_str().expect("name").to_owned(),
                family["type"].as_str().expect("type").to_owned(),
            );
            for sample in family["samples"].as_array().expect("samples") {
                samples.push((
                    sample["name"].as_str().expect("name").to_owned(),
                    sample["labels"].clone(),
                    sample["value"].as_f64().expect("a number"),
                ));
            }
        }
        Self(samples, types)
    }

    /// The value of the sample `name` whose labels include `labels` (0 when there is none).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = self
            .0
            .iter()
            .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l[*k] == *v))
            .map(|(_, _, value)| *value)
            .collect();
        assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
        found.first().copied().unwrap_or(0.0)
    }

    /// Every sample called `name`.
    fn all(&self, name: &str) -> impl Iterator<Item = &(String, Value, f64)> {
        let name = name.to_owned();
        self.0.iter().filter(move |(n, _, _)| *n == name)
    }
}

dual_app_test!(metrics_are_off_unless_a_token_is_configured, |t, app| {
    for authorization in [None, Some("Bearer anything")] {
        let reply = reply_of(scrape_with(app, authorization).await).await;
        assert_problem(&reply, 404, "not_found");
    }
});

dual_test!(a_scrape_without_the_right_token_is_refused, Head, |t| {
    let app = TestApp::builder(t.db().clone())
        .metrics_token(TOKEN)
        .spawn()
        .await;
    let wrong = [
        None,
        Some("Bearer wrong-token"),
        Some(&*format!("Bearer {TOKEN}x")),
        Some(&*format!("Basic {TOKEN}")),
        Some(TOKEN),
    ];
    for authorization in wrong {
        let reply = reply_of(scrape_with(&app, authorization).await).await;
        let body = assert_problem(&reply, 401, "bad_metrics_token");
        assert!(!body.to_string().contains(TOKEN), "{body}");
        assert!(
            reply.headers["www-authenticate"]
                .to_str()
                .expect("ascii")
                .starts_with("Bearer"),
            "{:?}",
            reply.headers
        );
    }
    // The scheme's name is case-insensitive; the token is not.
    for scheme in ["bearer", "BEARER"] {
        let reply = scrape_with(&app, Some(&format!("{scheme} {TOKEN}"))).await;
        assert_eq!(reply.status().as_u16(), 200, "{scheme}");
    }
    app.stop().await;
});

dual_test!(
    counters_move_by_the_requests_made_and_parse_with_the_prometheus_parsers,
    Head,
    |t| {
        let app = TestApp::builder(t.db().clone())
            .metrics_token(TOKEN)
            .spawn()
            .await;
        let before = Scrape::take(&app).await;

        for _ in 0..3 {
            assert_eq!(app.get_json("/healthz").await.0, 200);
        }
        for path in ["/no/such/page-1", "/no/such/page-2", "/wp-admin.php"] {
            let reply = app.client.get(app.url(path)).send().await.expect("answer");
            assert_eq!(reply.status(), 404);
        }

        // A sign-up, then a passkey sign-in and a refused backup code for the same account.
        let email = "ada@example.com";
        let mut passkey = SoftAuthenticator::new(app.origin());
        let mut trader = app.browser();
        let signed_up = passkey.sign_up(&mut trader, email, None).await;
        assert_eq!(signed_up.status, 200, "{:?}", signed_up.body);
        let mut again = app.browser();
        let signed_in = passkey.sign_in(&mut again, email).await;
        assert_eq!(signed_in.status, 200, "{:?}", signed_in.body);
        let refused = app
            .browser()
            .post(
                "/api/auth/backup-codes/login",
                json!({ "email": email, "code": "aaaa-bbbb" }),
            )
            .await;
        assert_problem(&refused, 401, "invalid_backup_code");

        // A market order fills at once; a limit order below the price rests.
        t.put_prices("AAPL", &[(Utc::now() - Duration::minutes(1), 190.0)])
            .await;
        place(&mut trader, json!({ "symbol": "AAPL", "qty": "2", "side": "buy", "type": "market", "time_in_force": "day" }), "filled").await;
        place(&mut trader, json!({ "symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "time_in_force": "gtc", "limit_price": "150" }), "new").await;

        // Three jobs due on one queue, one scheduled later on another; no worker runs yet.
        let now = Utc::now();
        for (queue, kind, run_at) in [
            ("reports", "test.noop", now - Duration::minutes(5)),
            ("reports", "test.broken", now - Duration::minutes(1)),
            ("reports", "test.unheard-of", now - Duration::minutes(1)),
            ("digest", "test.noop", now + Duration::hours(1)),
        ] {
            let payload = json!({});
            let job = NewJob {
                queue,
                kind,
                payload: &payload,
                max_attempts: 3,
                run_at,
                unique_key: None,
            };
            jobs::enqueue_alone(t.db(), &job, now)
                .await
                .expect("enqueue");
        }

        let after = Scrape::take(&app).await;
        let moved = |name: &str, labels: &[(&str, &str)]| {
            after.value(name, labels) - before.value(name, labels)
        };

        for (family, kind) in [
            ("raptor_http_requests", "counter"),
            ("raptor_http_request_duration_seconds", "histogram"),
            ("raptor_sign_ins", "counter"),
            ("raptor_orders_placed", "counter"),
            ("raptor_queue_jobs", "gauge"),
            ("raptor_db_begin_wait_seconds", "histogram"),
        ] {
            assert_eq!(
                after.1.get(family).map(String::as_str),
                Some(kind),
                "{family}"
            );
        }
        let requests = "raptor_http_requests_total";
        let healthz = [("route", "/healthz"), ("method", "GET"), ("status", "200")];
        assert_eq!(moved(requests, &healthz), 3.0);
        let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
        assert_eq!(moved(requests, &unmatched), 3.0);
        let scraped = [("route", "/metrics"), ("method", "GET"), ("status", "200")];
        assert_eq!(after.value(requests, &scraped), 1.0, "the first scrape");
        let orders_route = [
            ("route", "/api/orders"),
            ("method", "POST"),
            ("status", "201"),
        ];
        assert_eq!(moved(requests, &orders_route), 2.0);
        // No series names a path that no route matched: those would be a client's to mint.
        for (name, labels, _) in &after.0 {
            let text = labels.to_string();
            assert!(
                !text.contains("no/such") && !text.contains("wp-admin"),
                "{name} {text}"
            );
        }

        // Each route and method's histogram counts exactly its requests, whatever their status.
        let mut checked = 0;
        for (_, labels, count) in after.all("raptor_http_request_duration_seconds_count") {
            let (route, method) = (
                labels["route"].as_str().expect("route"),
                labels["method"].as_str().expect("method"),
            );
            let requests: f64 = after
                .all(requests)
                .filter(|(_, l, _)| l["route"] == route && l["method"] == method)
                .map(|(_, _, v)| v)
                .sum();
            assert_eq!(*count, requests, "{method} {route}");
            let infinite = after.value(
                "raptor_http_request_duration_seconds_bucket",
                &[("route", route), ("method", method), ("le", "+Inf")],
            );
            assert_eq!(infinite, *count, "{method} {route}: the +Inf bucket");
            checked += 1;
        }
        assert!(checked >= 5, "histograms seen: {checked}");

        assert_eq!(moved("raptor_sign_ups_total", &[]), 1.0);
        let passkey_ok = [("method", "passkey"), ("outcome", "success")];
        assert_eq!(moved("raptor_sign_ins_total", &passkey_ok), 1.0);
        let code_refused = [("method", "backup_code"), ("outcome", "failure")];
        assert_eq!(moved("raptor_sign_ins_total", &code_refused), 1.0);
        let market = [("side", "buy"), ("order_type", "market")];
        assert_eq!(moved("raptor_orders_placed_total", &market), 1.0);
        let limit = [("side", "buy"), ("order_type", "limit")];
        assert_eq!(moved("raptor_orders_placed_total", &limit), 1.0);
        let at_once = [("trigger", "submission")];
        assert_eq!(moved("raptor_order_fills_total", &at_once), 1.0);

        let depth = "raptor_queue_jobs";
        assert_eq!(
            after.value(depth, &[("queue", "reports"), ("state", "queued")]),
            3.0
        );
        assert_eq!(
            after.value(depth, &[("queue", "digest"), ("state", "queued")]),
            1.0
        );
        assert_eq!(
            after.value(depth, &[("queue", "reports"), ("state", "failed")]),
            0.0
        );
        let oldest = after.value("raptor_queue_oldest_ready_age_seconds", &[]);
        assert!(
            (300.0..600.0).contains(&oldest),
            "oldest ready job: {oldest} s"
        );

        let max = after.value("raptor_db_pool_max_connections", &[]);
        let open: f64 = after
            .all("raptor_db_pool_connections")
            .map(|(_, _, v)| v)
            .sum();
        assert!(max >= 1.0 && (1.0..=max).contains(&open), "{open} of {max}");
        // Nothing writes while the scrape runs: no writer waits for its turn.
        assert_eq!(after.value("raptor_db_writers_waiting", &[]), 0.0);
        let waits = moved("raptor_db_begin_wait_seconds_count", &[]);
        assert!(waits >= 4.0, "write transactions timed: {waits}");

        // A worker and the trading runtime in the same process count into the same metrics.
        let use_cases = app.use_cases();
        let registry = Registry::default()
            .with("test.noop", Finishes(true))
            .with("test.broken", Finishes(false));
        let config = WorkerConfig {
            queue: "reports",
            ..WorkerConfig::default()
        };
        let ran = Worker::new(use_cases.clone(), registry, config)
            .drain()
            .await
            .expect("drain");
        assert_eq!(ran, 2, "a kind no handler knows is not claimed");
        // A daily bar: bars of any session fill the limit, whatever the hour this test runs.
        t.put_bars(
            "AAPL",
            Timeframe::Day1,
            vec![(
                Utc::now() + Duration::minutes(1),
                151.0,
                152.0,
                149.0,
                149.5,
            )],
        )
        .await;
        let matched = match_symbol(use_cases, "AAPL").await.expect("match");
        assert_eq!(matched.filled, 1);

        let last = Scrape::take(&app).await;
        let runs = "raptor_job_runs_total";
        for (kind, outcome) in [
            ("test.noop", "succeeded"),
            ("test.broken", "permanent_error"),
        ] {
            let labels = [("kind", kind), ("outcome", outcome)];
            assert_eq!(last.value(runs, &labels), 1.0, "{kind} {outcome}");
        }
        assert_eq!(last.all(runs).count(), 2, "no other kind or outcome");
        for (state, count) in [("queued", 1.0), ("succeeded", 1.0), ("failed", 1.0)] {
            let labels = [("queue", "reports"), ("state", state)];
            assert_eq!(last.value(depth, &labels), count, "{state}");
        }
        // The job nobody handles still waits, and its age shows.
        assert!(last.value("raptor_queue_oldest_ready_age_seconds", &[]) >= 60.0);
        let by_bar = [("trigger", "bar")];
        assert_eq!(last.value("raptor_order_fills_total", &by_bar), 1.0);
        assert_eq!(last.value("raptor_order_fills_total", &at_once), 1.0);
        app.stop().await;
    }
);

/// A job handler that finishes, or fails for good.
struct Finishes(bool);

impl Handler for Finishes {
    fn run<'a>(&'a self, _: &'a App, _: &'a Value) -> JobFuture<'a> {
        let finishes = self.0;
        Box::pin(async move {
            if finishes {
                Ok(())
            } else {
                Err(JobError::Permanent("broken on purpose".to_owned()))
            }
        })
    }
}

async fn place(trader: &mut Browser, order: Value, status: &str) {
    let reply = trader.post("/api/orders", order).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.body["status"], status, "{:?}", reply.body);
}
