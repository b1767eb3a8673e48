//! Trade-update streams on both dialects: the console's server-sent events over the session
//! cookie (with `Last-Event-ID` resume), Alpaca's `/stream` websocket over a key pair, updates
//! crossing from one server to another over the same database, and a slow follower dropped
//! without holding up the rest.

use chrono::{Duration, Utc};
use raptor_app::trade_updates::{follow, Follower, Next, BACKLOG};
use raptor_domain::orders::{OrderClass, OrderStatus, OrderType, Side, TimeInForce};
use raptor_store::trading::{self, NewOrder};
use raptor_testkit::{
    accounts, assert_problem, dual_test, AlpacaStream, Browser, EventStream, Received, TestApp,
    TestDb,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use uuid::Uuid;

const AAPL: f64 = 190.25;

async fn price_now(t: &TestDb, symbol: &str, price: f64) {
    t.put_prices(symbol, &[(Utc::now() - Duration::minutes(1), price)])
        .await;
}

/// A server whose streams hear of changes only by announcement (never by looking).
async fn announced_only(t: &TestDb) -> TestApp {
    TestApp::builder(t.db().clone())
        .announced_trade_updates_only()
        .spawn()
        .await
}

fn market_buy(qty: &str) -> Value {
    json!({"symbol": "AAPL", "qty": qty, "side": "buy", "type": "market", "time_in_force": "day"})
}

fn resting_buy() -> Value {
    json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit",
           "limit_price": "100", "time_in_force": "gtc"})
}

/// The next event's name, order id and data.
async fn next(stream: &mut EventStream) -> (String, String, Value) {
    let event = stream.next().await.expect("the stream stays open");
    let data = event.data;
    assert_eq!(event.id.as_deref(), data["id"].as_str(), "{data}");
    assert_eq!(event.event.as_deref(), data["event"].as_str(), "{data}");
    let order = data["order"]["id"].as_str().expect("order id").to_owned();
    (
        data["event"].as_str().expect("event").to_owned(),
        order,
        data,
    )
}

dual_test!(
    the_console_stream_pushes_each_change_of_its_own_account_and_resumes_after_last_event_id,
    Head,
    |t| {
        price_now(t, "AAPL", AAPL).await;
        let app = announced_only(t).await;
        let mut ada = accounts::customer(&app, "ada@example.com").await;
        let mut bob = accounts::customer(&app, "bob@example.com").await;
        let mut stream = ada
            .events("/api/trade-updates", None)
            .await
            .expect("a stream");

        let bought = ada.post("/api/orders", market_buy("2")).await;
        assert_eq!(bought.status, 201, "{:?}", bought.body);
        let id = bought.body["id"].as_str().expect("id").to_owned();
        let (event, order, data) = next(&mut stream).await;
        assert_eq!((event.as_str(), order.as_str()), ("new", id.as_str()));
        assert_eq!(
            data["order"]["status"], "new",
            "the order as it was: {data}"
        );
        assert_eq!(data["order"]["filled_qty"], "0", "{data}");
        assert!(data["order"]["filled_at"].is_null(), "{data}");
        assert!(data["order"]["filled_avg_price"].is_null(), "{data}");
        assert!(data["price"].is_null(), "{data}");
        let (event, order, data) = next(&mut stream).await;
        assert_eq!((event.as_str(), order.as_str()), ("fill", id.as_str()));
        assert_eq!(data["order"]["status"], "filled");
        assert_eq!(data["price"], "190.25");
        assert_eq!(data["qty"], "2");
        assert_eq!(data["position_qty"], "2");

        // Another account's orders are not on this stream.
        assert_eq!(bob.post("/api/orders", market_buy("1")).await.status, 201);
        let resting = ada.post("/api/orders", resting_buy()).await;
        let resting_id = resting.body["id"].as_str().expect("id").to_owned();
        let (event, order, data) = next(&mut stream).await;
        assert_eq!(
            (event.as_str(), order.as_str()),
            ("new", resting_id.as_str())
        );
        let seen = data["id"].as_str().expect("id").to_owned();
        cancel_and_read(&mut stream, &mut ada, &resting_id).await;
        // Not marketable, immediate or cancel: accepted, then canceled at once.
        let ioc = ada
            .post(
                "/api/orders",
                json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit",
                       "limit_price": "100", "time_in_force": "ioc"}),
            )
            .await;
        let ioc_id = ioc.body["id"].as_str().expect("id").to_owned();
        let (event, order, _) = next(&mut stream).await;
        assert_eq!((event.as_str(), order.as_str()), ("new", ioc_id.as_str()));
        let (event, order, _) = next(&mut stream).await;
        assert_eq!(
            (event.as_str(), order.as_str()),
            ("canceled", ioc_id.as_str())
        );

        // Missed while disconnected, or sent after the id a client resumes from: it gets them
        // (here from before the cancel it saw, so some come from the store whatever the timing).
        drop(stream);
        let sold = ada
            .post(
                "/api/orders",
                json!({"symbol": "AAPL", "qty": "2", "side": "sell",
                                         "type": "market", "time_in_force": "day"}),
            )
            .await;
        assert_eq!(sold.status, 201, "{:?}", sold.body);
        let sold_id = sold.body["id"].as_str().expect("id").to_owned();
        let mut resumed = ada
            .events("/api/trade-updates", Some(&seen))
            .await
            .expect("a stream");
        let (event, order, _) = next(&mut resumed).await;
        assert_eq!(
            (event.as_str(), order.as_str()),
            ("canceled", resting_id.as_str())
        );
        assert_eq!(next(&mut resumed).await.1, ioc_id);
        assert_eq!(next(&mut resumed).await.1, ioc_id);
        let (event, order, _) = next(&mut resumed).await;
        assert_eq!((event.as_str(), order.as_str()), ("new", sold_id.as_str()));
        let (event, order, data) = next(&mut resumed).await;
        assert_eq!((event.as_str(), order.as_str()), ("fill", sold_id.as_str()));
        assert_eq!(data["position_qty"], "0", "{data}");
        // And then live ones.
        let again = ada.post("/api/orders", market_buy("1")).await;
        let again_id = again.body["id"].as_str().expect("id").to_owned();
        let (event, order, _) = next(&mut resumed).await;
        assert_eq!((event.as_str(), order.as_str()), ("new", again_id.as_str()));

        let bad = ada
            .events("/api/trade-updates", Some("yesterday"))
            .await
            .err()
            .expect("refused");
        assert_problem(&bad, 400, "invalid_parameter");
        let stranger = app.browser();
        let refused = stranger
            .events("/api/trade-updates", None)
            .await
            .err()
            .expect("refused");
        assert_problem(&refused, 401, "not_signed_in");
        app.stop().await;
    }
);

dual_test!(a_stream_goes_on_after_the_account_is_reset, Head, |t| {
    price_now(t, "AAPL", AAPL).await;
    let app = announced_only(t).await;
    let mut ada = accounts::customer(&app, "ada@example.com").await;
    let mut stream = ada
        .events("/api/trade-updates", None)
        .await
        .expect("a stream");
    assert_eq!(ada.post("/api/orders", market_buy("1")).await.status, 201);
    assert_eq!(next(&mut stream).await.0, "new");
    assert_eq!(next(&mut stream).await.0, "fill");
    // The reset deletes the account's updates; new ones must still be numbered after them.
    let reset = ada.post("/api/account/reset", json!({})).await;
    assert_eq!(reset.status, 200, "{:?}", reset.body);
    let placed = ada.post("/api/orders", market_buy("1")).await;
    let (event, order, _) = next(&mut stream).await;
    assert_eq!(event, "new");
    assert_eq!(Some(order.as_str()), placed.body["id"].as_str());
    app.stop().await;
});

/// Cancels the resting order and reads its `canceled` update.
async fn cancel_and_read(stream: &mut EventStream, owner: &mut Browser, order_id: &str) {
    let canceled = owner.delete(&format!("/api/orders/{order_id}")).await;
    assert!(canceled.status < 300, "{:?}", canceled.body);
    let (event, order, data) = next(stream).await;
    assert_eq!((event.as_str(), order.as_str()), ("canceled", order_id));
    assert_eq!(data["order"]["status"], "canceled");
}

fn stream_message(received: Received) -> Value {
    match received {
        Received::Json(message) => message,
        Received::Closed(code, reason) => panic!("closed {code}: {reason}"),
    }
}

dual_test!(
    the_alpaca_stream_authenticates_first_then_pushes_updates_in_alpacas_shape,
    Head,
    |t| {
        price_now(t, "AAPL", AAPL).await;
        let app = announced_only(t).await;
        let mut owner = accounts::customer(&app, "bot-owner@example.com").await;
        let mut bot = accounts::bot(&app, &mut owner).await;
        let (key_id, secret) = bot.api_key.clone().expect("a key");

        // Not a websocket handshake: an Alpaca error body says so.
        let plain = app.browser().get("/stream").await;
        assert_eq!(
            (plain.status, &plain.body["code"]),
            (400, &json!(40010000)),
            "{:?}",
            plain.body
        );

        let mut forger = AlpacaStream::connect(&app.url("")).await;
        let answer = stream_message(forger.authenticate(&key_id, "not-the-secret").await);
        assert_eq!(
            answer,
            json!({"stream": "authorization",
                   "data": {"action": "authenticate", "status": "unauthorized"}})
        );
        assert!(matches!(forger.next().await, Received::Closed(1008, _)));
        // A key id no key has (a NUL, which PostgreSQL refuses in text) is as unauthorized.
        for odd in ["\0", &format!("{key_id}\0"), &"K".repeat(3000)] {
            let mut odd_key = AlpacaStream::connect(&app.url("")).await;
            let answer = stream_message(odd_key.authenticate(odd, &secret).await);
            assert_eq!(answer["data"]["status"], "unauthorized", "{answer}");
            assert!(matches!(odd_key.next().await, Received::Closed(1008, _)));
        }
        // A message over the limit is refused as too big (1009), not cut off without a word.
        let mut long = AlpacaStream::connect(&app.url("")).await;
        long.send(json!({ "action": "auth", "key": "K".repeat(5000), "secret": secret }))
            .await;
        assert!(matches!(long.next().await, Received::Closed(1009, _)));

        let mut early = AlpacaStream::connect(&app.url("")).await;
        early
            .send(json!({"action": "listen", "data": {"streams": ["trade_updates"]}}))
            .await;
        let answer = stream_message(early.next().await);
        assert_eq!(answer["data"]["status"], "unauthorized", "{answer}");

        // Alpaca's shorter authenticate message works too.
        let mut short = AlpacaStream::connect(&app.url("")).await;
        short
            .send(json!({"action": "auth", "key": key_id, "secret": secret}))
            .await;
        assert_eq!(
            stream_message(short.next().await)["data"]["status"],
            "authorized"
        );

        let mut stream = AlpacaStream::connect(&app.url("")).await;
        let answer = stream_message(stream.authenticate(&key_id, &secret).await);
        assert_eq!(
            answer,
            json!({"stream": "authorization",
                   "data": {"action": "authenticate", "status": "authorized"}})
        );
        stream
            .send(json!({"action": "listen", "data": {"streams": ["trade_updates"]}}))
            .await;
        assert_eq!(
            stream_message(stream.next().await),
            json!({"stream": "listening", "data": {"streams": ["trade_updates"]}})
        );

        let placed = bot.post("/v2/orders", market_buy("3")).await;
        assert_eq!(placed.status, 200, "{:?}", placed.body);
        let id = placed.body["id"].clone();
        let new = stream_message(stream.next().await);
        assert_eq!(new["stream"], "trade_updates");
        assert_eq!(new["data"]["event"], "new");
        assert_eq!(new["data"]["order"]["id"], id);
        assert!(new["data"].get("execution_id").is_none(), "{new}");
        let fill = stream_message(stream.next().await)["data"].clone();
        assert_eq!(fill["event"], "fill");
        assert_eq!(fill["order"]["id"], id);
        assert_eq!(fill["order"]["status"], "filled");
        assert_eq!(fill["order"]["filled_qty"], "3");
        assert_eq!(
            (&fill["price"], &fill["qty"], &fill["position_qty"]),
            (&json!("190.25"), &json!("3"), &json!("3"))
        );
        assert!(
            fill["execution_id"]
                .as_str()
                .is_some_and(|s| Uuid::parse_str(s).is_ok()),
            "{fill}"
        );
        assert!(fill["timestamp"].as_str().is_some(), "{fill}");

        // A replacement: the old order is `replaced` (naming the new one), then the new one `new`.
        let resting = bot.post("/v2/orders", resting_buy()).await;
        let old = resting.body["id"].as_str().expect("id").to_owned();
        assert_eq!(stream_message(stream.next().await)["data"]["event"], "new");
        let replaced = bot
            .patch(&format!("/v2/orders/{old}"), json!({"limit_price": "101"}))
            .await;
        assert_eq!(replaced.status, 200, "{:?}", replaced.body);
        let replaced_update = stream_message(stream.next().await)["data"].clone();
        assert_eq!(replaced_update["event"], "replaced", "{replaced_update}");
        assert_eq!(replaced_update["order"]["id"], old.as_str());
        assert_eq!(replaced_update["order"]["status"], "replaced");
        assert_eq!(replaced_update["order"]["replaced_by"], replaced.body["id"]);
        let new_update = stream_message(stream.next().await)["data"].clone();
        assert_eq!(new_update["event"], "new", "{new_update}");
        assert_eq!(new_update["order"]["id"], replaced.body["id"]);
        assert_eq!(new_update["order"]["replaces"], old.as_str());

        // Unlistening stops updates; the connection stays.
        stream
            .send(json!({"action": "listen", "data": {"streams": []}}))
            .await;
        assert_eq!(
            stream_message(stream.next().await),
            json!({"stream": "listening", "data": {"streams": []}})
        );
        stream.send(json!({"action": "dance"})).await;
        assert_eq!(stream_message(stream.next().await)["stream"], "error");
        app.stop().await;
    }
);

dual_test!(
    an_update_made_on_one_server_reaches_a_stream_on_another,
    Head,
    |t| {
        // Two servers, each with its own connection pool over the same database: on
        // PostgreSQL the change is announced with NOTIFY (the follower's server never looks
        // unannounced here); on SQLite the follower's server finds it by looking, as another
        // process's writes cannot be announced in-process.
        price_now(t, "AAPL", AAPL).await;
        let first = match t.dialect().name() {
            "sqlite" => TestApp::spawn(t.db().clone()).await,
            _ => announced_only(t).await,
        };
        let second = first.spawn_sibling(t.connect_again().await).await;
        let owner = accounts::customer(&first, "ada@example.com").await;
        let mut stream = owner
            .events("/api/trade-updates", None)
            .await
            .expect("a stream");
        let mut elsewhere = Browser::new(&second.url(""), second.origin());
        elsewhere.cookie = owner.cookie.clone();
        let placed = elsewhere.post("/api/orders", market_buy("1")).await;
        assert_eq!(placed.status, 201, "{:?}", placed.body);
        let (event, order, _) = next(&mut stream).await;
        assert_eq!(event, "new");
        assert_eq!(Some(order.as_str()), placed.body["id"].as_str());
        assert_eq!(next(&mut stream).await.0, "fill");
        second.stop().await;
        first.stop().await;
    }
);

/// Commits `count` resting orders in one transaction: one `new` update each, announced at once.
async fn flood(t: &TestDb, account_id: i64, first: usize, count: usize) -> String {
    let mut tx = t.db().begin().await.expect("begin");
    let mut client_id = String::new();
    for n in first..first + count {
        client_id = format!("flood-{n}");
        let order = NewOrder {
            account_id,
            client_order_id: &client_id,
            symbol: "AAPL",
            side: Side::Buy,
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Gtc,
            qty: Some(Decimal::ONE),
            notional: None,
            limit_price: Some(Decimal::ONE),
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
        trading::insert_order(&mut tx, &order, Utc::now())
            .await
            .expect("insert");
    }
    tx.commit().await.expect("commit");
    client_id
}

/// Reads `follower` in order up to the update of the order with `client_id`.
async fn read_through(follower: &mut Follower, client_id: &str) {
    let mut last = 0;
    loop {
        match follower.next().await.expect("read") {
            Next::Update(update) => {
                assert!(update.id > last, "updates in order");
                last = update.id;
                if update.order.client_order_id == client_id {
                    return;
                }
            }
            other => panic!("the reading follower got {other:?}"),
        }
    }
}

dual_test!(
    a_follower_that_falls_too_far_behind_is_dropped_and_others_go_on,
    Head,
    |t| {
        let server = TestApp::spawn(t.db().clone()).await;
        let mut owner = accounts::customer(&server, "ada@example.com").await;
        let user_id = accounts::user_id(&mut owner).await;
        let account = trading::account_of_user(t.db(), user_id)
            .await
            .expect("read")
            .expect("an account");
        let app = server.use_cases();
        let mut silent = follow(app, user_id, None).await.expect("follow");
        let mut reader = follow(app, user_id, None).await.expect("follow");
        // Two floods, each well within what a follower may lag by, that together exceed it:
        // the reader keeps up with each; the silent one reads nothing.
        let half = BACKLOG / 2 + 1;
        let last = flood(t, account.id, 0, half).await;
        read_through(&mut reader, &last).await;
        let last = flood(t, account.id, half, half).await;
        read_through(&mut reader, &last).await;
        match silent.next().await.expect("read") {
            Next::TooSlow => {}
            other => panic!("the silent follower was not dropped: {other:?}"),
        }
        // The reader goes on.
        let last = flood(t, account.id, 2 * half, 1).await;
        read_through(&mut reader, &last).await;
        server.stop().await;
    }
);
