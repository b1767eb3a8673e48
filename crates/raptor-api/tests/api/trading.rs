//! Paper trading over real HTTP on both dialects: fills, cash and positions move exactly,
//! resting orders fill when bars cross them, and concurrent orders never share cash.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use raptor_app::trading::match_symbol;
use raptor_app::{App, FixedClock};
use raptor_domain::Timeframe;
use raptor_testkit::{accounts, assert_problem, dual_test, Browser, TestApp, TestDb};
use serde_json::{json, Value};

fn market(side: &str, qty: &str) -> Value {
    json!({ "symbol": "AAPL", "qty": qty, "side": side, "type": "market", "time_in_force": "day" })
}

fn limit(side: &str, qty: &str, price: &str) -> Value {
    json!({ "symbol": "AAPL", "qty": qty, "side": side, "type": "limit", "time_in_force": "gtc", "limit_price": price })
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

async fn price_now(t: &TestDb, price: f64) {
    t.put_prices("AAPL", &[(Utc::now() - Duration::minutes(1), price)])
        .await;
}

async fn account(trader: &mut Browser) -> Value {
    let reply = trader.get("/api/account").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

dual_test!(
    a_market_order_fills_at_the_latest_price_and_moves_cash_exactly,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        price_now(t, 190.25).await;
        let order = trader.post("/api/orders", market("buy", "10")).await;
        assert_eq!(order.status, 201, "{:?}", order.body);
        assert_eq!(order.body["status"], "filled");
        assert_eq!(order.body["filled_avg_price"], "190.25");
        assert_eq!(order.body["filled_qty"], "10");
        let acct = account(&mut trader).await;
        assert_eq!(acct["cash"], "98097.5");
        assert_eq!(acct["long_market_value"], "1902.5");
        assert_eq!(acct["equity"], "100000");
        let positions = trader.get("/api/positions").await.body;
        assert_eq!(positions[0]["qty"], "10");
        assert_eq!(positions[0]["avg_entry_price"], "190.25");
        assert_eq!(
            trader.get("/api/onboarding").await.body["steps"][2]["completed"],
            true,
            "first_order"
        );
        app.stop().await;
    }
);

dual_test!(
    resting_limit_orders_fill_when_a_new_bar_crosses_them,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        price_now(t, 190.0).await;
        let buy = trader.post("/api/orders", limit("buy", "10", "185")).await;
        assert_eq!(
            (buy.status, buy.body["status"].as_str()),
            (201, Some("new")),
            "{:?}",
            buy.body
        );
        assert_eq!(
            account(&mut trader).await["buying_power"],
            "98150",
            "the order reserves its cash"
        );

        // A bar that does not reach the limit leaves it resting; one that does fills it at the limit.
        let later = Utc::now() + Duration::minutes(1);
        t.put_bars(
            "AAPL",
            Timeframe::Min1,
            vec![(later, 189.0, 190.0, 185.5, 186.0)],
        )
        .await;
        assert_eq!(
            match_symbol(&App::new(t.db().clone()), "AAPL")
                .await
                .expect("match")
                .filled,
            0
        );
        t.put_bars(
            "AAPL",
            Timeframe::Min1,
            vec![(later + Duration::minutes(1), 186.0, 186.5, 184.0, 184.5)],
        )
        .await;
        assert_eq!(
            match_symbol(&App::new(t.db().clone()), "AAPL")
                .await
                .expect("match")
                .filled,
            1
        );
        let id = buy.body["id"].as_str().expect("id");
        let filled = trader.get(&format!("/api/orders/{id}")).await.body;
        assert_eq!(
            (
                filled["status"].as_str(),
                filled["filled_avg_price"].as_str()
            ),
            (Some("filled"), Some("185"))
        );

        let sell = trader.post("/api/orders", limit("sell", "10", "200")).await;
        assert_eq!(sell.body["status"], "new");
        t.put_bars(
            "AAPL",
            Timeframe::Min1,
            vec![(later + Duration::minutes(2), 199.0, 201.0, 198.0, 200.5)],
        )
        .await;
        match_symbol(&App::new(t.db().clone()), "AAPL")
            .await
            .expect("match");
        let acct = account(&mut trader).await;
        assert_eq!(acct["cash"], "100150", "bought 10 at 185, sold 10 at 200");
        assert_eq!(trader.get("/api/positions").await.body, json!([]));
        app.stop().await;
    }
);

dual_test!(
    working_orders_cancel_once_and_filled_ones_not_at_all,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        price_now(t, 190.0).await;
        let resting = trader.post("/api/orders", limit("buy", "1", "150")).await;
        let id = resting.body["id"].as_str().expect("id").to_owned();
        let canceled = trader.delete(&format!("/api/orders/{id}")).await;
        assert_eq!(
            (canceled.status, canceled.body["status"].as_str()),
            (200, Some("canceled"))
        );
        let again = trader.delete(&format!("/api/orders/{id}")).await;
        assert_problem(&again, 422, "not_cancelable");
        let filled = trader.post("/api/orders", market("buy", "1")).await;
        let filled_id = filled.body["id"].as_str().expect("id");
        assert_eq!(
            trader
                .delete(&format!("/api/orders/{filled_id}"))
                .await
                .status,
            422
        );
        assert_eq!(trader.get("/api/orders?status=open").await.body, json!([]));
        assert_eq!(
            trader
                .get("/api/orders?status=closed")
                .await
                .body
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        let mut other = accounts::customer(&app, "eve@example.com").await;
        assert_eq!(
            other.get(&format!("/api/orders/{filled_id}")).await.status,
            404,
            "another account's order"
        );
        app.stop().await;
    }
);

dual_test!(
    a_repeated_client_order_id_returns_the_original_order,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        price_now(t, 100.0).await;
        let mut request = market("buy", "5");
        request["client_order_id"] = json!("retry-me-1");
        let first = trader.post("/api/orders", request.clone()).await;
        let second = trader.post("/api/orders", request).await;
        assert_eq!((first.status, second.status), (201, 200));
        assert_eq!(first.body["id"], second.body["id"]);
        assert_eq!(t.scalar("SELECT count(*) FROM paper_orders").await, 1);
        assert_eq!(account(&mut trader).await["cash"], "99500", "charged twice");
        app.stop().await;
    }
);

dual_test!(
    the_kill_switch_and_missing_cash_or_shares_refuse_orders,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        price_now(t, 100.0).await;
        let too_much = trader.post("/api/orders", market("buy", "1001")).await;
        assert_problem(&too_much, 403, "insufficient_buying_power");
        let short = trader.post("/api/orders", market("sell", "1")).await;
        assert_problem(&short, 403, "insufficient_qty");
        let switch = trader
            .send(
                reqwest::Method::PUT,
                "/api/account/kill-switch",
                Some(json!({ "enabled": true, "reason": "tilt" })),
            )
            .await;
        assert_eq!(switch.status, 200, "{:?}", switch.body);
        let blocked = trader.post("/api/orders", market("buy", "1")).await;
        assert_problem(&blocked, 403, "trading_disabled");
        assert_eq!(account(&mut trader).await["trading_blocked"], true);
        trader
            .send(
                reqwest::Method::PUT,
                "/api/account/kill-switch",
                Some(json!({ "enabled": false })),
            )
            .await;
        assert_eq!(
            trader.post("/api/orders", market("buy", "1")).await.status,
            201
        );
        assert_eq!(
            t.scalar("SELECT count(*) FROM paper_orders").await,
            1,
            "refused orders were stored"
        );
        app.stop().await;
    }
);

dual_test!(
    a_notional_order_buys_that_much_money_of_stock_and_keeps_its_notional,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        price_now(t, 200.0).await;
        let order = trader
            .post(
                "/api/orders",
                json!({ "symbol": "AAPL", "notional": "1000", "side": "buy", "type": "market", "time_in_force": "day" }),
            )
            .await;
        assert_eq!(order.status, 201, "{:?}", order.body);
        assert_eq!(order.body["status"], "filled");
        assert_eq!(order.body["notional"], "1000");
        assert_eq!(
            order.body["qty"],
            Value::Null,
            "an order has qty or notional, not both"
        );
        assert_eq!(order.body["filled_qty"], "5");
        assert_eq!(account(&mut trader).await["cash"], "99000");
        let id = order.body["id"].as_str().expect("id");
        let stored = trader.get(&format!("/api/orders/{id}")).await;
        assert_eq!(stored.body["filled_qty"], "5");
        app.stop().await;
    }
);

dual_test!(
    huge_quantities_and_prices_are_refused_not_a_crash,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        price_now(t, 200.0).await;
        let cases = [
            (
                json!({ "symbol": "AAPL", "qty": "79228162514264337593543950335", "side": "buy", "type": "market", "time_in_force": "day" }),
                "qty",
            ),
            (
                json!({ "symbol": "AAPL", "qty": 1e30, "side": "buy", "type": "market", "time_in_force": "day" }),
                "qty",
            ),
            (
                json!({ "symbol": "AAPL", "notional": "1e25", "side": "buy", "type": "market", "time_in_force": "day" }),
                "notional",
            ),
            (
                json!({ "symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "limit_price": "1e20", "time_in_force": "gtc" }),
                "limit_price",
            ),
            (
                json!({ "symbol": "AAPL", "qty": "999999999", "side": "sell", "type": "limit", "limit_price": "999999999", "time_in_force": "gtc" }),
                "",
            ),
        ];
        for (body, field) in cases {
            let reply = trader.post("/api/orders", body.clone()).await;
            if field.is_empty() {
                // Within bounds but more than is held: refused by the engine, not by overflow.
                assert_problem(&reply, 403, "insufficient_qty");
            } else {
                assert_eq!(
                    assert_problem(&reply, 422, "invalid_field")["field"],
                    field,
                    "{body}"
                );
            }
        }
        assert_eq!(t.scalar("SELECT count(*) FROM paper_orders").await, 0);
        app.stop().await;
    }
);

dual_test!(bad_orders_name_the_field, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let mut trader = accounts::customer(&app, "ada@example.com").await;
    let cases = [
        (
            json!({ "symbol": "ZZZZ", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day" }),
            "symbol",
        ),
        (
            json!({ "symbol": "AAPL", "qty": "1", "side": "hold", "type": "market", "time_in_force": "day" }),
            "side",
        ),
        (
            json!({ "symbol": "AAPL", "qty": "1", "side": "buy", "type": "twap", "time_in_force": "day" }),
            "type",
        ),
        (
            json!({ "symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "time_in_force": "day" }),
            "limit_price",
        ),
        (
            json!({ "symbol": "AAPL", "qty": "-1", "side": "buy", "type": "market", "time_in_force": "day" }),
            "qty",
        ),
        (
            json!({ "symbol": "AAPL", "qty": "1", "notional": "5", "side": "buy", "type": "market", "time_in_force": "day" }),
            "qty",
        ),
        (
            json!({ "symbol": "AAPL", "notional": "5", "side": "buy", "type": "limit", "limit_price": "1", "time_in_force": "day" }),
            "notional",
        ),
        (
            json!({ "symbol": "AAPL", "qty": "0.000000001", "side": "buy", "type": "market", "time_in_force": "day" }),
            "qty",
        ),
        (
            json!({ "symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day", "client_order_id": "bot\u{0}-1" }),
            "client_order_id",
        ),
        (
            json!({ "symbol": "AA\u{0}PL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day" }),
            "symbol",
        ),
        // Several faults: the first rule in the documented order names its field.
        (
            json!({ "symbol": "ZZZZ", "qty": "-1", "side": "hold", "type": "market", "time_in_force": "day" }),
            "symbol",
        ),
        (
            json!({ "symbol": "AAPL", "qty": true, "side": "hold", "type": "market", "time_in_force": "day" }),
            "side",
        ),
        (
            json!({ "symbol": "AAPL", "qty": [1], "side": "buy", "type": "market", "time_in_force": "opg" }),
            "time_in_force",
        ),
        (
            json!({ "symbol": "AAPL", "qty": true, "side": "buy", "type": "market", "time_in_force": "day" }),
            "qty",
        ),
    ];
    for (body, field) in cases {
        let reply = trader.post("/api/orders", body.clone()).await;
        assert_eq!(
            (reply.status, reply.body["field"].as_str()),
            (422, Some(field)),
            "{body}: {:?}",
            reply.body
        );
    }
    let no_price = trader.post("/api/orders", market("buy", "1")).await;
    assert_problem(&no_price, 422, "no_market_price");
    assert_eq!(
        app.browser()
            .post("/api/orders", market("buy", "1"))
            .await
            .status,
        401
    );
    assert_eq!(t.scalar("SELECT count(*) FROM paper_orders").await, 0);
    app.stop().await;
});

dual_test!(concurrent_orders_can_never_spend_the_same_cash, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let trader = accounts::customer(&app, "ada@example.com").await;
    price_now(t, 100.0).await;
    // Three orders of 400 shares (40,000 each) against 100,000 of cash: two can fill.
    let (mut a, mut b, mut c) = (trader.clone(), trader.clone(), trader.clone());
    let (ra, rb, rc) = tokio::join!(
        a.post("/api/orders", market("buy", "400")),
        b.post("/api/orders", market("buy", "400")),
        c.post("/api/orders", market("buy", "400")),
    );
    let mut statuses = vec![ra.status, rb.status, rc.status];
    statuses.sort();
    assert_eq!(
        statuses,
        vec![201, 201, 403],
        "{:?} {:?} {:?}",
        ra.body,
        rb.body,
        rc.body
    );
    let mut check = trader.clone();
    assert_eq!(account(&mut check).await["cash"], "20000");
    assert_eq!(check.get("/api/positions").await.body[0]["qty"], "800");
    app.stop().await;
});

dual_test!(
    cash_stays_exact_after_hundreds_of_fractional_fills,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        let start = Utc::now() - Duration::hours(3);
        for i in 0..100 {
            t.put_prices("AAPL", &[(start + Duration::seconds(120 * i), 33.33)])
                .await;
            assert_eq!(
                trader
                    .post("/api/orders", market("buy", "0.3"))
                    .await
                    .status,
                201
            );
            t.put_prices("AAPL", &[(start + Duration::seconds(120 * i + 60), 33.34)])
                .await;
            assert_eq!(
                trader
                    .post("/api/orders", market("sell", "0.3"))
                    .await
                    .status,
                201
            );
        }
        // 100 round trips of 0.3 shares, each earning 0.01 a share: exactly 0.3.
        assert_eq!(account(&mut trader).await["cash"], "100000.3");
        assert_eq!(t.scalar("SELECT count(*) FROM paper_fills").await, 200);
        app.stop().await;
    }
);

dual_test!(
    closing_a_position_sells_all_of_it_and_day_orders_expire_after_the_close,
    Head,
    |t| {
        // A Friday in November 2026, 10:00 in New York: the session closes at 21:00 UTC.
        let clock = Arc::new(FixedClock::new(utc("2026-11-20T15:00:00Z")));
        let app = TestApp::builder(t.db().clone())
            .clock(clock.clone())
            .spawn()
            .await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        price_now(t, 50.0).await;
        trader.post("/api/orders", market("buy", "12")).await;
        let closed = trader.delete("/api/positions/AAPL").await;
        assert_eq!(
            (closed.status, closed.body["status"].as_str()),
            (200, Some("filled")),
            "{:?}",
            closed.body
        );
        assert_eq!(closed.body["filled_qty"], "12");
        assert_eq!(trader.get("/api/positions").await.body, json!([]));
        assert_eq!(trader.delete("/api/positions/AAPL").await.status, 404);

        let day = trader.post("/api/orders", json!({ "symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "limit_price": "1", "time_in_force": "day" })).await;
        let id = day.body["id"].as_str().expect("id").to_owned();
        let runtime = App::new(t.db().clone()).with_clock(clock.clone());
        clock.set(utc("2026-11-20T20:59:59Z"));
        let before_close = match_symbol(&runtime, "AAPL").await.expect("match");
        assert_eq!(
            before_close.expired, 0,
            "a day order expired before the close"
        );
        clock.set(utc("2026-11-20T21:00:00Z"));
        assert_eq!(
            match_symbol(&runtime, "AAPL").await.expect("match").expired,
            1
        );
        assert_eq!(
            trader.get(&format!("/api/orders/{id}")).await.body["status"],
            "expired"
        );
        app.stop().await;
    }
);

dual_test!(
    order_numbers_may_be_json_numbers_as_the_published_contract_says,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        price_now(t, 10.0).await;
        let order = trader
            .post(
                "/api/orders",
                json!({ "symbol": "AAPL", "qty": 2, "side": "buy", "type": "limit", "limit_price": 9.5, "time_in_force": "gtc" }),
            )
            .await;
        assert_eq!(order.status, 201, "{:?}", order.body);
        assert_eq!(
            (
                order.body["qty"].as_str(),
                order.body["limit_price"].as_str()
            ),
            (Some("2"), Some("9.5"))
        );

        let (status, spec) = app.get_json("/openapi.json").await;
        assert_eq!(status, 200);
        let types: Vec<&str> = spec["components"]["schemas"]["OrderNumber"]["oneOf"]
            .as_array()
            .expect("oneOf")
            .iter()
            .filter_map(|schema| schema["type"].as_str())
            .collect();
        assert_eq!(types, ["string", "number"]);
        let paths = &spec["paths"];
        for (path, method) in [
            ("/api/account", "get"),
            ("/api/account/kill-switch", "put"),
            ("/api/orders", "get"),
            ("/api/orders", "post"),
            ("/api/orders/{id}", "get"),
            ("/api/orders/{id}", "delete"),
            ("/api/positions", "get"),
            ("/api/positions/{symbol}", "delete"),
        ] {
            let operation = &paths[path][method];
            assert_eq!(
                operation["security"],
                json!([{ "session": [] }]),
                "{method} {path}"
            );
            assert!(
                operation["responses"]["401"].is_object(),
                "{method} {path} lists no 401"
            );
        }
        app.stop().await;
    }
);
