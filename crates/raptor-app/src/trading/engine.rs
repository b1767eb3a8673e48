//! The paper trading engine: submission, fills, and matching resting orders against bars.
//! Every change locks the account row first, so concurrent orders cannot share cash.

use chrono::{DateTime, Utc};
use raptor_domain::orders::{OrderStatus, OrderType, Side, Terms, TimeInForce};
use raptor_domain::timeframe::Timeframe;
use raptor_store::trading::{self, Account, NewOrder, Order, Position};
use raptor_store::{market, DbDecimal, StoreError, Tx};

use crate::metrics::FillTrigger;
use crate::App;
use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places kept for quantities and money.
const SCALE: u32 = 8;
/// Bars looked at per order per matching pass.
const BARS_PER_PASS: i64 = 50_000;

fn round(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(SCALE, RoundingStrategy::MidpointAwayFromZero)
}

/// A bar price as an exact decimal (bars are stored as binary floats).
pub fn price(value: f64) -> Decimal {
    Decimal::try_from(value)
        .map(|d| d.round_dp(6))
        .unwrap_or(Decimal::ZERO)
}

/// Why an order was refused; each maps to a 4xx.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The account's kill switch is on.
    #[error("trading is disabled for this account (kill switch on)")]
    TradingDisabled,
    /// Not enough cash for the order (and the orders already working).
    #[error("insufficient buying power: the order needs {needed} and {available} is available")]
    BuyingPower {
        /// Cost of the order.
        needed: Decimal,
        /// Cash not reserved by working orders.
        available: Decimal,
    },
    /// Selling more than is held (shorting is not offered).
    #[error("insufficient quantity: selling {wanted} but {available} is held and not already being sold")]
    Quantity {
        /// Quantity to sell.
        wanted: Decimal,
        /// Quantity available.
        available: Decimal,
    },
    /// No price to fill a market or notional order at.
    #[error("no market price for {0} yet: import or fetch its bars first")]
    NoPrice(String),
    /// A store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn terms(order: &Order) -> Terms {
    Terms {
        side: order.side,
        order_type: order.order_type,
        limit_price: order.limit_price.map(|p| p.0),
        stop_price: order.stop_price.map(|p| p.0),
    }
}

/// The price a working buy order reserves cash at.
fn reserve_price(order: &Order, last: Option<Decimal>) -> Option<Decimal> {
    order.limit_price.or(order.stop_price).map(|p| p.0).or(last)
}

/// Cash not reserved by working buy orders.
async fn buying_power(
    tx: &mut Tx,
    account: &Account,
    last: Option<Decimal>,
) -> Result<Decimal, StoreError> {
    let open = trading::open_orders_in(tx, account.id).await?;
    let reserved: Decimal = open
        .iter()
        .filter(|o| o.side == Side::Buy)
        .filter_map(|o| Some(o.qty?.0 * reserve_price(o, last)?))
        .sum();
    Ok(account.cash.0 - reserved)
}

/// Quantity held and not already being sold by working orders.
async fn sellable(tx: &mut Tx, account_id: i64, symbol: &str) -> Result<Decimal, StoreError> {
    let held = trading::position_in(tx, account_id, symbol)
        .await?
        .map_or(Decimal::ZERO, |p| p.qty.0);
    let selling: Decimal = trading::open_orders_in(tx, account_id)
        .await?
        .iter()
        .filter(|o| o.side == Side::Sell && o.symbol == symbol)
        .filter_map(|o| o.qty.map(|q| q.0))
        .sum();
    Ok(held - selling)
}

/// Moves cash and the position for a complete fill, and records it.
async fn apply_fill(
    tx: &mut Tx,
    account: &Account,
    order: &Order,
    qty: Decimal,
    fill_price: Decimal,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let amount = round(qty * fill_price);
    let held = trading::position_in(tx, account.id, &order.symbol).await?;
    let (old_qty, old_cost) = held.map_or((Decimal::ZERO, Decimal::ZERO), |p| {
        (p.qty.0, p.cost_basis.0)
    });
    let (cash, new_qty, new_cost) = if order.side == Side::Buy {
        (account.cash.0 - amount, old_qty + qty, old_cost + amount)
    } else {
        let remaining = old_qty - qty;
        // The cost of what remains, in proportion; all of it goes when the position closes.
        let cost = if remaining.is_zero() {
            Decimal::ZERO
        } else {
            round(old_cost * remaining / old_qty)
        };
        (account.cash.0 + amount, remaining, cost)
    };
    let avg = if new_qty.is_zero() {
        Decimal::ZERO
    } else {
        round(new_cost / new_qty)
    };
    let position = Position {
        symbol: order.symbol.clone(),
        qty: DbDecimal(new_qty),
        avg_entry_price: DbDecimal(avg),
        cost_basis: DbDecimal(new_cost),
    };
    trading::save_position(tx, account.id, &position, at).await?;
    trading::set_cash(tx, account.id, cash, at).await?;
    trading::record_fill(tx, order, qty, fill_price, at).await
}

/// A validated order request.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Client id (generated when absent).
    pub client_order_id: String,
    /// Ticker.
    pub symbol: String,
    /// Terms.
    pub terms: Terms,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Quantity, or…
    pub qty: Option<Decimal>,
    /// …an amount of money (market orders only).
    pub notional: Option<Decimal>,
}

/// Submits an order: stores it and fills it at once when marketable. IOC and FOK orders that
/// cannot fill at once are stored canceled, as Alpaca reports them.
pub async fn submit(app: &App, account_id: i64, s: &Submission) -> Result<Order, Refusal> {
    let db = &app.db;
    let last = market::latest_bar(db, &s.symbol)
        .await?
        .map(|b| price(b.close));
    let immediate = last.and_then(|p| s.terms.fill_at_submission(p));
    if last.is_none() && (s.terms.order_type == OrderType::Market || s.notional.is_some()) {
        return Err(Refusal::NoPrice(s.symbol.clone()));
    }
    let qty = match (s.qty, s.notional, last) {
        (Some(qty), _, _) => qty,
        (None, Some(notional), Some(p)) => notional
            .checked_div(p)
            .map(|q| q.round_dp_with_strategy(SCALE, RoundingStrategy::ToZero))
            .unwrap_or_default(),
        _ => return Err(Refusal::NoPrice(s.symbol.clone())),
    };
    let now = app.now();
    let mut tx = db.begin().await?;
    let account = trading::lock_account(&mut tx, account_id).await?;
    if trading::kill_switch_in(&mut tx, account_id).await? {
        return Err(Refusal::TradingDisabled);
    }
    match s.terms.side {
        Side::Buy => {
            let at = immediate
                .or(s.terms.limit_price)
                .or(s.terms.stop_price)
                .or(last)
                .unwrap_or_default();
            let needed = round(qty * at);
            let available = buying_power(&mut tx, &account, last).await?;
            if needed > available {
                return Err(Refusal::BuyingPower { needed, available });
            }
        }
        Side::Sell => {
            let available = sellable(&mut tx, account_id, &s.symbol).await?;
            if qty > available {
                return Err(Refusal::Quantity {
                    wanted: qty,
                    available,
                });
            }
        }
    }
    let rests = immediate.is_none();
    let status = if rests && matches!(s.time_in_force, TimeInForce::Ioc | TimeInForce::Fok) {
        OrderStatus::Canceled
    } else {
        OrderStatus::New
    };
    let new = NewOrder {
        account_id,
        client_order_id: &s.client_order_id,
        symbol: &s.symbol,
        side: s.terms.side,
        order_type: s.terms.order_type,
        time_in_force: s.time_in_force,
        qty: s.qty.or(Some(qty)).filter(|_| s.notional.is_none()),
        notional: s.notional,
        limit_price: s.terms.limit_price,
        stop_price: s.terms.stop_price,
        status,
        reject_reason: (status == OrderStatus::Canceled).then_some("not marketable on submission"),
    };
    let order = trading::insert_order(&mut tx, &new, now).await?;
    if let Some(fill_price) = immediate {
        apply_fill(&mut tx, &account, &order, qty, fill_price, now).await?;
    }
    tx.commit().await?;
    if immediate.is_some() {
        app.metrics.filled(FillTrigger::Submission, 1);
    }
    let stored = trading::order(db, account_id, order.id).await?;
    Ok(stored.unwrap_or(order))
}

/// Cancels a working order; None when it is no longer cancelable.
pub async fn cancel(app: &App, account_id: i64, id: i64) -> Result<Option<Order>, StoreError> {
    let db = &app.db;
    let now = app.now();
    let mut tx = db.begin().await?;
    trading::lock_account(&mut tx, account_id).await?;
    let canceled = trading::end_order(&mut tx, id, OrderStatus::Canceled, None, now).await?;
    tx.commit().await?;
    if !canceled {
        return Ok(None);
    }
    trading::order(db, account_id, id).await
}

/// What a matching pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    /// Orders filled.
    pub filled: usize,
    /// Orders rejected at fill time (cash or position gone).
    pub rejected: usize,
    /// Day orders expired.
    pub expired: usize,
}

/// The end of the trading day an order was placed in: day orders expire then.
fn day_end(submitted: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let date = submitted
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive();
    let mut day = date;
    for _ in 0..10 {
        if let Some(session) = raptor_domain::calendar::session(day) {
            if session.close > submitted {
                return Some(session.close);
            }
        }
        day = day.succ_opt()?;
    }
    None
}

/// Fills resting orders on `symbol` against bars that began after they were placed, oldest
/// order first, and expires day orders whose trading day has ended.
pub async fn match_symbol(app: &App, symbol: &str) -> Result<Matched, StoreError> {
    let db = &app.db;
    let mut matched = Matched::default();
    let now = app.now();
    for order in trading::open_orders_for_symbol(db, symbol).await? {
        let terms = terms(&order);
        let expires = (order.time_in_force == TimeInForce::Day)
            .then(|| day_end(order.submitted_at))
            .flatten();
        // Good-till-canceled orders look ten years ahead: further than any stored bar.
        let horizon = expires.unwrap_or(order.submitted_at + chrono::Duration::days(3650));
        let mut fill = None;
        // The narrowest timeframe stored decides: it shows the earliest crossing.
        for timeframe in Timeframe::ALL {
            let bars = market::bars(
                db,
                symbol,
                timeframe,
                order.submitted_at,
                horizon,
                Some(order.submitted_at),
                BARS_PER_PASS,
            )
            .await?;
            if bars.is_empty() {
                continue;
            }
            fill = bars.iter().find_map(|b| {
                terms
                    .fill_in_bar(price(b.open), price(b.high), price(b.low))
                    .map(|p| (p, b.ts))
            });
            break;
        }
        let mut tx = db.begin().await?;
        let account = trading::lock_account(&mut tx, order.account_id).await?;
        // Re-read under the lock: it may have been canceled or filled meanwhile.
        let Some(current) = trading::order_in(&mut tx, order.account_id, order.id).await? else {
            continue;
        };
        if !current.status.is_open() {
            continue;
        }
        let filled_before = matched.filled;
        match fill {
            Some((fill_price, at)) => {
                let qty = current.qty.map_or(Decimal::ZERO, |q| q.0);
                let affordable = match terms.side {
                    // Its own reservation is released by filling, so compare with all cash.
                    Side::Buy => round(qty * fill_price) <= account.cash.0,
                    Side::Sell => trading::position_in(&mut tx, account.id, &current.symbol)
                        .await?
                        .is_some_and(|p| p.qty.0 >= qty),
                };
                if affordable {
                    apply_fill(
                        &mut tx,
                        &account,
                        &current,
                        qty,
                        fill_price,
                        at.max(current.submitted_at),
                    )
                    .await?;
                    matched.filled += 1;
                } else {
                    trading::end_order(
                        &mut tx,
                        current.id,
                        OrderStatus::Rejected,
                        Some("insufficient buying power or position at fill"),
                        now,
                    )
                    .await?;
                    matched.rejected += 1;
                }
            }
            None if expires.is_some_and(|end| end <= now) => {
                trading::end_order(
                    &mut tx,
                    current.id,
                    OrderStatus::Expired,
                    Some("day order not filled by the close"),
                    now,
                )
                .await?;
                matched.expired += 1;
            }
            None => {}
        }
        tx.commit().await?;
        if matched.filled > filled_before {
            app.metrics.filled(FillTrigger::Bar, 1);
        }
    }
    Ok(matched)
}

/// Runs [`match_symbol`] for every symbol with working orders.
pub async fn match_all(app: &App) -> Result<Matched, StoreError> {
    let mut total = Matched::default();
    for symbol in trading::symbols_with_open_orders(&app.db).await? {
        let m = match_symbol(app, &symbol).await?;
        total.filled += m.filled;
        total.rejected += m.rejected;
        total.expired += m.expired;
    }
    Ok(total)
}
