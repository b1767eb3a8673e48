//! Paper trading over real HTTP on both dialects: fills, cash and positions move exactly,
//! resting orders fill when bars cross them, and concurrent orders never share cash.

use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use raptor_app::trading::{
    match_all, match_symbol, Matched, MAX_OPEN_ORDERS, SUBMISSIONS_PER_MINUTE,
};
use raptor_app::{App, FixedClock};
use raptor_domain::orders::{OrderClass, OrderStatus, OrderType, Side, TimeInForce};
use raptor_domain::Timeframe;
use raptor_store::market::{self, StoredBar};
use raptor_store::trading::{self, NewOrder, OrderFilter, OrderQuery};
use raptor_testkit::{accounts, assert_problem, dual_test, Browser, TestApp, TestDb};
use rust_decimal::Decimal;
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

/// Writes one AAPL minute bar through `db`, as `raptor bars import` in another process would.
async fn import_price(db: &raptor_store::Db, at: DateTime<Utc>, price: f64) {
    let bar = StoredBar {
        ts: at,
        open: price,
        high: price,
        low: price,
        close: price,
        volume: 100.0,
        trade_count: None,
        vwap: None,
    };
    let mut tx = db.begin().await.expect("begin");
    market::upsert_bars(&mut tx, "AAPL", Timeframe::Min1, &[bar])
        .await
        .expect("bars");
    tx.commit().await.expect("commit");
}

dual_test!(
    prices_follow_bars_another_process_wrote_after_they_were_read,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let importer = t.connect_again().await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        let now = Utc::now().trunc_subsecs(0);
        import_price(&importer, now - Duration::minutes(2), 100.0).await;
        let order = trader.post("/api/orders", market("buy", "10")).await;
        assert_eq!(order.body["filled_avg_price"], "100", "{:?}", order.body);
        assert_eq!(account(&mut trader).await["long_market_value"], "1000");

        // A newer bar prices both the position and the next order.
        import_price(&importer, now - Duration::minutes(1), 120.0).await;
        assert_eq!(account(&mut trader).await["long_market_value"], "1200");
        let order = trader.post("/api/orders", market("buy", "10")).await;
        assert_eq!(order.body["filled_avg_price"], "120", "{:?}", order.body);

        // So does the same bar written again with another close.
        import_price(&importer, now - Duration::minutes(1), 90.0).await;
        assert_eq!(account(&mut trader).await["long_market_value"], "1800");
        let order = trader.post("/api/orders", market("sell", "5")).await;
        assert_eq!(order.body["filled_avg_price"], "90", "{:?}", order.body);
        importer.close().await;
        app.stop().await;
    }
);

dual_test!(
    resting_limit_orders_fill_when_a_new_bar_crosses_them,
    Head,
    |t| {
        // 10:00 New York time on a Tuesday: the bars below are of the regular session.
        let now = utc("2026-12-01T15:00:00Z");
        let clock = Arc::new(FixedClock::new(now));
        let app = TestApp::builder(t.db().clone())
            .clock(clock.clone())
            .spawn()
            .await;
        let runtime = App::new(t.db().clone()).with_clock(clock);
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        t.put_prices("AAPL", &[(now - Duration::minutes(1), 190.0)])
            .await;
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
        let later = now + Duration::minutes(1);
        t.put_bars(
            "AAPL",
            Timeframe::Min1,
            vec![(later, 189.0, 190.0, 185.5, 186.0)],
        )
        .await;
        assert_eq!(
            match_symbol(&runtime, "AAPL").await.expect("match").filled,
            0
        );
        t.put_bars(
            "AAPL",
            Timeframe::Min1,
            vec![(later + Duration::minutes(1), 186.0, 186.5, 184.0, 184.5)],
        )
        .await;
        assert_eq!(
            match_symbol(&runtime, "AAPL").await.expect("match").filled,
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
        match_symbol(&runtime, "AAPL").await.expect("match");
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
                Some(json!({ "enabled": true, "reason": "  tilt " })),
            )
            .await;
        assert_eq!(switch.status, 200, "{:?}", switch.body);
        // Answered as kept, as the account shows it.
        assert_eq!(switch.body["reason"], "tilt");
        assert_eq!(account(&mut trader).await["kill_switch_reason"], "tilt");
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
            json!({ "symbol": "AAPL", "qty": [1], "side": "buy", "type": "market", "time_in_force": "gtd" }),
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

/// Stores resting buy limit orders straight into the account (quicker than hundreds of
/// requests, and not counted against the per-minute limit): order `i` is placed at `at(i)`
/// for one share at `limit(i)`.
async fn seed_resting(
    t: &TestDb,
    account_id: i64,
    count: usize,
    at: impl Fn(usize) -> DateTime<Utc>,
    limit: impl Fn(usize) -> Decimal,
) {
    let mut tx = t.db().begin().await.expect("begin");
    for i in 0..count {
        let client_order_id = format!("seed-{i}");
        let order = NewOrder {
            account_id,
            client_order_id: &client_order_id,
            symbol: "AAPL",
            side: Side::Buy,
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Gtc,
            qty: Some(Decimal::ONE),
            notional: None,
            limit_price: Some(limit(i)),
            stop_price: None,
            status: OrderStatus::New,
            reject_reason: None,
            replaces: None,
            order_class: OrderClass::Simple,
            parent_id: None,
            trail: None,
            hwm: None,
            extended_hours: false,
            fill: None,
        };
        trading::insert_order(&mut tx, &order, at(i))
            .await
            .expect("insert");
    }
    tx.commit().await.expect("commit");
}

async fn account_id(trader: &mut Browser) -> i64 {
    account(trader).await["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("account id")
}

dual_test!(
    an_order_past_the_open_order_cap_is_refused_and_leaves_nothing_behind,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        price_now(t, 190.0).await;
        let id = account_id(&mut trader).await;
        let cap = usize::try_from(MAX_OPEN_ORDERS).expect("cap");
        seed_resting(t, id, cap - 1, |_| Utc::now(), |_| Decimal::ONE).await;
        let last = trader.post("/api/orders", limit("buy", "1", "2")).await;
        assert_eq!(
            last.status, 201,
            "the cap itself is allowed: {:?}",
            last.body
        );
        let before = account(&mut trader).await;

        let refused = trader.post("/api/orders", limit("buy", "1", "3")).await;
        let body = assert_problem(&refused, 403, "too_many_open_orders");
        let detail = body["detail"].as_str().expect("detail");
        assert!(detail.contains("500 open orders"), "{detail}");
        assert_eq!(
            t.scalar("SELECT count(*) FROM paper_orders").await,
            MAX_OPEN_ORDERS,
            "a refused order left a row"
        );
        assert_eq!(
            account(&mut trader).await["buying_power"],
            before["buying_power"],
            "a refused order holds a reservation"
        );

        // Orders that cannot rest do not count: a marketable one still fills.
        let market_buy = trader.post("/api/orders", market("buy", "1")).await;
        assert_eq!(
            (market_buy.status, market_buy.body["status"].as_str()),
            (201, Some("filled")),
            "{:?}",
            market_buy.body
        );

        let last_id = last.body["id"].as_str().expect("id");
        assert_eq!(
            trader
                .delete(&format!("/api/orders/{last_id}"))
                .await
                .status,
            200
        );
        let again = trader.post("/api/orders", limit("buy", "1", "3")).await;
        assert_eq!(
            (again.status, again.body["status"].as_str()),
            (201, Some("new")),
            "canceling one made room: {:?}",
            again.body
        );
        app.stop().await;
    }
);

dual_test!(
    concurrent_orders_cannot_overshoot_the_open_order_cap,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        price_now(t, 190.0).await;
        let id = account_id(&mut trader).await;
        let cap = usize::try_from(MAX_OPEN_ORDERS).expect("cap");
        seed_resting(t, id, cap - 2, |_| Utc::now(), |_| Decimal::ONE).await;
        let replies = futures_util::future::join_all((0..6).map(|i| {
            let mut racer = trader.clone();
            async move {
                racer
                    .post("/api/orders", limit("buy", "1", &format!("{}", i + 2)))
                    .await
                    .status
            }
        }))
        .await;
        let placed = replies.iter().filter(|s| **s == 201).count();
        let refused = replies.iter().filter(|s| **s == 403).count();
        assert_eq!((placed, refused), (2, 4), "{replies:?}");
        assert_eq!(
            t.scalar("SELECT count(*) FROM paper_orders").await,
            MAX_OPEN_ORDERS
        );
        app.stop().await;
    }
);

dual_test!(
    order_submissions_are_limited_per_account_per_minute,
    Head,
    |t| {
        // On a whole second, so that `Retry-After` (whole seconds) lands exactly on the
        // window's end.
        let clock = Arc::new(FixedClock::new(Utc::now().trunc_subsecs(0)));
        let app = TestApp::builder(t.db().clone())
            .clock(clock.clone())
            .spawn()
            .await;
        let mut ada = accounts::customer(&app, "ada@example.com").await;
        let mut grace = accounts::customer(&app, "grace@example.com").await;
        price_now(t, 190.0).await;
        for i in 0..SUBMISSIONS_PER_MINUTE.max {
            // Refused orders count too: every tenth is for an unknown symbol, refused before
            // its transaction, and every tenth after it is beyond the cash, refused inside.
            let order = match i % 10 {
                0 => {
                    json!({ "symbol": "NOPE", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day" })
                }
                1 => limit("buy", "1000000", "1"),
                _ => limit("buy", "1", "1"),
            };
            let reply = ada.post("/api/orders", order).await;
            assert_ne!(reply.status, 429, "order {i} was limited");
        }
        let limited = ada.post("/api/orders", limit("buy", "1", "1")).await;
        assert_problem(&limited, 429, "rate_limited");
        let retry_after: i64 = limited
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("a Retry-After in seconds");
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert_problem(
            &ada.delete("/api/positions/AAPL").await,
            429,
            "rate_limited",
        );
        let open = t
            .scalar("SELECT count(*) FROM paper_orders WHERE status = 'new'")
            .await;
        assert_eq!(open, 160, "a limited request placed an order");

        let other = grace.post("/api/orders", limit("buy", "1", "1")).await;
        assert_eq!(other.status, 201, "one account's limit blocked another");

        clock.advance(Duration::seconds(retry_after));
        let later = ada.post("/api/orders", limit("buy", "1", "1")).await;
        assert_eq!(later.status, 201, "{:?}", later.body);
        app.stop().await;
    }
);

dual_test!(
    one_pass_matches_hundreds_of_resting_orders_on_a_symbol_exactly,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        // Whole seconds: both dialects store what the expectations below compare with.
        // 10:00 New York time on a Tuesday: both bars below are of the regular session.
        let t0 = utc("2026-12-01T15:00:00Z");
        let mut ids = Vec::new();
        for email in ["ada@example.com", "grace@example.com", "alan@example.com"] {
            let mut trader = accounts::customer(&app, email).await;
            ids.push(account_id(&mut trader).await);
        }
        // 300 orders, one a second from t0, spread over three accounts, limits 80 to 99.5.
        let at = |i: usize| t0 + Duration::seconds(i64::try_from(i).expect("small"));
        let limit_of = |i: usize| Decimal::new(800 + 5 * i64::try_from(i % 40).expect("small"), 1);
        for (k, id) in ids.iter().enumerate() {
            seed_resting(t, *id, 100, |i| at(3 * i + k), |i| limit_of(3 * i + k)).await;
        }
        // A bar after the first 100 orders reaching down to 90, and one after all of them
        // reaching 85 and opening at 95. A daily bar reaching 0 must not count: the narrowest
        // timeframe with bars decides.
        let bars = [(at(100), 100.0, 101.0, 90.0), (at(400), 95.0, 96.0, 85.0)];
        t.put_bars(
            "AAPL",
            Timeframe::Min1,
            bars.iter().map(|&(ts, o, h, l)| (ts, o, h, l, o)).collect(),
        )
        .await;
        t.put_bars(
            "AAPL",
            Timeframe::Day1,
            vec![(at(50), 100.0, 101.0, 0.5, 100.0)],
        )
        .await;

        let matched = match_all(&App::new(t.db().clone())).await.expect("match");

        // What each order should have done, worked out bar by bar.
        let mut expected = Vec::new();
        for i in 0..300 {
            let limit = limit_of(i);
            let fill = bars.iter().find_map(|&(ts, open, _, low)| {
                let (open, low) = (
                    Decimal::try_from(open).expect("open"),
                    Decimal::try_from(low).expect("low"),
                );
                (ts > at(i) && low <= limit).then(|| (open.min(limit), ts))
            });
            expected.push((format!("seed-{i}"), fill));
        }
        let filled = expected.iter().filter(|(_, f)| f.is_some()).count();
        assert_eq!(
            matched,
            Matched {
                filled,
                rejected: 0,
                expired: 0
            }
        );
        assert!(filled > 100 && filled < 300, "{filled}");
        for (k, id) in ids.iter().enumerate() {
            let stored = trading::orders(t.db(), *id, &OrderQuery::newest(OrderFilter::All, 500))
                .await
                .expect("orders");
            assert_eq!(stored.len(), 100);
            for order in stored {
                let i: usize = order.client_order_id["seed-".len()..]
                    .parse()
                    .expect("seed number");
                let i = 3 * i + k;
                let want = &expected[i].1;
                let got = order
                    .filled_avg_price
                    .zip(order.filled_at)
                    .map(|(p, at)| (p.0, at));
                assert_eq!(&got, want, "order {i} (limit {})", limit_of(i));
                let status = if want.is_some() { "filled" } else { "new" };
                assert_eq!(order.status.as_str(), status, "order {i}");
            }
        }
        app.stop().await;
    }
);

dual_test!(
    the_console_reads_the_same_portfolio_history_as_bots,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut trader = accounts::customer(&app, "ada@example.com").await;
        price_now(t, 100.0).await;
        assert_eq!(
            trader.post("/api/orders", market("buy", "1")).await.status,
            201
        );
        let mut bot = accounts::bot(&app, &mut trader).await;
        let path = "account/portfolio-history?period=1W&timeframe=1D";
        let console = trader.get(&format!("/api/{path}")).await;
        assert_eq!(console.status, 200, "{:?}", console.body);
        let alpaca = bot
            .get("/v2/account/portfolio/history?period=1W&timeframe=1D")
            .await;
        assert_eq!(console.body, alpaca.body);
        assert_problem(
            &trader.get("/api/account/portfolio-history?period=9Z").await,
            422,
            "invalid_field",
        );
        app.stop().await;
    }
);

dual_test!(
    the_console_reads_account_activities_with_its_own_order_ids,
    Head,
    |t| {
        price_now(t, 100.0).await;
        let app = TestApp::spawn(t.db().clone()).await;
        let mut ada = accounts::customer(&app, "ada@example.com").await;
        let bought = ada.post(
            "/api/orders",
            json!({"symbol": "AAPL", "qty": "2", "side": "buy", "type": "market", "time_in_force": "day"}),
        ).await;
        assert_eq!(bought.status, 201, "{:?}", bought.body);
        let listed = ada.get("/api/account/activities").await;
        assert_eq!(listed.status, 200, "{:?}", listed.body);
        let fill = &listed.body[0];
        assert_eq!(
            (
                &fill["activity_type"],
                &fill["order_id"],
                &fill["net_amount"],
                &fill["qty"]
            ),
            (
                &json!("FILL"),
                &bought.body["id"],
                &json!("-200"),
                &json!("2")
            ),
            "{listed:?}"
        );
        assert_eq!(listed.body[1]["activity_type"], "CSD");
        assert_eq!(listed.body[1]["net_amount"], "100000");
        let page = ada
            .get(&format!(
                "/api/account/activities?page_token={}",
                fill["id"].as_str().expect("id")
            ))
            .await;
        assert_eq!(
            page.body.as_array().map(Vec::len),
            Some(1),
            "{:?}",
            page.body
        );
        let refused = ada.get("/api/account/activities?direction=sideways").await;
        assert_eq!(refused.status, 422, "{:?}", refused.body);
        // PostgreSQL stores no year before 4713 BC; SQLite would compare such a year as text.
        for (query, field) in [
            ("after=-5000-01-01", "after"),
            ("until=%2B10000-01-01T00:00:00Z", "until"),
            ("date=-5000-01-01", "date"),
        ] {
            let refused = ada.get(&format!("/api/account/activities?{query}")).await;
            assert_eq!(
                assert_problem(&refused, 422, "invalid_field")["field"],
                field
            );
        }
        assert_eq!(
            app.browser().get("/api/account/activities").await.status,
            401
        );
        app.stop().await;
    }
);
