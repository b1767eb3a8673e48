//! Parameter sweeps over real HTTP on both dialects: queued (202), run by a worker, ranked,
//! checked against single runs of the engine; progress and ETA as a worker records them;
//! cancel; bad grids refused with nothing queued.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use raptor_app::jobs::{self, Worker, WorkerConfig};
use raptor_app::FixedClock;
use raptor_domain::backtest::{self, Bar, Config, Execution, Strategy};
use raptor_domain::Timeframe;
use raptor_store::backtest_sweeps;
use raptor_testkit::{accounts, assert_problem, dual_test, Browser, TestApp};
use serde_json::{json, Value};

/// 160 daily bars from 2026-01-05, a zig-zag with a trend: (time, open, high, low, close).
fn daily_bars() -> Vec<(DateTime<Utc>, f64, f64, f64, f64)> {
    let start: DateTime<Utc> = "2026-01-05T05:00:00Z".parse().expect("time");
    (0..160)
        .map(|i| {
            let c = 100.0 + f64::from(i) * 0.2 + 8.0 * (f64::from(i) / 6.0).sin();
            let o = c - 0.5 * (f64::from(i) / 3.0).cos();
            (
                start + Duration::days(i64::from(i)),
                o,
                c.max(o) + 1.0,
                c.min(o) - 1.0,
                c,
            )
        })
        .collect()
}

fn sweep(grid: Value) -> Value {
    json!({ "symbol": "SPY", "timeframe": "1Day", "start": "2026-01-01T00:00:00Z",
            "end": "2026-12-31T00:00:00Z", "strategy": "sma_crossover", "grid": grid,
            "initial_cash": "10000", "execution": { "slippage_bps": 5 } })
}

async fn queued(trader: &mut Browser, body: Value) -> Value {
    let reply = trader.post("/api/backtests/sweeps", body).await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    reply.body
}

/// Runs the backtest queue's jobs until none is left; how many ran.
pub(crate) async fn work(app: &TestApp) -> usize {
    Worker::new(
        app.use_cases().clone(),
        jobs::standard(),
        WorkerConfig {
            queue: jobs::BACKTEST_QUEUE,
            schedule: false,
            ..WorkerConfig::default()
        },
    )
    .drain()
    .await
    .expect("drain")
}

dual_test!(
    a_sweep_is_queued_run_by_a_worker_and_ranked_best_first,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        let bars = daily_bars();
        t.put_bars("SPY", Timeframe::Day1, bars.clone()).await;
        // fast 2, 4, …, 30 against slow 20 and 30: of the 30, the 7 with fast ≥ slow are not
        // run.
        let body = sweep(json!({ "fast": { "from": 2, "to": 30, "step": 2 }, "slow": [20, 30] }));
        let queued = queued(&mut trader, body).await;
        assert_eq!(
            (&queued["status"], &queued["total"], &queued["done"]),
            (&json!("queued"), &json!(23), &json!(0))
        );
        assert!(queued["job_id"].as_i64().is_some(), "{queued}");
        let id = queued["id"].as_i64().expect("id");

        assert!(work(&app).await >= 1);
        let done = trader
            .get(&format!("/api/backtests/sweeps/{id}"))
            .await
            .body;
        assert_eq!(
            (&done["status"], &done["done"], &done["eta_seconds"]),
            (&json!("succeeded"), &json!(23), &Value::Null),
            "{done}"
        );
        let results = done["results"].as_array().expect("results");
        assert_eq!(results.len(), 23);

        // Each result is what a single run of its strategy gives; ranks follow Sharpe.
        let engine_bars: Vec<Bar> = bars
            .iter()
            .map(|&(t, open, high, low, close)| Bar {
                t,
                open,
                high,
                low,
                close,
                volume: 0.0,
            })
            .collect();
        let config = Config {
            initial_cash: 10_000.0,
            periods_per_year: 252.0,
            execution: Execution {
                slippage_bps: 5.0,
                ..Execution::default()
            },
        };
        let mut sharpes = Vec::new();
        for (k, result) in results.iter().enumerate() {
            assert_eq!(result["rank"], k + 1);
            let strategy: Strategy =
                serde_json::from_value(result["strategy"].clone()).expect("a strategy");
            let single = backtest::run(&engine_bars, &strategy, &config).expect("runs");
            assert_eq!(
                result["metrics"]["total_return"], single.metrics.total_return,
                "{strategy:?}"
            );
            sharpes.push(single.metrics.sharpe.unwrap_or(f64::NEG_INFINITY));
        }
        assert!(
            sharpes.windows(2).all(|w| w[0] >= w[1]),
            "best first: {sharpes:?}"
        );
        let listed = trader.get("/api/backtests/sweeps").await.body;
        assert_eq!(listed["sweeps"][0]["id"], id);
        let mut other = accounts::customer(&app, "eve@example.com").await;
        assert_eq!(
            other
                .get(&format!("/api/backtests/sweeps/{id}"))
                .await
                .status,
            404
        );
        app.stop().await;
    }
);

dual_test!(
    a_sweep_reports_progress_and_an_eta_and_stops_when_canceled,
    Head,
    |t| {
        let t0: DateTime<Utc> = "2026-12-01T15:00:00Z".parse().expect("time");
        let clock = Arc::new(FixedClock::new(t0));
        let app = TestApp::builder(t.db().clone())
            .clock(clock.clone())
            .spawn()
            .await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        t.put_bars("SPY", Timeframe::Day1, daily_bars()).await;
        let body = sweep(json!({ "fast": [2, 4, 6, 8, 10], "slow": [20, 30] }));
        let id = queued(&mut trader, body).await["id"].as_i64().expect("id");
        // A worker begins it and has run 4 of 10 combinations after 8 seconds.
        let db = t.db();
        assert!(backtest_sweeps::start(db, id, t0).await.expect("start"));
        assert!(backtest_sweeps::progress(db, id, 4)
            .await
            .expect("progress"));
        clock.set(t0 + Duration::seconds(8));
        let running = trader
            .get(&format!("/api/backtests/sweeps/{id}"))
            .await
            .body;
        assert_eq!(
            (&running["status"], &running["done"], &running["total"]),
            (&json!("running"), &json!(4), &json!(10))
        );
        // 2 s a combination, 6 to go.
        assert_eq!(running["eta_seconds"], 12.0);

        let canceled = trader.delete(&format!("/api/backtests/sweeps/{id}")).await;
        assert_eq!(canceled.status, 200, "{:?}", canceled.body);
        assert_eq!(canceled.body["status"], "canceled");
        // The worker's next progress report learns it must stop, and a worker that picks the
        // job up again runs nothing.
        assert!(!backtest_sweeps::progress(db, id, 5)
            .await
            .expect("progress"));
        assert!(!backtest_sweeps::start(db, id, t0).await.expect("start"));
        let again = trader.delete(&format!("/api/backtests/sweeps/{id}")).await;
        assert_problem(&again, 409, "sweep_ended");

        // A sweep canceled before any worker took it: its job is canceled too.
        let body = sweep(json!({ "fast": [5], "slow": [20] }));
        let waiting = queued(&mut trader, body).await;
        let id = waiting["id"].as_i64().expect("id");
        assert_eq!(
            trader
                .delete(&format!("/api/backtests/sweeps/{id}"))
                .await
                .status,
            200
        );
        // Neither job is left for a worker.
        assert_eq!(
            t.scalar(
                "SELECT count(*) FROM job_queue WHERE kind = 'backtest.sweep' AND status = 'canceled'"
            )
            .await,
            2
        );
        work(&app).await;
        let after = trader
            .get(&format!("/api/backtests/sweeps/{id}"))
            .await
            .body;
        assert_eq!(
            (&after["status"], &after["done"], &after["results"]),
            (&json!("canceled"), &json!(0), &Value::Null)
        );

        // A sweep whose job an operator canceled does not wait forever: upkeep ends it.
        let orphan = queued(&mut trader, sweep(json!({ "fast": [5], "slow": [20] }))).await;
        let job = orphan["job_id"].as_i64().expect("job");
        assert!(raptor_store::jobs::cancel(t.db(), job, t0)
            .await
            .expect("cancel"));
        raptor_app::upkeep::sweep_expired(app.use_cases())
            .await
            .expect("upkeep");
        let path = format!("/api/backtests/sweeps/{}", orphan["id"]);
        let ended = trader.get(&path).await.body;
        assert_eq!(ended["status"], "failed", "{ended}");

        // At most three sweeps wait or run at once for a user, also when asked for at once.
        let replies = futures_util::future::join_all((0..8).map(|_| {
            let mut racer = trader.clone();
            async move {
                racer
                    .post(
                        "/api/backtests/sweeps",
                        sweep(json!({ "fast": [5], "slow": [20] })),
                    )
                    .await
            }
        }))
        .await;
        let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 202).count(),
            3,
            "{statuses:?}"
        );
        for refused in replies.iter().filter(|r| r.status != 202) {
            assert_problem(refused, 409, "too_many_queued");
        }
        app.stop().await;
    }
);

dual_test!(bad_sweeps_name_the_problem_and_queue_nothing, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let mut trader = accounts::customer(&app, "ada@example.com").await;
    t.put_bars("SPY", Timeframe::Day1, daily_bars()).await;
    let cases = [
        (json!({ "fast": [30], "slow": [20] }), "grid"),
        (json!({ "fast": [5] }), "grid"),
        (json!({ "fast": [5], "slow": [20], "wobble": [1] }), "grid"),
        (
            json!({ "fast": { "from": 5, "to": 1, "step": 1 }, "slow": [20] }),
            "grid",
        ),
        (
            json!({ "fast": { "from": 1, "to": 5, "step": 0 }, "slow": [20] }),
            "grid",
        ),
        (
            json!({ "fast": { "from": 1, "to": 200, "step": 1 }, "slow": { "from": 201, "to": 300, "step": 1 } }),
            "grid",
        ),
        (json!({ "fast": [-5], "slow": [20] }), "grid"),
        (
            json!({ "fast": { "from": -5_000_000_000_000_000_000_i64,
                              "to": 5_000_000_000_000_000_000_i64, "step": 100_000_000 },
                    "slow": [20] }),
            "grid",
        ),
        (json!({ "fast": [2.5], "slow": [20] }), "grid"),
    ];
    for (grid, field) in cases {
        let reply = trader
            .post("/api/backtests/sweeps", sweep(grid.clone()))
            .await;
        assert_eq!(
            (reply.status, reply.body["field"].as_str()),
            (422, Some(field)),
            "{grid}: {:?}",
            reply.body
        );
    }
    for (key, value, field) in [
        ("symbol", json!("ZZZZ"), "symbol"),
        ("symbol", json!("SP\u{0}Y"), "symbol"),
        ("strategy", json!("sma\u{0}crossover"), "grid"),
        (
            "execution",
            json!({ "slippage_bps": 5000 }),
            "execution.slippage_bps",
        ),
        ("end", json!("2025-01-01T00:00:00Z"), "end"),
    ] {
        let mut body = sweep(json!({ "fast": [5], "slow": [20] }));
        body[key] = value;
        let reply = trader.post("/api/backtests/sweeps", body).await;
        assert_eq!(
            (reply.status, reply.body["field"].as_str()),
            (422, Some(field)),
            "{:?}",
            reply.body
        );
    }
    assert_eq!(t.scalar("SELECT count(*) FROM backtest_sweeps").await, 0);
    assert_eq!(
        t.scalar("SELECT count(*) FROM job_queue WHERE kind = 'backtest.sweep'")
            .await,
        0
    );
    app.stop().await;
});
