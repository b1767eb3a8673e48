//! The Alpaca-compatible `/v2` API and the API keys that reach it, over real HTTP on both
//! dialects: keys are shown once and stored hashed, only keys open `/v2`, and orders,
//! positions, the account, the clock and the calendar answer in Alpaca's shapes.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use raptor_app::FixedClock;
use raptor_testkit::{accounts, assert_problem, dual_test, Browser, TestApp, TestDb};
use serde_json::{json, Value};
use uuid::Uuid;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

/// Asserts an Alpaca error: the status, `code` = status followed by 10000, a message.
fn assert_alpaca_error(reply: &raptor_testkit::Reply, status: u16) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(
        reply.body["code"].as_u64(),
        Some(u64::from(status) * 100_000 + 10_000),
        "{:?}",
        reply.body
    );
    assert!(reply.body["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

fn is_uuid(value: &Value) -> bool {
    value.as_str().is_some_and(|s| Uuid::parse_str(s).is_ok())
}

async fn price_now(t: &TestDb, symbol: &str, price: f64) {
    t.put_prices(symbol, &[(Utc::now() - Duration::minutes(1), price)])
        .await;
}

dual_test!(
    a_key_is_shown_once_stored_hashed_audited_capped_and_revocable,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut owner = accounts::customer(&app, "ada@example.com").await;
        let made = owner.post("/api/keys", json!({ "name": "my bot" })).await;
        assert_eq!(made.status, 201, "{:?}", made.body);
        let key_id = made.body["key_id"].as_str().expect("key id").to_owned();
        let secret = made.body["secret"].as_str().expect("secret").to_owned();
        assert!(key_id.starts_with("PK") && key_id.len() == 20, "{key_id}");
        assert_eq!(secret.len(), 40);

        let listed = owner.get("/api/keys").await;
        assert_eq!(listed.body[0]["key_id"], key_id.as_str());
        assert_eq!(listed.body[0]["name"], "my bot");
        assert!(listed.body[0].get("secret").is_none(), "{:?}", listed.body);
        let stored = t
            .scalar(&format!(
                "SELECT count(*) FROM api_keys WHERE key_id = '{key_id}' AND secret_hash <> ''"
            ))
            .await;
        assert_eq!(stored, 1);
        let in_clear = t
            .scalar(&format!(
                "SELECT count(*) FROM audit_log WHERE CAST(details AS TEXT) LIKE '%{secret}%'"
            ))
            .await
            + t.scalar(&format!(
                "SELECT count(*) FROM api_keys WHERE name LIKE '%{secret}%' OR key_id LIKE '%{secret}%'"
            ))
            .await;
        assert_eq!(in_clear, 0, "the secret reached the database");

        let mut bot = Browser::bot(&app.url(""), &key_id, &secret);
        assert_eq!(bot.get("/v2/account").await.status, 200);
        let mut forger = Browser::bot(&app.url(""), &key_id, "not-the-secret");
        assert_alpaca_error(&forger.get("/v2/account").await, 401);

        for n in 1..10 {
            let more = owner
                .post("/api/keys", json!({ "name": format!("bot {n}") }))
                .await;
            assert_eq!(more.status, 201, "{:?}", more.body);
        }
        assert_problem(
            &owner.post("/api/keys", json!({})).await,
            409,
            "too_many_api_keys",
        );

        let id = listed.body[0]["id"].as_i64().expect("id");
        assert_eq!(owner.delete(&format!("/api/keys/{id}")).await.status, 204);
        assert_alpaca_error(&bot.get("/v2/account").await, 401);
        assert_problem(
            &owner.delete(&format!("/api/keys/{id}")).await,
            404,
            "not_found",
        );
        assert_eq!(
            owner.post("/api/keys", json!({})).await.status,
            201,
            "a place came free"
        );
        let actions = t
            .scalar("SELECT count(*) FROM audit_log WHERE action IN ('api_key.create', 'api_key.revoke')")
            .await;
        assert_eq!(actions, 12);
        app.stop().await;
    }
);

dual_test!(
    keys_open_only_v2_and_the_session_cookie_opens_only_api,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut owner = accounts::customer(&app, "ada@example.com").await;
        let mut bot = accounts::bot(&app, &mut owner).await;
        assert_alpaca_error(&owner.get("/v2/account").await, 401);
        assert_problem(&bot.get("/api/account").await, 401, "not_signed_in");
        assert_alpaca_error(&app.browser().get("/v2/orders").await, 401);
        let mut stranger = accounts::customer(&app, "eve@example.com").await;
        let mut eves_bot = accounts::bot(&app, &mut stranger).await;

        price_now(t, "AAPL", 100.0).await;
        let order = bot
            .post("/v2/orders", json!({ "symbol": "AAPL", "qty": 1.0, "side": "buy", "type": "market", "time_in_force": "day" }))
            .await;
        assert_eq!(order.status, 200, "{:?}", order.body);
        let id = order.body["id"].as_str().expect("id");
        assert_alpaca_error(&eves_bot.get(&format!("/v2/orders/{id}")).await, 404);
        assert_eq!(bot.get(&format!("/v2/orders/{id}")).await.status, 200);
        app.stop().await;
    }
);

dual_test!(
    orders_fill_list_cancel_and_read_back_in_alpacas_shapes,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut owner = accounts::customer(&app, "ada@example.com").await;
        let mut bot = accounts::bot(&app, &mut owner).await;
        price_now(t, "AAPL", 190.25).await;

        let market = bot
            .post("/v2/orders", json!({ "symbol": "aapl", "qty": 10.0, "side": "buy", "type": "market", "time_in_force": "day", "client_order_id": "my id/1" }))
            .await;
        assert_eq!(market.status, 200, "{:?}", market.body);
        let order = &market.body;
        assert!(is_uuid(&order["id"]), "{order}");
        assert_eq!(order["status"], "filled");
        assert_eq!(order["qty"], "10");
        assert_eq!(order["filled_qty"], "10");
        assert_eq!(order["filled_avg_price"], "190.25");
        assert_eq!(order["order_class"], "simple");
        assert_eq!(order["type"], "market");
        assert_eq!(order["extended_hours"], false);
        let again = bot
            .post("/v2/orders", json!({ "symbol": "AAPL", "qty": "10", "side": "buy", "type": "market", "time_in_force": "day", "client_order_id": "my id/1" }))
            .await;
        assert_eq!(
            again.body["id"], order["id"],
            "the same client order id is the same order"
        );

        let by_client = bot
            .get("/v2/orders:by_client_order_id?client_order_id=my+id%2F1")
            .await;
        assert_eq!(by_client.status, 200, "{:?}", by_client.body);
        assert_eq!(by_client.body["id"], order["id"]);

        let resting = bot
            .post("/v2/orders", json!({ "symbol": "AAPL", "qty": 2.0, "side": "buy", "type": "limit", "time_in_force": "gtc", "limit_price": 150.0 }))
            .await;
        assert_eq!(resting.body["status"], "new", "{:?}", resting.body);
        assert_eq!(resting.body["limit_price"], "150");
        let second = bot
            .post("/v2/orders", json!({ "symbol": "AAPL", "qty": 1, "side": "sell", "type": "limit", "time_in_force": "gtc", "limit_price": "250.5" }))
            .await;
        assert_eq!(second.body["status"], "new", "{:?}", second.body);

        let open = bot.get("/v2/orders").await;
        assert_eq!(
            open.body.as_array().map(Vec::len),
            Some(2),
            "{:?}",
            open.body
        );
        let buys = bot
            .get("/v2/orders?status=all&side=buy&direction=asc&nested=True")
            .await;
        let ids: Vec<&Value> = buys
            .body
            .as_array()
            .expect("orders")
            .iter()
            .map(|o| &o["id"])
            .collect();
        assert_eq!(ids, vec![&order["id"], &resting.body["id"]]);
        let after = (Utc::now() + Duration::hours(1)).to_rfc3339();
        let none = bot
            .get(&format!(
                "/v2/orders?status=all&after={}",
                after.replace('+', "%2B")
            ))
            .await;
        assert_eq!(none.body, json!([]), "nothing after an hour from now");

        let id = resting.body["id"].as_str().expect("id");
        assert_eq!(bot.delete(&format!("/v2/orders/{id}")).await.status, 204);
        assert_eq!(
            bot.get(&format!("/v2/orders/{id}")).await.body["status"],
            "canceled"
        );
        assert_alpaca_error(&bot.delete(&format!("/v2/orders/{id}")).await, 422);
        let all = bot.delete("/v2/orders").await;
        assert_eq!(all.status, 207, "{:?}", all.body);
        assert_eq!(all.body[0]["id"], second.body["id"]);
        assert_eq!(all.body[0]["status"], 200);
        assert_eq!(bot.get("/v2/orders").await.body, json!([]));
        app.stop().await;
    }
);

dual_test!(
    bad_orders_and_parameters_are_refused_in_alpacas_shape,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut owner = accounts::customer(&app, "ada@example.com").await;
        let mut bot = accounts::bot(&app, &mut owner).await;
        price_now(t, "AAPL", 100.0).await;
        let base = json!({ "symbol": "AAPL", "qty": 1.0, "side": "buy", "type": "market", "time_in_force": "day" });
        let with = |key: &str, value: Value| {
            let mut body = base.clone();
            body[key] = value;
            body
        };
        for (body, status) in [
            (with("qty", json!("1e400")), 422),
            (with("qty", json!(-1)), 422),
            (with("qty", json!("ten")), 422),
            (with("symbol", json!("NOPE\u{0}")), 422),
            (with("symbol", json!("ZZZZ")), 422),
            (with("side", json!("short")), 422),
            (with("type", json!("trailing_stop")), 422),
            (with("time_in_force", json!("forever")), 422),
            (with("order_class", json!("bracket")), 422),
            (with("extended_hours", json!(true)), 422),
            (with("client_order_id", json!("x".repeat(129))), 422),
            (with("qty", json!(1_000_000_000)), 403),
            // Written as no decimal is: never read as 1000, or rounded to 1.
            (with("qty", json!("1_000")), 422),
            (with("qty", json!("0.99999999999999999999999999999")), 422),
            (with("qty", json!("1.000000000000000000000000000001")), 422),
        ] {
            let reply = bot.post("/v2/orders", body.clone()).await;
            assert_alpaca_error(&reply, status);
            assert!(reply.body["message"].as_str().is_some(), "{body}");
        }
        assert_alpaca_error(&bot.post("/v2/orders", json!("not an order")).await, 422);
        // serde would fill a struct from an array, field by field: never read a body so.
        assert_alpaca_error(
            &bot.post("/v2/watchlists", json!(["w", ["AAPL"]])).await,
            422,
        );
        let kill = bot.patch("/v2/account/configurations", json!([true])).await;
        assert_alpaca_error(&kill, 422);
        assert_eq!(
            bot.get("/v2/account/configurations").await.body["suspend_trade"],
            false
        );
        for path in [
            "/v2/orders/12345",
            "/v2/orders/00000003-0000-4000-8000-000000000001",
            "/v2/orders:by_client_order_id?client_order_id=nobody",
            "/v2/positions/AAPL",
            "/v2/assets/NOPE",
        ] {
            assert_alpaca_error(&bot.get(path).await, 404);
        }
        for path in [
            "/v2/orders?status=sideways",
            "/v2/orders?limit=0",
            "/v2/orders?limit=100000000000000000000",
            "/v2/orders?after=yesterday",
            "/v2/orders?direction=up",
            "/v2/orders?nested=maybe",
            "/v2/calendar?start=2024-13-01",
            "/v2/calendar?start=2024-01-02&end=2024-01-01",
            "/v2/calendar?start=2000-01-01&end=2099-01-01",
            "/v2/assets?status=unknown",
            // Years PostgreSQL cannot store, or that SQLite would compare as text.
            "/v2/orders?after=-5000-01-01",
            "/v2/orders?until=9999-12-31T23:00:00-01:00",
            "/v2/account/activities?date=-5000-01-01",
            "/v2/account/activities?after=%2B10000-01-01T00:00:00Z",
            "/v2/account/portfolio/history?date_end=0000-01-01",
            "/v2/calendar?start=0000-01-01",
            "/v2/stocks/bars?symbols=AAPL&timeframe=1Min&start=-5000-01-01",
        ] {
            let reply = bot.get(path).await;
            assert!(
                matches!(reply.status, 400 | 422),
                "{path}: {:?}",
                reply.body
            );
            assert_alpaca_error(&reply, reply.status);
        }
        assert_eq!(
            t.scalar("SELECT count(*) FROM paper_orders").await,
            0,
            "nothing half-written"
        );
        app.stop().await;
    }
);

dual_test!(
    a_fractional_holding_is_valued_to_the_eight_places_money_is_kept_to,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut owner = accounts::customer(&app, "ada@example.com").await;
        let mut bot = accounts::bot(&app, &mut owner).await;
        price_now(t, "AAPL", 96.31).await;
        let bought = bot
            .post("/v2/orders", json!({ "symbol": "AAPL", "qty": "0.12345678", "side": "buy", "type": "market", "time_in_force": "day" }))
            .await;
        assert_eq!(bought.body["status"], "filled", "{:?}", bought.body);
        // A resting buy reserves its cost, also to 8 places.
        let resting = bot
            .post("/v2/orders", json!({ "symbol": "AAPL", "qty": "0.33333333", "side": "buy", "type": "limit", "limit_price": "1.000001", "time_in_force": "gtc" }))
            .await;
        assert_eq!(resting.status, 200, "{:?}", resting.body);
        let held = &bot.get("/v2/positions").await.body[0];
        assert_eq!(
            (
                &held["market_value"],
                &held["cost_basis"],
                &held["unrealized_pl"]
            ),
            (&json!("11.89012248"), &json!("11.89012248"), &json!("0")),
            "{held}"
        );
        let account = bot.get("/v2/account").await.body;
        for field in ["equity", "buying_power", "long_market_value", "cash"] {
            let places = account[field]
                .as_str()
                .and_then(|v| v.split_once('.'))
                .map_or(0, |(_, places)| places.len());
            assert!(places <= 8, "{field}: {account}");
        }
        app.stop().await;
    }
);

dual_test!(positions_close_by_quantity_percentage_or_whole, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let mut owner = accounts::customer(&app, "ada@example.com").await;
    let mut bot = accounts::bot(&app, &mut owner).await;
    price_now(t, "AAPL", 100.0).await;
    price_now(t, "MSFT", 50.0).await;
    for (symbol, qty) in [("AAPL", 10.0), ("MSFT", 4.0)] {
        let bought = bot
                .post("/v2/orders", json!({ "symbol": symbol, "qty": qty, "side": "buy", "type": "market", "time_in_force": "day" }))
                .await;
        assert_eq!(bought.body["status"], "filled", "{:?}", bought.body);
    }
    let positions = bot.get("/v2/positions").await.body;
    assert_eq!(positions[0]["symbol"], "AAPL");
    assert_eq!(positions[0]["qty"], "10");
    assert_eq!(positions[0]["market_value"], "1000");
    assert_eq!(positions[0]["side"], "long");
    assert_eq!(positions[0]["exchange"], "NASDAQ");
    assert!(is_uuid(&positions[0]["asset_id"]));
    let by_asset = bot
        .get(&format!(
            "/v2/positions/{}",
            positions[1]["asset_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(by_asset.body["symbol"], "MSFT", "{:?}", by_asset.body);

    let part = bot.delete("/v2/positions/AAPL?qty=2.5").await;
    assert_eq!(part.body["qty"], "2.5", "{:?}", part.body);
    let half = bot.delete("/v2/positions/aapl?percentage=50").await;
    assert_eq!(half.body["qty"], "3.75", "{:?}", half.body);
    assert_eq!(bot.get("/v2/positions/AAPL").await.body["qty"], "3.75");
    assert_alpaca_error(&bot.delete("/v2/positions/AAPL?percentage=101").await, 422);
    assert_alpaca_error(
        &bot.delete("/v2/positions/AAPL?qty=1&percentage=5").await,
        422,
    );
    assert_alpaca_error(&bot.delete("/v2/positions/AAPL?qty=99").await, 403);

    let closed = bot.delete("/v2/positions?cancel_orders=True").await;
    assert_eq!(closed.status, 207, "{:?}", closed.body);
    let symbols: Vec<&Value> = closed
        .body
        .as_array()
        .expect("list")
        .iter()
        .map(|c| &c["symbol"])
        .collect();
    assert_eq!(symbols, vec!["AAPL", "MSFT"]);
    assert_eq!(closed.body[1]["body"]["status"], "filled");
    assert_eq!(bot.get("/v2/positions").await.body, json!([]));
    let account = bot.get("/v2/account").await.body;
    assert_eq!(account["cash"], "100000");
    app.stop().await;
});

/// A bot's account that bought 10 AAPL at 100 on Tuesday 2026-12-01 at 10:00 New York time
/// (Tuesday closed at 110) and 5 more at 120 on Wednesday at 10:00, where the clock stays.
async fn two_days_of_buying(t: &TestDb) -> (TestApp, Browser, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(utc("2026-12-01T15:00:00Z")));
    let app = TestApp::builder(t.db().clone())
        .clock(clock.clone())
        .spawn()
        .await;
    let mut owner = accounts::customer(&app, "ada@example.com").await;
    let mut bot = accounts::bot(&app, &mut owner).await;
    let buy = |qty: f64| json!({ "symbol": "AAPL", "qty": qty, "side": "buy", "type": "market", "time_in_force": "day" });
    t.put_prices("AAPL", &[(utc("2026-12-01T14:59:00Z"), 100.0)])
        .await;
    assert_eq!(
        bot.post("/v2/orders", buy(10.0)).await.body["status"],
        "filled"
    );
    // Tuesday's last bar before the 16:00 close, then Wednesday's.
    t.put_prices(
        "AAPL",
        &[
            (utc("2026-12-01T20:59:00Z"), 110.0),
            (utc("2026-12-02T14:59:00Z"), 120.0),
        ],
    )
    .await;
    clock.set(utc("2026-12-02T15:00:00Z"));
    assert_eq!(
        bot.post("/v2/orders", buy(5.0)).await.body["status"],
        "filled"
    );
    (app, bot, clock)
}

dual_test!(
    the_account_values_last_equity_at_the_previous_close,
    Head,
    |t| {
        let (app, mut bot, _clock) = two_days_of_buying(t).await;
        let account = bot.get("/v2/account").await.body;
        assert_eq!(account["cash"], "98400");
        assert_eq!(account["equity"], "100200");
        // Tuesday's close: the cash before today's buy, 10 shares at 110.
        assert_eq!(account["last_equity"], "100100");
        assert_eq!(account["status"], "ACTIVE");
        assert!(is_uuid(&account["id"]));
        let clock_reply = bot.get("/v2/clock").await.body;
        assert_eq!(clock_reply["is_open"], true);
        assert_eq!(
            clock_reply["next_close"],
            "2026-12-02T16:00:00.000000-05:00"
        );
        assert_eq!(clock_reply["next_open"], "2026-12-03T09:30:00.000000-05:00");
        let calendar = bot
            .get("/v2/calendar?start=2026-11-26&end=2026-11-30")
            .await
            .body;
        assert_eq!(
            calendar,
            json!([
                { "date": "2026-11-27", "open": "09:30", "close": "13:00", "session_open": "0400",
                  "session_close": "1700", "settlement_date": "2026-11-30" },
                { "date": "2026-11-30", "open": "09:30", "close": "16:00", "session_open": "0400",
                  "session_close": "2000", "settlement_date": "2026-12-01" },
            ])
        );
        // The last days listed are those that settle by 9999-12-31; Friday 9999-12-31's would
        // settle in year 10000.
        let too_late = bot
            .get("/v2/calendar?start=9999-12-27&end=9999-12-31")
            .await;
        assert_alpaca_error(&too_late, 422);
        assert!(
            too_late.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("end")),
            "{:?}",
            too_late.body
        );
        let last = bot
            .get("/v2/calendar?start=9999-12-27&end=9999-12-30")
            .await;
        assert_eq!(last.status, 200, "{:?}", last.body);
        let settled: Vec<&str> = last
            .body
            .as_array()
            .expect("days")
            .iter()
            .filter_map(|d| d["settlement_date"].as_str())
            .collect();
        assert_eq!(settled.last(), Some(&"9999-12-31"), "{:?}", last.body);
        app.stop().await;
    }
);

dual_test!(
    what_was_sold_today_counts_in_last_equity_and_working_buys_hold_cash,
    Head,
    |t| {
        let (app, mut bot, _clock) = two_days_of_buying(t).await;
        let sell = json!({ "symbol": "AAPL", "qty": "15", "side": "sell", "type": "market", "time_in_force": "day" });
        assert_eq!(bot.post("/v2/orders", sell).await.body["status"], "filled");
        let rest = json!({ "symbol": "AAPL", "qty": "2", "side": "buy", "type": "limit", "limit_price": "50", "time_in_force": "gtc" });
        assert_eq!(bot.post("/v2/orders", rest).await.body["status"], "new");
        assert_eq!(bot.get("/v2/positions").await.body, json!([]));
        let account = bot.get("/v2/account").await.body;
        assert_eq!(account["cash"], "100200");
        assert_eq!(account["equity"], "100200");
        // Nothing is held now, but Tuesday's close still saw 10 shares at 110.
        assert_eq!(account["last_equity"], "100100");
        // The resting buy holds 2 x 50 of the cash.
        assert_eq!(account["buying_power"], "100100");
        app.stop().await;
    }
);

dual_test!(
    an_account_with_a_long_day_of_fills_values_every_one,
    Head,
    |t| {
        let (app, mut bot, _clock) = two_days_of_buying(t).await;
        // More fills than a book read on the calling thread holds: read whole all the same.
        let more = raptor_store::valuation::INLINE_ROWS + 6;
        let buy = json!({ "symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day" });
        for _ in 0..more {
            assert_eq!(
                bot.post("/v2/orders", buy.clone()).await.body["status"],
                "filled"
            );
        }
        let account = bot.get("/v2/account").await.body;
        let spent = 120 * i64::try_from(more).expect("a count");
        assert_eq!(account["cash"], (98_400 - spent).to_string());
        assert_eq!(account["equity"], "100200");
        // Undoing every one of today's fills gives Tuesday's close again.
        assert_eq!(account["last_equity"], "100100");
        app.stop().await;
    }
);

dual_test!(assets_list_the_listed_symbols_by_ticker_or_id, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let mut owner = accounts::customer(&app, "ada@example.com").await;
    let mut bot = accounts::bot(&app, &mut owner).await;
    let assets = bot.get("/v2/assets").await.body;
    let listed = t
        .scalar("SELECT count(*) FROM symbols WHERE status = 'active'")
        .await;
    assert_eq!(
        assets.as_array().map(Vec::len),
        Some(usize::try_from(listed).expect("count"))
    );
    let aapl = assets
        .as_array()
        .expect("assets")
        .iter()
        .find(|a| a["symbol"] == "AAPL")
        .expect("AAPL");
    assert_eq!(aapl["class"], "us_equity");
    assert_eq!(aapl["tradable"], true);
    assert!(is_uuid(&aapl["id"]));
    let by_id = bot
        .get(&format!("/v2/assets/{}", aapl["id"].as_str().expect("id")))
        .await;
    assert_eq!(by_id.body["symbol"], "AAPL");
    assert_eq!(bot.get("/v2/assets/aapl").await.body["id"], aapl["id"]);
    assert_eq!(bot.get("/v2/assets?status=inactive").await.body, json!([]));
    app.stop().await;
});

dual_test!(bars_of_several_symbols_page_across_them, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let mut owner = accounts::customer(&app, "ada@example.com").await;
    let mut bot = accounts::bot(&app, &mut owner).await;
    let at = |minute: i64| utc("2026-11-20T14:30:00Z") + Duration::minutes(minute);
    t.put_prices("AAPL", &[(at(0), 10.0), (at(1), 11.0), (at(2), 12.0)])
        .await;
    t.put_prices("MSFT", &[(at(0), 20.0), (at(1), 21.0)]).await;
    let window = "timeframe=1Min&start=2026-11-20T14:00:00%2B00:00&end=2026-11-20T15:00:00Z";
    let mut closes: Vec<(String, f64)> = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = format!(
            "/v2/stocks/bars?symbols=msft,AAPL&{window}&limit=2{}",
            token
                .as_ref()
                .map(|t| format!("&page_token={t}"))
                .unwrap_or_default()
        );
        let page = bot.get(&path).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        pages += 1;
        for (symbol, bars) in page.body["bars"].as_object().expect("bars by symbol") {
            for bar in bars.as_array().expect("bars") {
                assert!(bar.get("n").is_some() && bar.get("vw").is_some(), "{bar}");
                closes.push((symbol.clone(), bar["c"].as_f64().expect("close")));
            }
        }
        match page.body["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10, "the pages never end");
    }
    let expected: Vec<(String, f64)> = [
        ("AAPL", 10.0),
        ("AAPL", 11.0),
        ("AAPL", 12.0),
        ("MSFT", 20.0),
        ("MSFT", 21.0),
    ]
    .into_iter()
    .map(|(s, c)| (s.to_owned(), c))
    .collect();
    assert_eq!(closes, expected);
    assert_eq!(pages, 3);

    let latest = bot
        .get("/v2/stocks/bars/latest?symbols=AAPL,MSFT,GOOGL")
        .await;
    assert_eq!(latest.body["bars"]["AAPL"]["c"], 12.0, "{:?}", latest.body);
    assert_eq!(latest.body["bars"]["MSFT"]["c"], 21.0);
    assert!(
        latest.body["bars"].get("GOOGL").is_none(),
        "no bars, left out"
    );
    for (path, status) in [
        ("/v2/stocks/bars?symbols=AAPL&timeframe=2Min", 400),
        ("/v2/stocks/bars?symbols=&timeframe=1Min", 400),
        ("/v2/stocks/bars?symbols=NOPE&timeframe=1Min", 404),
        (
            "/v2/stocks/bars?symbols=AAPL&timeframe=1Min&page_token=garbage",
            400,
        ),
        (
            "/v2/stocks/bars?symbols=AAPL&timeframe=1Min&start=2026-11-21&end=2026-11-20",
            400,
        ),
        (
            "/v2/stocks/bars?symbols=AAPL&timeframe=1Min&adjustment=split",
            422,
        ),
        (
            "/v2/stocks/bars?symbols=AAPL&timeframe=1Min&limit=10001",
            400,
        ),
        ("/v2/stocks/bars?symbols=AAPL%00&timeframe=1Min", 400),
    ] {
        assert_alpaca_error(&bot.get(path).await, status);
    }
    app.stop().await;
});

dual_test!(
    a_retried_delete_or_cancel_never_reaches_a_newer_row,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut owner = accounts::customer(&app, "ada@example.com").await;
        let mut bot = accounts::bot(&app, &mut owner).await;
        price_now(t, "AAPL", 100.0).await;
        // The newest watchlist deleted, another made, the delete sent again.
        let first = bot.post("/v2/watchlists", json!({ "name": "a" })).await;
        let first = first.body["id"].as_str().expect("id").to_owned();
        assert_eq!(
            bot.delete(&format!("/v2/watchlists/{first}")).await.status,
            204
        );
        let second = bot.post("/v2/watchlists", json!({ "name": "b" })).await;
        assert_ne!(second.body["id"], first.as_str(), "an id was given again");
        assert_alpaca_error(&bot.delete(&format!("/v2/watchlists/{first}")).await, 404);
        assert_eq!(bot.get("/v2/watchlists").await.body[0]["name"], "b");

        // The newest orders deleted by a reset, another placed, the old one canceled again.
        let resting = json!({ "symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit",
                              "limit_price": "50", "time_in_force": "gtc" });
        let old = bot.post("/v2/orders", resting.clone()).await;
        let old = old.body["id"].as_str().expect("id").to_owned();
        assert_eq!(
            owner.post("/api/account/reset", json!({})).await.status,
            200
        );
        let new = bot.post("/v2/orders", resting).await;
        assert_ne!(new.body["id"], old.as_str(), "an order id was given again");
        assert_alpaca_error(&bot.delete(&format!("/v2/orders/{old}")).await, 404);
        let open = bot.get("/v2/orders?status=open").await.body;
        assert_eq!(open[0]["id"], new.body["id"], "{open}");
        app.stop().await;
    }
);

dual_test!(
    watchlists_by_id_and_by_name_keep_their_symbols_in_order,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut owner = accounts::customer(&app, "ada@example.com").await;
        let mut bot = accounts::bot(&app, &mut owner).await;
        let made = bot
            .post(
                "/v2/watchlists",
                json!({ "name": "tech", "symbols": ["msft", "AAPL", "MSFT"] }),
            )
            .await;
        assert_eq!(made.status, 200, "{:?}", made.body);
        assert!(is_uuid(&made.body["id"]) && is_uuid(&made.body["account_id"]));
        let tickers = |w: &Value| -> Vec<String> {
            w["assets"]
                .as_array()
                .expect("assets")
                .iter()
                .map(|a| a["symbol"].as_str().expect("symbol").to_owned())
                .collect()
        };
        assert_eq!(tickers(&made.body), ["MSFT", "AAPL"]);
        let id = made.body["id"].as_str().expect("id").to_owned();

        let added = bot
            .post(
                &format!("/v2/watchlists/{id}"),
                json!({ "symbol": "googl" }),
            )
            .await;
        assert_eq!(tickers(&added.body), ["MSFT", "AAPL", "GOOGL"]);
        let removed = bot.delete(&format!("/v2/watchlists/{id}/AAPL")).await;
        assert_eq!(tickers(&removed.body), ["MSFT", "GOOGL"]);
        let renamed = bot
            .put(
                &format!("/v2/watchlists/{id}"),
                json!({ "name": "big tech" }),
            )
            .await;
        assert_eq!(renamed.body["name"], "big tech", "{:?}", renamed.body);
        assert_eq!(
            tickers(&renamed.body),
            ["MSFT", "GOOGL"],
            "a rename keeps the symbols"
        );
        let by_name = bot.get("/v2/watchlists:by_name?name=big+tech").await;
        assert_eq!(by_name.body["id"], id.as_str(), "{:?}", by_name.body);
        let replaced = bot
            .put(
                "/v2/watchlists:by_name?name=big%20tech",
                json!({ "symbols": ["SPY"] }),
            )
            .await;
        assert_eq!(tickers(&replaced.body), ["SPY"]);

        assert_alpaca_error(
            &bot.post("/v2/watchlists", json!({ "name": "big tech" }))
                .await,
            409,
        );
        assert_alpaca_error(
            &bot.post(
                "/v2/watchlists",
                json!({ "name": "x", "symbols": ["NOPE"] }),
            )
            .await,
            422,
        );
        assert_alpaca_error(
            &bot.post("/v2/watchlists", json!({ "name": "   " })).await,
            422,
        );
        assert_alpaca_error(
            &bot.post("/v2/watchlists", json!({ "name": "a\u{0}b" }))
                .await,
            422,
        );
        assert_alpaca_error(
            &bot.post("/v2/watchlists", json!({ "symbols": [] })).await,
            422,
        );
        assert_alpaca_error(&bot.delete(&format!("/v2/watchlists/{id}/AAPL")).await, 422);
        assert_alpaca_error(&bot.get("/v2/watchlists/not-a-uuid").await, 404);

        let mut stranger = accounts::customer(&app, "eve@example.com").await;
        let mut eves_bot = accounts::bot(&app, &mut stranger).await;
        assert_alpaca_error(&eves_bot.get(&format!("/v2/watchlists/{id}")).await, 404);
        assert_alpaca_error(&eves_bot.delete(&format!("/v2/watchlists/{id}")).await, 404);
        assert_eq!(eves_bot.get("/v2/watchlists").await.body, json!([]));

        let listed = owner.get("/api/watchlists").await;
        assert_eq!(
            listed.body[0]["symbols"],
            json!(["SPY"]),
            "{:?}",
            listed.body
        );
        assert_eq!(
            bot.delete("/v2/watchlists:by_name?name=big+tech")
                .await
                .status,
            204
        );
        assert_eq!(bot.get("/v2/watchlists").await.body, json!([]));
        assert_eq!(t.scalar("SELECT count(*) FROM watchlist_symbols").await, 0);
        app.stop().await;
    }
);

dual_test!(
    text_no_ticker_or_id_can_be_is_not_found_on_either_database,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut owner = accounts::customer(&app, "ada@example.com").await;
        let mut bot = accounts::bot(&app, &mut owner).await;
        price_now(t, "AAPL", 100.0).await;
        bot.post("/v2/orders", json!({ "symbol": "AAPL", "qty": 2, "side": "buy", "type": "market", "time_in_force": "day" }))
            .await;
        for (path, status) in [
            ("/v2/assets/%00", 404),
            ("/v2/assets/A%00B", 404),
            ("/v2/positions/%00", 404),
            ("/v2/orders:by_client_order_id?client_order_id=%00", 422),
            ("/v2/watchlists:by_name?name=%00", 422),
            ("/v2/stocks/bars/latest?symbols=%00", 400),
            ("/v2/no-such-route", 404),
        ] {
            assert_alpaca_error(&bot.get(path).await, status);
        }
        assert_alpaca_error(&bot.delete("/v2/positions/%00?qty=1").await, 404);
        assert_alpaca_error(&bot.patch("/v2/account", json!({})).await, 405);
        // Listed as whole shares only, half a share of AAPL cannot be sold.
        t.execute("UPDATE symbols SET fractionable = FALSE WHERE ticker = 'AAPL'")
            .await;
        assert_alpaca_error(&bot.delete("/v2/positions/AAPL?qty=0.5").await, 422);
        assert_eq!(bot.get("/v2/positions/AAPL").await.body["qty"], "2");
        app.stop().await;
    }
);

dual_test!(
    suspending_or_changing_credentials_revokes_every_key,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut owner = accounts::customer(&app, "ada@example.com").await;
        let mut bot = accounts::bot(&app, &mut owner).await;
        assert_eq!(bot.get("/v2/account").await.status, 200);
        let mut key = raptor_testkit::SoftAuthenticator::new(app.origin());
        let options = owner.post("/api/auth/passkeys/options", json!({})).await;
        assert_eq!(options.status, 200, "{:?}", options.body);
        let added = owner
            .post("/api/auth/passkeys", json!({ "ceremony_id": options.body["ceremony_id"], "credential": key.create(&options.body), "name": "Laptop" }))
            .await;
        assert_eq!(added.status, 201, "{:?}", added.body);
        assert_alpaca_error(&bot.get("/v2/account").await, 401);

        let mut second = accounts::bot(&app, &mut owner).await;
        assert_eq!(second.get("/v2/account").await.status, 200);
        let mut admin = accounts::admin(&app, t.db(), "root@example.com").await;
        let user_id = t
            .scalar("SELECT id FROM users WHERE email = 'ada@example.com'")
            .await;
        let suspended = admin
            .post(
                &format!("/api/admin/customers/{user_id}/suspend"),
                json!({ "reason": "abuse" }),
            )
            .await;
        assert_eq!(suspended.status, 200, "{:?}", suspended.body);
        assert_alpaca_error(&second.get("/v2/account").await, 401);
        assert_eq!(
            t.scalar("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL")
                .await,
            0
        );
        app.stop().await;
    }
);

dual_test!(
    a_reset_starts_the_account_afresh_and_is_audited,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut owner = accounts::customer(&app, "ada@example.com").await;
        let mut bot = accounts::bot(&app, &mut owner).await;
        price_now(t, "AAPL", 100.0).await;
        bot.post("/v2/orders", json!({ "symbol": "AAPL", "qty": 3, "side": "buy", "type": "market", "time_in_force": "day" }))
        .await;
        bot.post("/v2/orders", json!({ "symbol": "AAPL", "qty": 1, "side": "buy", "type": "limit", "time_in_force": "gtc", "limit_price": 50 }))
        .await;
        bot.post(
            "/v2/watchlists",
            json!({ "name": "kept", "symbols": ["AAPL"] }),
        )
        .await;
        let reset = owner.post("/api/account/reset", json!({})).await;
        assert_eq!(reset.status, 200, "{:?}", reset.body);
        assert_eq!(reset.body["cash"], "100000");
        assert_eq!(reset.body["equity"], "100000");
        assert_eq!(bot.get("/v2/positions").await.body, json!([]));
        assert_eq!(bot.get("/v2/orders?status=all").await.body, json!([]));
        assert_eq!(
            bot.get("/v2/watchlists")
                .await
                .body
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        assert_eq!(
            t.scalar("SELECT count(*) FROM paper_fills").await
                + t.scalar("SELECT count(*) FROM paper_orders").await,
            0
        );
        assert_eq!(
            t.scalar("SELECT count(*) FROM audit_log WHERE action = 'trading.reset'")
                .await,
            1
        );
        assert_problem(
            &bot.post("/api/account/reset", json!({})).await,
            401,
            "not_signed_in",
        );
        app.stop().await;
    }
);

dual_test!(
    activities_list_fills_and_the_opening_cash_page_by_page,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut owner = accounts::customer(&app, "ada@example.com").await;
        let mut bot = accounts::bot(&app, &mut owner).await;
        price_now(t, "AAPL", 100.0).await;
        let mut order_ids = Vec::new();
        for qty in [1, 2, 3] {
            let order = bot
            .post("/v2/orders", json!({ "symbol": "AAPL", "qty": qty, "side": "buy", "type": "market", "time_in_force": "day" }))
            .await;
            order_ids.push(order.body["id"].clone());
        }
        let all = bot.get("/v2/account/activities").await.body;
        let kinds: Vec<(&str, &str)> = all
            .as_array()
            .expect("activities")
            .iter()
            .map(|a| {
                (
                    a["activity_type"].as_str().expect("type"),
                    a["qty"]
                        .as_str()
                        .or(a["net_amount"].as_str())
                        .expect("amount"),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("FILL", "3"),
                ("FILL", "2"),
                ("FILL", "1"),
                ("CSD", "100000")
            ]
        );
        assert_eq!(all[0]["order_id"], order_ids[2]);
        assert_eq!(all[0]["price"], "100");
        assert!(is_uuid(&all[0]["account_id"]));

        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..5 {
            let path = format!(
                "/v2/account/activities?direction=asc&page_size=2{}",
                token
                    .as_ref()
                    .map(|t| format!("&page_token={t}"))
                    .unwrap_or_default()
            );
            let page = bot.get(&path).await.body;
            let page = page.as_array().expect("page").clone();
            if page.is_empty() {
                break;
            }
            token = page
                .last()
                .and_then(|a| a["id"].as_str())
                .map(str::to_owned);
            seen.extend(page.into_iter().map(|a| a["id"].clone()));
        }
        let mut newest_first: Vec<Value> = all
            .as_array()
            .expect("all")
            .iter()
            .map(|a| a["id"].clone())
            .collect();
        newest_first.reverse();
        assert_eq!(
            seen, newest_first,
            "ascending pages walk the same activities oldest first"
        );

        assert_eq!(
            bot.get("/v2/account/activities/FILL")
                .await
                .body
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        let cash = bot
            .get("/v2/account/activities?activity_types=CSD")
            .await
            .body;
        assert_eq!(cash.as_array().map(Vec::len), Some(1));
        assert_eq!(cash[0]["description"], "opening cash");
        assert_eq!(
            bot.get("/v2/account/activities?activity_types=DIV")
                .await
                .body,
            json!([])
        );
        let later = (Utc::now() + Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
        assert_eq!(
            bot.get(&format!("/v2/account/activities?after={later}"))
                .await
                .body,
            json!([])
        );
        for path in [
            "/v2/account/activities?page_token=nonsense",
            "/v2/account/activities?page_size=0",
            "/v2/account/activities?direction=sideways",
            "/v2/account/activities?date=yesterday",
            "/v2/account/activities?activity_types=fill%00",
        ] {
            assert_alpaca_error(&bot.get(path).await, 422);
        }
        app.stop().await;
    }
);

dual_test!(
    portfolio_history_rebuilds_equity_from_fills_and_bars,
    Head,
    |t| {
        let (app, mut bot, clock) = two_days_of_buying(t).await;
        t.put_prices("AAPL", &[(utc("2026-12-02T20:59:00Z"), 130.0)])
            .await;
        // Wednesday, after the close.
        clock.set(utc("2026-12-02T21:30:00Z"));
        let daily = bot
            .get("/v2/account/portfolio/history?period=2D&timeframe=1D&date_end=2026-12-02")
            .await;
        assert_eq!(daily.status, 200, "{:?}", daily.body);
        let h = &daily.body;
        assert_eq!(h["base_value"], 100000.0, "Monday's close, before any fill");
        assert_eq!(h["equity"], json!([100100.0, 100350.0]));
        assert_eq!(h["profit_loss"], json!([100.0, 350.0]));
        assert_eq!(h["profit_loss_pct"], json!([0.001, 0.0035]));
        assert_eq!(
            h["timestamp"],
            json!([
                utc("2026-12-01T14:30:00Z").timestamp(),
                utc("2026-12-02T14:30:00Z").timestamp()
            ])
        );
        assert_eq!(h["timeframe"], "1D");
        assert_eq!(h["cashflow"], json!({}));

        let hourly = bot
            .get("/v2/account/portfolio/history?period=1D&timeframe=1H")
            .await
            .body;
        let equity = hourly["equity"].as_array().expect("equity");
        assert_eq!(equity.len(), 7, "{hourly}");
        assert_eq!(hourly["base_value"], 100100.0, "Tuesday's close");
        assert_eq!(equity[0], 100200.0, "15 shares at 120 by 15:30");
        assert_eq!(equity[6], 100350.0);
        for far in ["0001-01-01", "9999-12-31", "1970-01-01"] {
            let reply = bot
                .get(&format!(
                    "/v2/account/portfolio/history?period=5A&date_end={far}"
                ))
                .await;
            assert_eq!(reply.status, 200, "{far}: {:?}", reply.body);
        }
        for path in [
            "/v2/account/portfolio/history?period=1Y",
            "/v2/account/portfolio/history?period=0D",
            "/v2/account/portfolio/history?timeframe=2H",
            "/v2/account/portfolio/history?period=1A&timeframe=1Min",
            "/v2/account/portfolio/history?date_end=12/02/2026",
            "/v2/account/portfolio/history?start=2026-12-01T00:00:00Z",
        ] {
            assert_alpaca_error(&bot.get(path).await, 422);
        }
        app.stop().await;
    }
);

dual_test!(
    suspend_trade_is_the_kill_switch_and_other_settings_are_fixed,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut owner = accounts::customer(&app, "ada@example.com").await;
        let mut bot = accounts::bot(&app, &mut owner).await;
        price_now(t, "AAPL", 100.0).await;
        let order = json!({ "symbol": "AAPL", "qty": 1, "side": "buy", "type": "market", "time_in_force": "day" });
        let mut settings = bot.get("/v2/account/configurations").await.body;
        assert_eq!(settings["suspend_trade"], false);
        settings["suspend_trade"] = json!(true);
        settings["max_options_trading_level"] = Value::Null;
        let suspended = bot
            .patch("/v2/account/configurations", settings.clone())
            .await;
        assert_eq!(suspended.status, 200, "{:?}", suspended.body);
        assert_eq!(suspended.body["suspend_trade"], true);
        assert_eq!(bot.get("/v2/account").await.body["trading_blocked"], true);
        assert_alpaca_error(&bot.post("/v2/orders", order.clone()).await, 403);
        assert_eq!(
            owner.get("/api/account").await.body["trading_blocked"],
            true,
            "the console sees it too"
        );
        let audited = t
            .scalar("SELECT count(*) FROM audit_log WHERE action = 'trading.kill_switch'")
            .await;
        assert_eq!(audited, 1);

        let resumed = bot
            .patch(
                "/v2/account/configurations",
                json!({ "suspend_trade": false }),
            )
            .await;
        assert_eq!(resumed.body["suspend_trade"], false, "{:?}", resumed.body);
        assert_eq!(bot.post("/v2/orders", order).await.status, 200);
        for (field, value) in [
            ("max_margin_multiplier", json!("4")),
            ("no_shorting", json!(false)),
            ("trade_confirm_email", json!("none")),
            ("suspend_trade", json!("yes")),
        ] {
            let reply = bot
                .patch("/v2/account/configurations", json!({ field: value }))
                .await;
            assert_alpaca_error(&reply, 422);
        }
        app.stop().await;
    }
);

dual_test!(
    replacing_an_order_ends_it_and_places_the_change_in_one_step,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut owner = accounts::customer(&app, "ada@example.com").await;
        let mut bot = accounts::bot(&app, &mut owner).await;
        price_now(t, "AAPL", 190.0).await;
        let old = bot
        .post("/v2/orders", json!({ "symbol": "AAPL", "qty": 2, "side": "buy", "type": "limit", "time_in_force": "gtc", "limit_price": 150 }))
        .await
        .body;
        let old_id = old["id"].as_str().expect("id").to_owned();
        let new = bot
            .patch(
                &format!("/v2/orders/{old_id}"),
                json!({ "qty": 3, "limit_price": "160" }),
            )
            .await;
        assert_eq!(new.status, 200, "{:?}", new.body);
        assert_eq!(new.body["status"], "new");
        assert_eq!(new.body["qty"], "3");
        assert_eq!(new.body["limit_price"], "160");
        assert_eq!(new.body["time_in_force"], "gtc", "kept");
        assert_eq!(new.body["replaces"], old_id.as_str());
        let new_id = new.body["id"].as_str().expect("id").to_owned();
        let replaced = bot.get(&format!("/v2/orders/{old_id}")).await.body;
        assert_eq!(replaced["status"], "replaced");
        assert_eq!(replaced["replaced_by"], new_id.as_str());
        assert_eq!(
            bot.get("/v2/account").await.body["buying_power"],
            "99520",
            "only the new order reserves"
        );
        assert_alpaca_error(
            &bot.patch(&format!("/v2/orders/{old_id}"), json!({ "qty": 1 }))
                .await,
            422,
        );

        let refused = bot
            .patch(&format!("/v2/orders/{new_id}"), json!({ "qty": 100000 }))
            .await;
        assert_alpaca_error(&refused, 403);
        assert_eq!(
            bot.get(&format!("/v2/orders/{new_id}")).await.body["status"],
            "new",
            "a refused replacement changes nothing"
        );
        assert_alpaca_error(
            &bot.patch(&format!("/v2/orders/{new_id}"), json!({ "trail": 1 }))
                .await,
            422,
        );
        assert_alpaca_error(
            &bot.patch(&format!("/v2/orders/{new_id}"), json!({ "qty": -1 }))
                .await,
            422,
        );
        // A client order id another order of the account already has: a 422, and no change.
        let taken = old["client_order_id"].as_str().expect("client order id");
        let duplicate = bot
            .patch(
                &format!("/v2/orders/{new_id}"),
                json!({ "client_order_id": taken }),
            )
            .await;
        assert_alpaca_error(&duplicate, 422);
        assert!(
            duplicate.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("client_order_id")),
            "{:?}",
            duplicate.body
        );
        assert_eq!(
            bot.get(&format!("/v2/orders/{new_id}")).await.body["status"],
            "new"
        );

        let marketable = bot
            .patch(
                &format!("/v2/orders/{new_id}"),
                json!({ "limit_price": 200 }),
            )
            .await;
        assert_eq!(marketable.body["status"], "filled", "{:?}", marketable.body);
        assert_eq!(marketable.body["filled_avg_price"], "190");
        let closed = bot.get("/v2/orders?status=closed&direction=asc").await.body;
        let statuses: Vec<&str> = closed
            .as_array()
            .expect("orders")
            .iter()
            .map(|o| o["status"].as_str().expect("status"))
            .collect();
        assert_eq!(statuses, ["replaced", "replaced", "filled"]);

        let resting = owner
        .post("/api/orders", json!({ "symbol": "AAPL", "qty": "1", "side": "sell", "type": "limit", "time_in_force": "day", "limit_price": "250" }))
        .await;
        let id = resting.body["id"].as_str().expect("id");
        let moved = owner
            .patch(
                &format!("/api/orders/{id}"),
                json!({ "limit_price": "240" }),
            )
            .await;
        assert_eq!(moved.status, 200, "{:?}", moved.body);
        assert_eq!(moved.body["replaces"], id);
        assert_eq!(
            owner.get(&format!("/api/orders/{id}")).await.body["status"],
            "replaced"
        );
        app.stop().await;
    }
);
