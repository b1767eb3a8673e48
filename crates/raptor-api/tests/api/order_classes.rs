//! Trailing stops and bracket, OCO and OTO orders through `/v2`, on both dialects: when legs
//! begin to work, how one exit ends the other, how a trailing stop's stop follows the best
//! price, and what each fills at, by hand-computed bars. The bots trade at 10:00 New York
//! time on Tuesday 2026-12-01, so every bar below is one of the regular session.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use raptor_app::trading::match_symbol;
use raptor_app::{App, FixedClock};
use raptor_domain::Timeframe;
use raptor_testkit::{accounts, dual_test, Browser, TestApp, TestDb};
use serde_json::{json, Value};

/// 10:00 New York time on a Tuesday: the bots' clock and the runtime's.
fn now() -> DateTime<Utc> {
    "2026-12-01T15:00:00Z".parse().expect("an RFC 3339 time")
}

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(now()))
}

/// Puts AAPL's latest price at `price` a minute ago.
async fn price_now(t: &TestDb, price: f64) {
    t.put_prices("AAPL", &[(now() - Duration::minutes(1), price)])
        .await;
}

/// An AAPL minute bar `minutes` from now, then one matching pass.
async fn bar(t: &TestDb, minutes: i64, open: f64, high: f64, low: f64, close: f64) {
    bar_of(t, "AAPL", minutes, (open, high, low, close)).await;
}

async fn bar_of(
    t: &TestDb,
    symbol: &str,
    minutes: i64,
    (open, high, low, close): (f64, f64, f64, f64),
) {
    let at = now() + Duration::minutes(minutes);
    t.put_bars(symbol, Timeframe::Min1, vec![(at, open, high, low, close)])
        .await;
    match_symbol(&App::new(t.db().clone()).with_clock(clock()), symbol)
        .await
        .expect("match");
}

async fn order(bot: &mut Browser, id: &Value) -> Value {
    let id = id.as_str().expect("an id");
    let reply = bot.get(&format!("/v2/orders/{id}")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

async fn place(bot: &mut Browser, body: Value) -> Value {
    let reply = bot.post("/v2/orders", body.clone()).await;
    assert_eq!(reply.status, 200, "{body}: {:?}", reply.body);
    reply.body
}

async fn cash(bot: &mut Browser) -> String {
    bot.get("/v2/account").await.body["cash"]
        .as_str()
        .expect("cash")
        .to_owned()
}

async fn trader(t: &TestDb) -> (TestApp, Browser) {
    let app = TestApp::builder(t.db().clone())
        .clock(clock())
        .spawn()
        .await;
    let mut owner = accounts::customer(&app, "ada@example.com").await;
    let bot = accounts::bot(&app, &mut owner).await;
    (app, bot)
}

fn buy(qty: u32) -> Value {
    json!({"symbol": "AAPL", "qty": qty.to_string(), "side": "buy", "type": "market",
           "time_in_force": "gtc"})
}

dual_test!(
    a_trailing_stop_follows_the_best_price_and_fills_at_its_stop,
    Head,
    |t| {
        price_now(t, 100.0).await;
        let (app, mut bot) = trader(t).await;
        place(&mut bot, buy(10)).await;
        let stop = place(
            &mut bot,
            json!({"symbol": "AAPL", "qty": "10", "side": "sell", "type": "trailing_stop",
                   "trail_price": "5", "time_in_force": "gtc"}),
        )
        .await;
        assert_eq!(
            (
                &stop["type"],
                &stop["hwm"],
                &stop["stop_price"],
                &stop["trail_price"]
            ),
            (
                &json!("trailing_stop"),
                &json!("100"),
                &json!("95"),
                &json!("5")
            ),
            "it starts from the price now: {stop}"
        );
        // Low 101 stays above 95; the high of 108 lifts the stop to 103.
        bar(t, 1, 100.0, 108.0, 101.0, 107.0).await;
        let moved = order(&mut bot, &stop["id"]).await;
        assert_eq!(
            (&moved["status"], &moved["hwm"], &moved["stop_price"]),
            (&json!("new"), &json!("108"), &json!("103")),
            "{moved}"
        );
        // The same bars again move nothing.
        match_symbol(&App::new(t.db().clone()), "AAPL")
            .await
            .expect("match");
        assert_eq!(order(&mut bot, &stop["id"]).await["hwm"], "108");
        // Opening at 106 and trading down to 102 crosses 103: it fills at the stop.
        bar(t, 2, 106.0, 107.0, 102.0, 102.0).await;
        let filled = order(&mut bot, &stop["id"]).await;
        assert_eq!(
            (&filled["status"], &filled["filled_avg_price"]),
            (&json!("filled"), &json!("103")),
            "{filled}"
        );
        assert_eq!(
            cash(&mut bot).await,
            "100030",
            "bought 10 at 100, sold 10 at 103"
        );

        // A percentage trail (on another symbol, whose bars are all still to come); a bar that
        // opens beyond the stop fills at its open.
        t.put_prices("MSFT", &[(now() - Duration::minutes(1), 200.0)])
            .await;
        place(
            &mut bot,
            json!({"symbol": "MSFT", "qty": "1", "side": "buy", "type": "market",
                               "time_in_force": "day"}),
        )
        .await;
        let percent = place(
            &mut bot,
            json!({"symbol": "MSFT", "qty": "1", "side": "sell", "type": "trailing_stop",
                   "trail_percent": "2.5", "time_in_force": "gtc"}),
        )
        .await;
        assert_eq!(
            (&percent["hwm"], &percent["stop_price"]),
            (&json!("200"), &json!("195"))
        );
        // Two bars before one pass: the first lifts the mark to 210 (stop 204.75), the second
        // opens below that stop. The order shows where its stop stood when it filled.
        let first = now() + Duration::minutes(1);
        t.put_bars(
            "MSFT",
            Timeframe::Min1,
            vec![(first, 200.0, 210.0, 201.0, 209.0)],
        )
        .await;
        bar_of(t, "MSFT", 2, (203.0, 204.0, 199.0, 200.0)).await;
        let gapped = order(&mut bot, &percent["id"]).await;
        assert_eq!(
            (
                &gapped["filled_avg_price"],
                &gapped["hwm"],
                &gapped["stop_price"]
            ),
            (&json!("203"), &json!("210"), &json!("204.75")),
            "{gapped}"
        );
        app.stop().await;
    }
);

dual_test!(
    a_bracket_holds_its_exits_until_it_fills_then_the_first_exit_cancels_the_other,
    Head,
    |t| {
        price_now(t, 100.0).await;
        let (app, mut bot) = trader(t).await;
        let bracket = place(
            &mut bot,
            json!({"symbol": "AAPL", "qty": "5", "side": "buy", "type": "limit",
                   "limit_price": "98", "time_in_force": "gtc", "order_class": "bracket",
                   "take_profit": {"limit_price": "110"},
                   "stop_loss": {"stop_price": "90", "limit_price": "89"}}),
        )
        .await;
        assert_eq!(
            (&bracket["order_class"], &bracket["status"]),
            (&json!("bracket"), &json!("new"))
        );
        let legs = bracket["legs"].as_array().expect("legs").clone();
        assert_eq!(legs.len(), 2, "{bracket}");
        let (profit, loss) = (&legs[0], &legs[1]);
        assert_eq!(
            (
                &profit["type"],
                &profit["side"],
                &profit["limit_price"],
                &profit["status"]
            ),
            (
                &json!("limit"),
                &json!("sell"),
                &json!("110"),
                &json!("held")
            )
        );
        assert_eq!(
            (
                &loss["type"],
                &loss["stop_price"],
                &loss["limit_price"],
                &loss["status"]
            ),
            (
                &json!("stop_limit"),
                &json!("90"),
                &json!("89"),
                &json!("held")
            )
        );
        assert_eq!(profit["qty"], "5");
        place(&mut bot, buy(3)).await;
        // Held exits cannot fill: a bar through 110 before the entry fills does nothing.
        bar(t, 1, 101.0, 111.0, 100.0, 101.0).await;
        assert_eq!(order(&mut bot, &profit["id"]).await["status"], "held");
        // The entry fills at 98; both exits then work.
        bar(t, 2, 99.0, 99.5, 97.0, 98.0).await;
        let entered = order(&mut bot, &bracket["id"]).await;
        assert_eq!(
            (&entered["status"], &entered["filled_avg_price"]),
            (&json!("filled"), &json!("98"))
        );
        assert_eq!(entered["legs"][0]["status"], "new", "{entered}");
        assert_eq!(entered["legs"][1]["status"], "new", "{entered}");
        // Both exits sell the same 5 shares, counted once: of 8 held, 3 more may be sold.
        let sell = |qty: &str| {
            json!({"symbol": "AAPL", "qty": qty, "side": "sell", "type": "market",
                   "time_in_force": "day"})
        };
        let too_many = bot.post("/v2/orders", sell("4")).await;
        assert_eq!(too_many.status, 403, "{:?}", too_many.body);
        assert_eq!(bot.post("/v2/orders", sell("3")).await.status, 200);
        // The exits work from the entry's fill on: the first bar through 110 since then opens at
        // 112, so the take profit fills at that better open (an exit scanning from the bracket's
        // placing would have filled at 110 in the first bar). The stop loss is canceled with it.
        bar(t, 3, 112.0, 113.0, 111.0, 112.0).await;
        assert_eq!(
            order(&mut bot, &profit["id"]).await["filled_avg_price"],
            "112"
        );
        assert_eq!(order(&mut bot, &loss["id"]).await["status"], "canceled");
        assert_eq!(
            cash(&mut bot).await,
            "100064",
            "bought 5 at 98 and 3 at 100, sold 3 at 98 and 5 at 112"
        );

        // Listed nested, legs sit under their parent; listed flat, they are orders too.
        let nested = bot.get("/v2/orders?status=all&nested=true").await.body;
        // Newest first: the sell of 3, the buy of 3, then the bracket with its two legs.
        assert_eq!(nested.as_array().map(Vec::len), Some(3), "{nested}");
        assert_eq!(nested[2]["id"], bracket["id"]);
        assert_eq!(nested[2]["legs"].as_array().map(Vec::len), Some(2));
        let flat = bot.get("/v2/orders?status=all").await.body;
        assert_eq!(flat.as_array().map(Vec::len), Some(5), "{flat}");

        // Canceling a bracket whose entry has not filled cancels its held exits too.
        let second = place(
            &mut bot,
            json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit",
                   "limit_price": "50", "time_in_force": "gtc", "order_class": "bracket",
                   "take_profit": {"limit_price": "60"}, "stop_loss": {"stop_price": "40"}}),
        )
        .await;
        let id = second["id"].as_str().expect("id");
        assert_eq!(bot.delete(&format!("/v2/orders/{id}")).await.status, 204);
        for leg in second["legs"].as_array().expect("legs") {
            assert_eq!(order(&mut bot, &leg["id"]).await["status"], "canceled");
        }
        // A member of a group is not replaced.
        let third = place(
            &mut bot,
            json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit",
                   "limit_price": "50", "time_in_force": "gtc", "order_class": "bracket",
                   "take_profit": {"limit_price": "60"}, "stop_loss": {"stop_price": "40"}}),
        )
        .await;
        let id = third["id"].as_str().expect("id");
        let refused = bot
            .patch(&format!("/v2/orders/{id}"), json!({"limit_price": "51"}))
            .await;
        assert_eq!(refused.status, 422, "{:?}", refused.body);
        app.stop().await;
    }
);

dual_test!(
    an_oco_closes_a_position_by_whichever_exit_comes_first,
    Head,
    |t| {
        price_now(t, 100.0).await;
        let (app, mut bot) = trader(t).await;
        place(&mut bot, buy(5)).await;
        let oco = place(
            &mut bot,
            json!({"symbol": "AAPL", "qty": "5", "side": "sell", "type": "limit",
                   "time_in_force": "gtc", "order_class": "oco",
                   "take_profit": {"limit_price": "110"}, "stop_loss": {"stop_price": "90"}}),
        )
        .await;
        assert_eq!(
            (&oco["limit_price"], &oco["status"]),
            (&json!("110"), &json!("new")),
            "{oco}"
        );
        let loss = oco["legs"][0].clone();
        assert_eq!(
            (&loss["type"], &loss["stop_price"], &loss["status"]),
            (&json!("stop"), &json!("90"), &json!("new")),
            "both exits work at once"
        );
        // Two bars arrive before one pass: the first falls through 90, the second rises through
        // 110. The stop crossed first, so it fills at 90 and the limit is canceled.
        let first = now() + Duration::minutes(1);
        t.put_bars(
            "AAPL",
            Timeframe::Min1,
            vec![(first, 95.0, 96.0, 88.0, 89.0)],
        )
        .await;
        bar(t, 2, 111.0, 112.0, 110.0, 111.0).await;
        assert_eq!(order(&mut bot, &loss["id"]).await["filled_avg_price"], "90");
        assert_eq!(order(&mut bot, &oco["id"]).await["status"], "canceled");
        assert_eq!(
            cash(&mut bot).await,
            "99950",
            "bought 5 at 100, sold 5 at 90"
        );

        // An OCO whose take profit is marketable fills at once and its stop never works.
        place(&mut bot, buy(2)).await;
        let at_once = place(
            &mut bot,
            json!({"symbol": "AAPL", "qty": "2", "side": "sell", "type": "limit",
                   "time_in_force": "gtc", "order_class": "oco",
                   "take_profit": {"limit_price": "100"}, "stop_loss": {"stop_price": "90"}}),
        )
        .await;
        assert_eq!(at_once["status"], "filled", "{at_once}");
        assert_eq!(at_once["legs"][0]["status"], "canceled", "{at_once}");
        assert_eq!(bot.get("/v2/positions").await.body, json!([]));
        app.stop().await;
    }
);

dual_test!(
    an_oto_entry_that_fills_at_once_starts_its_exit_at_once,
    Head,
    |t| {
        price_now(t, 100.0).await;
        let (app, mut bot) = trader(t).await;
        let oto = place(
            &mut bot,
            json!({"symbol": "AAPL", "qty": "2", "side": "buy", "type": "market",
                   "time_in_force": "day", "order_class": "oto",
                   "stop_loss": {"stop_price": "95"}}),
        )
        .await;
        assert_eq!(oto["status"], "filled", "{oto}");
        let exit = &oto["legs"][0];
        assert_eq!(
            (&exit["type"], &exit["status"], &exit["qty"]),
            (&json!("stop"), &json!("new"), &json!("2")),
            "{oto}"
        );
        bar(t, 1, 96.0, 97.0, 94.0, 94.5).await;
        assert_eq!(order(&mut bot, &exit["id"]).await["filled_avg_price"], "95");
        app.stop().await;
    }
);

dual_test!(
    order_classes_and_trails_that_do_not_hold_together_are_refused_by_field,
    Head,
    |t| {
        price_now(t, 100.0).await;
        let (app, mut bot) = trader(t).await;
        let base = json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit",
                          "limit_price": "100", "time_in_force": "gtc", "order_class": "bracket",
                          "take_profit": {"limit_price": "110"}, "stop_loss": {"stop_price": "90"}});
        let with = |key: &str, value: Value| {
            let mut body = base.clone();
            body[key] = value;
            body
        };
        let trailing = json!({"symbol": "AAPL", "qty": "1", "side": "sell", "type": "trailing_stop",
                              "time_in_force": "gtc"});
        let trail = |key: &str, value: Value| {
            let mut body = trailing.clone();
            body[key] = value;
            body
        };
        for body in [
            with("side", json!("sell")),
            with("order_class", json!("sideways")),
            with("stop_loss", Value::Null),
            with("take_profit", json!({"limit_price": "80"})),
            with("take_profit", json!({"limit_price": "99"})),
            with("stop_loss", json!({"limit_price": "89"})),
            with("time_in_force", json!("ioc")),
            with("type", json!("stop")),
            with("qty", Value::Null),
            json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market",
                   "time_in_force": "day", "take_profit": {"limit_price": "110"}}),
            json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "limit_price": "99",
                   "time_in_force": "gtc", "order_class": "oco",
                   "take_profit": {"limit_price": "110"}, "stop_loss": {"stop_price": "90"}}),
            json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market",
                   "time_in_force": "day", "order_class": "oto",
                   "take_profit": {"limit_price": "110"}, "stop_loss": {"stop_price": "90"}}),
            trailing.clone(),
            trail("trail_price", json!("1e400")),
            trail("trail_percent", json!("100")),
            trail("trail_price", json!("-1")),
            {
                let mut both = trail("trail_price", json!("1"));
                both["trail_percent"] = json!("1");
                both
            },
            {
                let mut fok = trail("trail_price", json!("1"));
                fok["time_in_force"] = json!("fok");
                fok
            },
            json!({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "limit_price": "99",
                   "time_in_force": "gtc", "trail_price": "1"}),
        ] {
            let reply = bot.post("/v2/orders", body.clone()).await;
            assert_eq!(reply.status, 422, "{body}: {:?}", reply.body);
            assert!(
                reply.body["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{body}"
            );
        }
        assert_eq!(
            bot.get("/v2/orders?status=all").await.body,
            json!([]),
            "nothing half-placed"
        );
        app.stop().await;
    }
);
