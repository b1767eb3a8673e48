//! Opening and closing auction orders (`opg`, `cls`) and extended-hours limit orders through
//! `/v2`, on both dialects, on Tuesday 2026-12-01 (New York is UTC-5: the open is 14:30Z, the
//! close 21:00Z, the extended session ends at 01:00Z the next day).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use raptor_app::trading::match_symbol;
use raptor_app::{App, FixedClock};
use raptor_domain::Timeframe;
use raptor_testkit::{accounts, dual_test, Browser, TestApp, TestDb};
use serde_json::{json, Value};

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 time")
}

fn order(tif: &str, side: &str, qty: &str, limit: Option<&str>) -> Value {
    let mut body = json!({ "symbol": "AAPL", "qty": qty, "side": side, "type": "market", "time_in_force": tif });
    if let Some(limit) = limit {
        body["type"] = json!("limit");
        body["limit_price"] = json!(limit);
    }
    body
}

async fn place(bot: &mut Browser, body: Value) -> String {
    let reply = bot.post("/v2/orders", body.clone()).await;
    assert_eq!(reply.status, 200, "{body}: {:?}", reply.body);
    assert_eq!(
        reply.body["status"], "new",
        "{body} did not wait: {:?}",
        reply.body
    );
    reply.body["id"].as_str().expect("an id").to_owned()
}

async fn read(bot: &mut Browser, id: &str) -> Value {
    bot.get(&format!("/v2/orders/{id}")).await.body
}

/// A bot trading at 08:00 New York time, AAPL last at 100 in the pre-market, and the runtime
/// on the same clock.
async fn before_the_open(t: &TestDb) -> (TestApp, Browser, Arc<FixedClock>, App) {
    let clock = Arc::new(FixedClock::new(utc("2026-12-01T13:00:00Z")));
    let app = TestApp::builder(t.db().clone())
        .clock(clock.clone())
        .spawn()
        .await;
    let mut owner = accounts::customer(&app, "ada@example.com").await;
    let bot = accounts::bot(&app, &mut owner).await;
    t.put_prices("AAPL", &[(utc("2026-12-01T12:59:00Z"), 100.0)])
        .await;
    let runtime = App::new(t.db().clone()).with_clock(clock.clone());
    (app, bot, clock, runtime)
}

dual_test!(
    auction_orders_fill_at_the_open_or_the_close_and_limits_that_miss_are_canceled,
    Head,
    |t| {
        let (app, mut bot, clock, runtime) = before_the_open(t).await;
        let on_open = place(&mut bot, order("opg", "buy", "10", None)).await;
        let open_too_low = place(&mut bot, order("opg", "buy", "5", Some("95"))).await;
        let on_close = place(&mut bot, order("cls", "buy", "2", None)).await;
        let close_in_limit = place(&mut bot, order("cls", "buy", "3", Some("99"))).await;
        assert_eq!(read(&mut bot, &on_open).await["time_in_force"], "opg");
        // Waiting buys hold cash: the market ones at AAPL's latest close (100), the limits at
        // their limits: 10 x 100 + 5 x 95 + 2 x 100 + 3 x 99.
        let account = bot.get("/v2/account").await.body;
        assert_eq!(account["buying_power"], "98028", "{account}");
        let too_much = bot
            .post("/v2/orders", order("opg", "buy", "981", None))
            .await;
        assert_eq!(too_much.status, 403, "{:?}", too_much.body);

        // A pre-market bar is not the open; the 09:30 bar's open is.
        let bars = vec![
            (utc("2026-12-01T13:30:00Z"), 90.0, 90.0, 90.0, 90.0),
            (utc("2026-12-01T14:30:00Z"), 101.0, 103.0, 99.0, 102.0),
            (utc("2026-12-01T20:59:00Z"), 100.0, 100.0, 97.0, 98.0),
        ];
        t.put_bars("AAPL", Timeframe::Min1, bars).await;
        clock.set(utc("2026-12-01T15:00:00Z"));
        match_symbol(&runtime, "AAPL").await.expect("match");
        let opened = read(&mut bot, &on_open).await;
        assert_eq!(
            (&opened["status"], &opened["filled_avg_price"]),
            (&json!("filled"), &json!("101"))
        );
        assert_eq!(opened["filled_at"], "2026-12-01T14:30:00Z");
        let missed = read(&mut bot, &open_too_low).await;
        assert_eq!(missed["status"], "canceled", "{missed}");
        // The closing auction has not happened yet, though the session's last bar is stored.
        assert_eq!(read(&mut bot, &on_close).await["status"], "new");

        clock.set(utc("2026-12-01T21:00:00Z"));
        match_symbol(&runtime, "AAPL").await.expect("match");
        for id in [&on_close, &close_in_limit] {
            let closed = read(&mut bot, id).await;
            assert_eq!(
                (&closed["status"], &closed["filled_avg_price"]),
                (&json!("filled"), &json!("98")),
                "{closed}"
            );
            assert_eq!(closed["filled_at"], "2026-12-01T21:00:00Z");
        }
        let position = bot.get("/v2/positions/AAPL").await.body;
        assert_eq!(position["qty"], "15");
        app.stop().await;
    }
);

dual_test!(
    auction_orders_are_taken_only_while_their_auction_takes_them_and_expire_without_bars,
    Head,
    |t| {
        let (app, mut bot, clock, runtime) = before_the_open(t).await;
        clock.set(utc("2026-12-01T14:29:00Z"));
        let late = bot.post("/v2/orders", order("opg", "buy", "1", None)).await;
        assert_eq!(late.status, 422, "{:?}", late.body);
        assert!(
            late.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("2 minutes before the open")),
            "{:?}",
            late.body
        );
        clock.set(utc("2026-12-01T20:55:00Z"));
        assert_eq!(
            bot.post("/v2/orders", order("cls", "buy", "1", None))
                .await
                .status,
            422
        );
        for body in [
            json!({ "symbol": "AAPL", "qty": "1", "side": "buy", "type": "stop", "stop_price": "120", "time_in_force": "opg" }),
            json!({ "symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "opg",
                    "order_class": "oto", "stop_loss": { "stop_price": "90" } }),
            json!({ "symbol": "AAPL", "notional": "100", "side": "buy", "type": "market", "time_in_force": "cls" }),
        ] {
            let reply = bot.post("/v2/orders", body.clone()).await;
            assert_eq!(reply.status, 422, "{body}: {:?}", reply.body);
        }

        // From 19:00 New York time an opg order waits for Wednesday's open. Wednesday's bars
        // may be stored late, so it waits for them until Thursday's open, then is canceled.
        clock.set(utc("2026-12-02T00:30:00Z"));
        let queued = place(&mut bot, order("opg", "buy", "1", None)).await;
        clock.set(utc("2026-12-03T14:29:59Z"));
        match_symbol(&runtime, "AAPL").await.expect("match");
        assert_eq!(read(&mut bot, &queued).await["status"], "new");
        clock.set(utc("2026-12-03T14:30:00Z"));
        match_symbol(&runtime, "AAPL").await.expect("match");
        let canceled = read(&mut bot, &queued).await;
        assert_eq!(canceled["status"], "canceled", "{canceled}");
        app.stop().await;
    }
);

dual_test!(
    extended_hours_limit_day_orders_live_until_20_00_new_york_time,
    Head,
    |t| {
        let (app, mut bot, clock, runtime) = before_the_open(t).await;
        for body in [
            order("day", "buy", "1", None),
            order("gtc", "buy", "1", Some("50")),
        ] {
            let mut body = body;
            body["extended_hours"] = json!(true);
            let reply = bot.post("/v2/orders", body.clone()).await;
            assert_eq!(reply.status, 422, "{body}: {:?}", reply.body);
        }
        let mut extended = order("day", "buy", "1", Some("50"));
        extended["extended_hours"] = json!(true);
        let extended = place(&mut bot, extended).await;
        assert_eq!(read(&mut bot, &extended).await["extended_hours"], true);
        let regular = place(&mut bot, order("day", "buy", "1", Some("50"))).await;

        clock.set(utc("2026-12-01T21:00:00Z"));
        match_symbol(&runtime, "AAPL").await.expect("match");
        assert_eq!(read(&mut bot, &regular).await["status"], "expired");
        assert_eq!(read(&mut bot, &extended).await["status"], "new");
        // An after-hours bar at 17:00 New York time reaches its limit.
        t.put_bars(
            "AAPL",
            Timeframe::Min1,
            vec![(utc("2026-12-01T22:00:00Z"), 55.0, 55.0, 49.0, 52.0)],
        )
        .await;
        clock.set(utc("2026-12-01T22:01:00Z"));
        match_symbol(&runtime, "AAPL").await.expect("match");
        let filled = read(&mut bot, &extended).await;
        assert_eq!(
            (&filled["status"], &filled["filled_avg_price"]),
            (&json!("filled"), &json!("50"))
        );

        let mut late = order("day", "buy", "1", Some("40"));
        late["extended_hours"] = json!(true);
        let late = place(&mut bot, late).await;
        clock.set(utc("2026-12-02T01:00:00Z"));
        match_symbol(&runtime, "AAPL").await.expect("match");
        assert_eq!(read(&mut bot, &late).await["status"], "expired");
        app.stop().await;
    }
);

dual_test!(
    only_extended_hours_orders_trade_on_pre_market_bars,
    Head,
    |t| {
        let (app, mut bot, clock, runtime) = before_the_open(t).await;
        let bought = bot.post("/v2/orders", order("day", "buy", "2", None)).await;
        assert_eq!(bought.body["status"], "filled", "{:?}", bought.body);
        let regular = place(&mut bot, order("day", "buy", "1", Some("99"))).await;
        let good_till = place(&mut bot, order("gtc", "buy", "1", Some("99"))).await;
        let mut extended = order("day", "buy", "1", Some("99"));
        extended["extended_hours"] = json!(true);
        let extended = place(&mut bot, extended).await;
        let mut trailing = order("gtc", "sell", "2", None);
        trailing["type"] = json!("trailing_stop");
        trailing["trail_price"] = json!("5");
        let trailing = place(&mut bot, trailing).await;

        // At 08:01 New York time a bar opens at 98 and falls to 94: through every limit and
        // the trailing stop (95), but before the open.
        t.put_bars(
            "AAPL",
            Timeframe::Min1,
            vec![(utc("2026-12-01T13:01:00Z"), 98.0, 110.0, 94.0, 97.0)],
        )
        .await;
        clock.set(utc("2026-12-01T13:02:00Z"));
        match_symbol(&runtime, "AAPL").await.expect("match");
        let early = read(&mut bot, &extended).await;
        assert_eq!(
            (&early["status"], &early["filled_avg_price"]),
            (&json!("filled"), &json!("98"))
        );
        for id in [&regular, &good_till] {
            assert_eq!(read(&mut bot, id).await["status"], "new");
        }
        // The trailing stop neither fired nor moved its mark to the pre-market high.
        let stop = read(&mut bot, &trailing).await;
        assert_eq!(
            (&stop["status"], &stop["hwm"], &stop["stop_price"]),
            (&json!("new"), &json!("100"), &json!("95"))
        );

        // The session's first minute reaches 98.5: the regular limits fill at their limit.
        t.put_bars(
            "AAPL",
            Timeframe::Min1,
            vec![(utc("2026-12-01T14:30:00Z"), 99.5, 100.0, 98.5, 99.0)],
        )
        .await;
        clock.set(utc("2026-12-01T14:31:00Z"));
        match_symbol(&runtime, "AAPL").await.expect("match");
        for id in [&regular, &good_till] {
            let filled = read(&mut bot, id).await;
            assert_eq!(
                (&filled["status"], &filled["filled_avg_price"]),
                (&json!("filled"), &json!("99"))
            );
        }
        assert_eq!(read(&mut bot, &trailing).await["status"], "new");
        app.stop().await;
    }
);

dual_test!(
    a_closing_auction_is_priced_by_the_bar_that_ends_at_the_close_or_the_daily_bar,
    Head,
    |t| {
        let (app, mut bot, clock, runtime) = before_the_open(t).await;
        let minute = place(&mut bot, order("cls", "buy", "1", None)).await;
        // MSFT has only a daily bar, which begins at midnight, before the order was placed.
        let mut daily = order("cls", "buy", "1", Some("300"));
        daily["symbol"] = json!("MSFT");
        let daily = place(&mut bot, daily).await;
        t.put_bars(
            "MSFT",
            Timeframe::Day1,
            vec![(utc("2026-12-01T05:00:00Z"), 190.0, 199.0, 188.0, 195.0)],
        )
        .await;
        t.put_prices("AAPL", &[(utc("2026-12-01T20:58:00Z"), 97.0)])
            .await;
        clock.set(utc("2026-12-01T21:00:00Z"));
        match_symbol(&runtime, "AAPL").await.expect("match");
        match_symbol(&runtime, "MSFT").await.expect("match");
        // 15:58 is not the close: the session's last minute is not stored yet.
        assert_eq!(read(&mut bot, &minute).await["status"], "new");
        let msft = read(&mut bot, &daily).await;
        assert_eq!(
            (&msft["status"], &msft["filled_avg_price"]),
            (&json!("filled"), &json!("195"))
        );
        t.put_prices("AAPL", &[(utc("2026-12-01T20:59:00Z"), 96.5)])
            .await;
        clock.set(utc("2026-12-01T21:05:00Z"));
        match_symbol(&runtime, "AAPL").await.expect("match");
        let aapl = read(&mut bot, &minute).await;
        assert_eq!(
            (&aapl["status"], &aapl["filled_avg_price"]),
            (&json!("filled"), &json!("96.5"))
        );
        app.stop().await;
    }
);

dual_test!(
    orders_placed_at_once_beside_a_waiting_auction_buy_all_go_through,
    Head,
    |t| {
        let (app, mut bot, _clock, _runtime) = before_the_open(t).await;
        // Its buying power is reserved at the latest close, read while the account is locked.
        place(&mut bot, order("cls", "buy", "1", None)).await;
        let replies = futures_util::future::join_all((0..40).map(|_| {
            let mut racer = bot.clone();
            let body = json!({ "symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit",
                               "limit_price": "1", "time_in_force": "gtc" });
            async move { racer.post("/v2/orders", body).await.status }
        }))
        .await;
        assert!(replies.iter().all(|s| *s == 200), "{replies:?}");
        let open = bot.get("/v2/orders?status=open&limit=500").await;
        assert_eq!(
            open.body.as_array().map(Vec::len),
            Some(41),
            "{:?}",
            open.body
        );
        app.stop().await;
    }
);
