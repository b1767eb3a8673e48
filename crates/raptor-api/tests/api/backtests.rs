//! Backtests over real HTTP on both dialects, checked against the engine on the same bars.

use crate::sweeps::work;
use chrono::{DateTime, Duration, Utc};
use raptor_domain::backtest::{self, Bar, Commission, Config, Direction, Execution, Strategy};
use raptor_domain::Timeframe;
use raptor_testkit::{accounts, assert_problem, dual_test, TestApp};
use serde_json::{json, Value};

fn closes() -> Vec<f64> {
    // A deterministic zig-zag with a trend, so crossovers happen.
    (0..120)
        .map(|i| 100.0 + (i as f64) * 0.2 + 8.0 * ((i as f64) / 6.0).sin())
        .collect()
}

/// The zig-zag as daily bars from 2026-01-05: (time, open, high, low, close).
fn daily_bars() -> Vec<(DateTime<Utc>, f64, f64, f64, f64)> {
    let start: DateTime<Utc> = "2026-01-05T05:00:00Z".parse().expect("time");
    closes()
        .iter()
        .enumerate()
        .map(|(i, c)| (start + Duration::days(i as i64), *c, c + 1.0, c - 1.0, *c))
        .collect()
}

dual_test!(
    a_backtest_runs_over_stored_bars_and_is_stored_with_its_trades,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        let bars = daily_bars();
        t.put_bars("SPY", Timeframe::Day1, bars.clone()).await;
        // The benchmark: AAPL rising 1 a day from 50.
        let held: Vec<_> = bars
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let c = 50.0 + i as f64;
                (b.0, c, c, c, c)
            })
            .collect();
        t.put_bars("AAPL", Timeframe::Day1, held.clone()).await;

        let request = json!({
            "symbol": "spy", "timeframe": "1Day", "start": "2026-01-01T00:00:00Z", "end": "2026-12-31T00:00:00Z",
            "strategy": { "type": "sma_crossover", "fast": 5, "slow": 20 }, "initial_cash": "10000",
            "execution": { "commission": { "type": "percent", "rate": 0.1, "minimum": 1 },
                           "slippage_bps": 5, "direction": "long_short" },
            "benchmark": "aapl"
        });
        let reply = trader.post("/api/backtests", request).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);

        let execution = Execution {
            commission: Commission::Percent {
                rate: 0.1,
                minimum: 1.0,
            },
            slippage_bps: 5.0,
            direction: Direction::LongShort,
            ..Execution::default()
        };
        let expected = backtest::run(
            &engine_bars(&bars),
            &Strategy::SmaCrossover { fast: 5, slow: 20 },
            &Config {
                initial_cash: 10_000.0,
                periods_per_year: 252.0,
                execution,
            },
        )
        .expect("engine");
        let versus = backtest::compare(
            "AAPL",
            &expected.equity_curve,
            expected.metrics.total_return,
            &engine_bars(&held),
            252.0,
        )
        .expect("compared");
        let metrics = &reply.body["metrics"];
        assert_eq!(metrics["trades"], expected.metrics.trades);
        assert!(expected.metrics.trades > 1, "the series should trade");
        assert_eq!(metrics["total_return"], expected.metrics.total_return);
        assert_eq!(metrics["fees"], expected.metrics.fees);
        assert!(expected.metrics.fees > 0.0);
        assert_eq!(
            metrics["benchmark"],
            json!({ "symbol": "AAPL", "total_return": versus.total_return,
                    "excess_return": versus.excess_return, "beta": versus.beta,
                    "alpha": versus.alpha })
        );
        assert_eq!(reply.body["execution"], json!(execution));
        let sides: Vec<_> = reply.body["trades"]
            .as_array()
            .expect("trades")
            .iter()
            .map(|t| t["side"].clone())
            .collect();
        assert!(sides.contains(&json!("short")), "{sides:?}");
        assert_eq!(metrics["periods_per_year"], 252.0);
        assert_eq!(metrics["bars_processed"], 120);
        assert!(reply.body["equity_curve"]
            .as_array()
            .is_some_and(|c| !c.is_empty()));

        let id = reply.body["id"].as_i64().expect("id");
        let stored = trader.get(&format!("/api/backtests/{id}")).await.body;
        assert_eq!(
            stored["metrics"]["total_return"],
            expected.metrics.total_return
        );
        assert_eq!(stored["trade_legs"], 2 * expected.metrics.trades);
        assert_eq!(stored["execution"], json!(execution));
        // A short round trip is stored as a sale, then a purchase.
        let shorts = expected
            .trades
            .iter()
            .filter(|t| t.side == backtest::TradeSide::Short)
            .count();
        let first_leg_sells = t
            .scalar(
                "SELECT count(*) FROM backtest_trades b WHERE side = 'sell' AND realized_pl IS NULL",
            )
            .await;
        assert_eq!(first_leg_sells, i64::try_from(shorts).expect("small"));
        assert_eq!(
            trader.get("/api/backtests").await.body["backtests"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        let mut other = accounts::customer(&app, "eve@example.com").await;
        assert_eq!(other.get(&format!("/api/backtests/{id}")).await.status, 404);
        app.stop().await;
    }
);

dual_test!(
    bad_backtests_name_the_problem_and_store_nothing,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        let base = json!({ "symbol": "SPY", "timeframe": "1Day", "start": "2026-01-01T00:00:00Z", "end": "2026-12-31T00:00:00Z", "strategy": { "type": "buy_and_hold" } });
        let no_bars = trader.post("/api/backtests", base.clone()).await;
        assert_problem(&no_bars, 422, "no_bars");
        let cases = [
            (
                "strategy",
                json!({ "type": "sma_crossover", "fast": 30, "slow": 10 }),
                "strategy.slow",
            ),
            (
                "strategy",
                json!({ "type": "rsi_reversion", "period": 14, "lower": 70, "upper": 30 }),
                "strategy.upper",
            ),
            (
                "execution",
                json!({ "slippage_bps": -1 }),
                "execution.slippage_bps",
            ),
            (
                "execution",
                json!({ "commission": { "type": "percent", "rate": 150 } }),
                "execution.commission.rate",
            ),
            (
                "execution",
                json!({ "sizing": { "type": "quantity", "qty": 0.5 } }),
                "execution.sizing.qty",
            ),
            ("benchmark", json!("ZZZZ"), "benchmark"),
            ("symbol", json!("SP\u{0}Y"), "symbol"),
            ("benchmark", json!("SP\u{0}Y"), "benchmark"),
            ("timeframe", json!("1\u{0}Day"), "timeframe"),
            ("symbol", json!("S\u{200B}PY"), "symbol"),
            ("benchmark", json!("MSFT"), "benchmark"),
            ("timeframe", json!("1Week"), "timeframe"),
            ("symbol", json!("ZZZZ"), "symbol"),
            ("end", json!("2025-01-01T00:00:00Z"), "end"),
            // Years chrono reads and SQLite compares, but PostgreSQL cannot store.
            ("start", json!("-262143-01-01T00:00:00Z"), "start"),
            ("end", json!("+262142-12-31T00:00:00Z"), "end"),
            // chrono's very last second, a leap second with no next one.
            ("end", json!("+262142-12-31T23:59:60Z"), "end"),
            ("initial_cash", json!("-5"), "initial_cash"),
            // Stored with 8 places: more would come back rounded, this one as 0.
            ("initial_cash", json!("100.123456789"), "initial_cash"),
            (
                "initial_cash",
                json!("0.0000000000000000000000000001"),
                "initial_cash",
            ),
            ("symbol", json!("S".repeat(10_000)), "symbol"),
        ];
        for (field, value, expect) in cases.clone() {
            let mut body = base.clone();
            body[field] = value;
            let reply = trader.post("/api/backtests", body).await;
            assert_eq!(
                (reply.status, reply.body["field"].as_str()),
                (422, Some(expect)),
                "{:?}",
                reply.body
            );
        }
        // Each refusal (and the run without bars) is traced for support staff, what was sent
        // kept short and storable.
        let traced = i64::try_from(cases.len() + 1).expect("count");
        assert_eq!(
            t.scalar("SELECT count(*) FROM trace_workflows").await,
            traced
        );
        let longest =
            "SELECT CAST(max(length(CAST(attributes AS TEXT))) AS BIGINT) FROM trace_workflows";
        assert!(t.scalar(longest).await < 1_000);
        // Written as no decimal is: never read as 1000.
        let mut body = base.clone();
        body["initial_cash"] = json!("1_000");
        let reply = trader.post("/api/backtests", body).await;
        let problem = assert_problem(&reply, 422, "invalid_body");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("initial_cash")),
            "{problem}"
        );
        assert_eq!(t.scalar("SELECT count(*) FROM backtests").await, 0);
        app.stop().await;
    }
);

dual_test!(
    each_backtest_leaves_a_trace_that_staff_can_read,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        t.put_bars("SPY", Timeframe::Day1, daily_bars()).await;
        let request = json!({
            "symbol": "SPY", "timeframe": "1Day", "start": "2026-01-01T00:00:00Z", "end": "2026-12-31T00:00:00Z",
            "strategy": { "type": "buy_and_hold" }
        });
        let reply = trader.post("/api/backtests", request.clone()).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        let trace_id = reply.body["trace_id"]
            .as_str()
            .expect("trace id")
            .to_owned();
        let path = format!("/api/admin/traces/{trace_id}");

        // Traces are for staff.
        assert_eq!(trader.get(&path).await.status, 403);
        let mut root = accounts::admin(&app, t.db(), "root@example.com").await;
        let mut staff = accounts::support_staff(&app, &mut root, "help@example.com").await;
        let trace = staff.get(&path).await;
        assert_eq!(trace.status, 200, "{:?}", trace.body);
        assert_eq!(trace.body["name"], "backtest");
        assert_eq!(trace.body["status"], "succeeded");
        assert_eq!(trace.body["attributes"]["symbol"], "SPY");
        let steps: Vec<&str> = trace.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["name"].as_str().expect("name"))
            .collect();
        assert_eq!(steps, ["run", "store"]);
        assert_eq!(trace.body["events"][0]["attributes"]["bars"], 120);
        assert_eq!(
            trace.body["events"][1]["attributes"]["backtest_id"],
            reply.body["id"]
        );

        // A refused run is traced as failed, with the reason.
        let mut refused = request;
        refused["symbol"] = json!("NOPE");
        let reply = trader.post("/api/backtests", refused).await;
        assert_eq!(reply.status, 422, "{:?}", reply.body);
        let workflows = t
            .scalar("SELECT count(*) FROM trace_workflows WHERE status = 'failed' AND name = 'backtest'")
            .await;
        assert_eq!(workflows, 1);

        assert_eq!(
            staff.get("/api/admin/traces/backtest-unknown").await.status,
            404
        );
        app.stop().await;
    }
);

dual_test!(
    a_long_backtest_is_queued_run_by_a_worker_and_stored,
    Head,
    |t| {
        // Runs over more than 100 bars are queued here (250,000 by default).
        let app = TestApp::builder(t.db().clone())
            .inline_bars(100)
            .spawn()
            .await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        t.put_bars("SPY", Timeframe::Day1, daily_bars()).await;
        let request = json!({
            "symbol": "SPY", "timeframe": "1Day", "start": "2026-01-01T00:00:00Z", "end": "2026-12-31T00:00:00Z",
            "strategy": { "type": "rsi_reversion", "period": 5, "lower": 35, "upper": 65 },
            "execution": { "direction": "long_short" }
        });
        let reply = trader.post("/api/backtests", request.clone()).await;
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        assert_eq!(reply.body["status"], "queued");
        assert!(reply.body["job_id"].as_i64().is_some());
        let id = reply.body["id"].as_i64().expect("id");
        let waiting = trader.get(&format!("/api/backtests/{id}")).await.body;
        assert_eq!(
            (&waiting["status"], &waiting["metrics"]),
            (&json!("queued"), &Value::Null)
        );
        // Named benchmarks are checked when the run is; MSFT has no bars, so this one fails.
        let mut failing = request.clone();
        failing["benchmark"] = json!("MSFT");
        let failing = trader.post("/api/backtests", failing).await;
        assert_eq!(failing.status, 202, "{:?}", failing.body);
        let failing = failing.body["id"].as_i64().expect("id");

        work(&app).await;

        let engine = |bars: &[(DateTime<Utc>, f64, f64, f64, f64)]| {
            backtest::run(
                &engine_bars(bars),
                &Strategy::RsiReversion {
                    period: 5,
                    lower: 35.0,
                    upper: 65.0,
                },
                &Config {
                    initial_cash: 100_000.0,
                    periods_per_year: 252.0,
                    execution: Execution {
                        direction: Direction::LongShort,
                        ..Execution::default()
                    },
                },
            )
            .expect("engine")
        };
        let expected = engine(&daily_bars());
        let done = trader.get(&format!("/api/backtests/{id}")).await.body;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(
            done["metrics"]["total_return"],
            expected.metrics.total_return
        );
        assert!(expected.metrics.trades > 0);
        assert_eq!(done["trade_legs"], 2 * expected.metrics.trades);
        let failed = trader.get(&format!("/api/backtests/{failing}")).await.body;
        assert_eq!(failed["status"], "failed", "{failed}");
        assert!(
            failed["error"]
                .as_str()
                .is_some_and(|e| e.contains("MSFT has no 1Day bars")),
            "{failed}"
        );

        // The worker kept the bars it loaded: the same run again answers at once.
        let again = trader.post("/api/backtests", request.clone()).await;
        assert_eq!(again.status, 201, "{:?}", again.body);
        assert_eq!(
            again.body["metrics"]["total_return"],
            expected.metrics.total_return
        );
        // Against a benchmark whose bars it does not hold, the run has them to load: queued;
        // once a worker has, they are held too.
        let rising: Vec<_> = daily_bars()
            .iter()
            .enumerate()
            .map(|(i, b)| {
                (
                    b.0,
                    50.0 + i as f64,
                    51.0 + i as f64,
                    49.0 + i as f64,
                    50.0 + i as f64,
                )
            })
            .collect();
        t.put_bars("AAPL", Timeframe::Day1, rising).await;
        let mut against = request.clone();
        against["benchmark"] = json!("AAPL");
        let first = trader.post("/api/backtests", against.clone()).await;
        assert_eq!(first.status, 202, "{:?}", first.body);
        work(&app).await;
        let second = trader.post("/api/backtests", against).await;
        assert_eq!(second.status, 201, "{:?}", second.body);
        assert_eq!(second.body["metrics"]["benchmark"]["symbol"], "AAPL");
        // Bars imported again (as another process would) are read afresh: queued, as first.
        let reimported: Vec<_> = daily_bars()
            .into_iter()
            .map(|(t, o, h, l, c)| (t, 300.0 - o, 300.0 - l, 300.0 - h, 300.0 - c))
            .collect();
        t.put_bars("SPY", Timeframe::Day1, reimported.clone()).await;
        let fresh = trader.post("/api/backtests", request).await;
        assert_eq!(fresh.status, 202, "{:?}", fresh.body);
        let fresh = fresh.body["id"].as_i64().expect("id");
        work(&app).await;
        let expected = engine(&reimported);
        assert_ne!(
            expected.metrics.total_return,
            done["metrics"]["total_return"]
        );
        let fresh = trader.get(&format!("/api/backtests/{fresh}")).await.body;
        assert_eq!(fresh["status"], "succeeded", "{fresh}");
        assert_eq!(
            fresh["metrics"]["total_return"],
            expected.metrics.total_return
        );
        app.stop().await;
    }
);

fn engine_bars(bars: &[(DateTime<Utc>, f64, f64, f64, f64)]) -> Vec<Bar> {
    bars.iter()
        .map(|&(t, open, high, low, close)| Bar {
            t,
            open,
            high,
            low,
            close,
            volume: 100.0,
        })
        .collect()
}

dual_test!(
    a_portfolio_runs_one_strategy_on_each_symbol_with_equal_cash,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        let spy = daily_bars();
        // AAPL: the same days from the 20th on, falling 0.5 a day from 200.
        let aapl: Vec<_> = spy[20..]
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let c = 200.0 - 0.5 * i as f64;
                (b.0, c + 0.25, c + 1.0, c - 1.0, c)
            })
            .collect();
        t.put_bars("SPY", Timeframe::Day1, spy.clone()).await;
        t.put_bars("AAPL", Timeframe::Day1, aapl.clone()).await;
        let body = json!({
            "symbols": ["spy", "AAPL"], "timeframe": "1Day", "start": "2026-01-01T00:00:00Z",
            "end": "2026-12-31T00:00:00Z", "initial_cash": "20000",
            "strategy": { "type": "sma_crossover", "fast": 3, "slow": 10 },
            "execution": { "commission": { "type": "per_share", "rate": 0.01, "minimum": 1 } }
        });
        let reply = trader.post("/api/backtests/portfolios", body.clone()).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);

        let config = |cash: f64| Config {
            initial_cash: cash,
            periods_per_year: 252.0,
            execution: Execution {
                commission: Commission::PerShare {
                    rate: 0.01,
                    minimum: 1.0,
                },
                ..Execution::default()
            },
        };
        let strategy = Strategy::SmaCrossover { fast: 3, slow: 10 };
        let runs = [
            backtest::run(&engine_bars(&spy), &strategy, &config(10_000.0)).expect("runs"),
            backtest::run(&engine_bars(&aapl), &strategy, &config(10_000.0)).expect("runs"),
        ];
        let portfolio = backtest::combine(&[&runs[0], &runs[1]], &config(20_000.0));
        let legs = reply.body["symbols"].as_array().expect("legs");
        for (leg, (symbol, run)) in legs.iter().zip([("SPY", &runs[0]), ("AAPL", &runs[1])]) {
            assert_eq!(
                (&leg["symbol"], &leg["initial_cash"]),
                (&json!(symbol), &json!("10000"))
            );
            assert_eq!(leg["metrics"]["total_return"], run.metrics.total_return);
            assert_eq!(
                leg["trades"].as_array().map(Vec::len),
                Some(run.trades.len())
            );
        }
        let total = &reply.body["portfolio"]["metrics"];
        assert_eq!(total["total_return"], portfolio.metrics.total_return);
        assert_eq!(total["fees"], portfolio.metrics.fees);
        assert_eq!(total["bars_processed"], 120);
        // The default benchmark, SPY, has bars: the portfolio is compared with it.
        assert_eq!(total["benchmark"]["symbol"], "SPY");

        for (symbols, field) in [
            (json!([]), "symbols"),
            (json!(["SPY", "spy"]), "symbols"),
            (json!(["SPY", "ZZZZ"]), "symbols"),
        ] {
            let mut bad = body.clone();
            bad["symbols"] = symbols;
            let reply = trader.post("/api/backtests/portfolios", bad).await;
            assert_eq!(
                (reply.status, reply.body["field"].as_str()),
                (422, Some(field)),
                "{:?}",
                reply.body
            );
        }
        let mut empty = body;
        empty["symbols"] = json!(["SPY", "MSFT"]);
        assert_problem(
            &trader.post("/api/backtests/portfolios", empty).await,
            422,
            "no_bars",
        );
        app.stop().await;
    }
);

dual_test!(
    a_backtest_answers_its_range_as_both_databases_store_it,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        t.put_bars("SPY", Timeframe::Day1, daily_bars()).await;
        // Nanoseconds and a leap second: PostgreSQL keeps microseconds and reads 23:59:60 as
        // the next minute; SQLite would keep the text as sent.
        let request = json!({
            "symbol": "SPY", "timeframe": "1Day", "start": "2025-12-31T23:59:60Z",
            "end": "2026-12-30T00:00:00.123456789Z", "strategy": { "type": "buy_and_hold" }
        });
        let reply = trader.post("/api/backtests", request).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        let range = |body: &Value| (body["start"].clone(), body["end"].clone());
        let stored_form = (
            json!("2026-01-01T00:00:00Z"),
            json!("2026-12-30T00:00:00.123456Z"),
        );
        assert_eq!(range(&reply.body), stored_form);
        let id = reply.body["id"].as_i64().expect("id");
        let stored = trader.get(&format!("/api/backtests/{id}")).await.body;
        assert_eq!(range(&stored), stored_form);
        app.stop().await;
    }
);
