//! The paper trading engine: submission, fills and cancels. Every change locks the account
//! row first, so concurrent orders cannot share cash.

use chrono::{DateTime, Utc};
use raptor_domain::auction::Auction;
use raptor_domain::orders::{OrderClass, OrderStatus, OrderType, Side, Terms, TimeInForce, Trail};
use raptor_store::trading::{
    self, Account, Ending, Execution, NewOrder, Order, Position, TradingAccount,
};
use raptor_store::{market, settings, DbDecimal, StoreError, Tx};

use crate::limits::{Attempt, LimitError};
use crate::metrics::FillTrigger;
use crate::secrets::new_token;
use crate::App;
use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places kept for quantities and money.
const SCALE: u32 = 8;
/// Most working (resting) orders one account may have at once, as Alpaca caps them: each one
/// costs the trading runtime work on every pass, so an account cannot make it spend without
/// bound. A bot needing more than this is better served by fewer, larger orders.
pub const MAX_OPEN_ORDERS: i64 = 500;

pub(crate) fn round(value: Decimal) -> Decimal {
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
    /// The order would rest, and the account already has as many working orders as it may.
    #[error(
        "this account already has {max} open orders, the most it may have; cancel one or let \
         one fill before placing another that rests"
    )]
    TooManyOpenOrders {
        /// The cap ([`MAX_OPEN_ORDERS`]).
        max: i64,
    },
    /// The order to replace filled or ended meanwhile.
    #[error("order {0} is no longer open and cannot be replaced")]
    NoLongerOpen(i64),
    /// The account submitted as many orders this minute as it may.
    #[error("too many orders this minute; retry after {retry_after} s")]
    TooManySubmissions {
        /// Seconds until the window ends.
        retry_after: u64,
    },
    /// A store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<LimitError> for Refusal {
    fn from(err: LimitError) -> Self {
        match err {
            LimitError::Exceeded { retry_after } => Refusal::TooManySubmissions { retry_after },
            LimitError::Store(err) => Refusal::Store(err),
        }
    }
}

pub(super) fn terms(order: &Order) -> Terms {
    Terms {
        side: order.side,
        order_type: order.order_type,
        limit_price: order.limit_price.map(|p| p.0),
        stop_price: order.stop_price.map(|p| p.0),
    }
}

/// Cash not reserved by working buy orders: each at its limit or stop, and a market order
/// waiting for its auction at its symbol's latest close.
async fn buying_power(tx: &mut Tx, locked: &TradingAccount) -> Result<Decimal, StoreError> {
    let account = &locked.account;
    let mut reserved = Decimal::ZERO;
    for o in working_orders(tx, locked).await? {
        let Some(qty) = o.qty.filter(|_| o.side == Side::Buy) else {
            continue;
        };
        let at = match o.limit_price.or(o.stop_price) {
            Some(p) => Some(p.0),
            None => market::latest_bar_in(tx, &o.symbol)
                .await?
                .map(|b| price(b.close)),
        };
        reserved += round(qty.0 * at.unwrap_or_default());
    }
    Ok(account.cash.0 - reserved)
}

/// The working orders of a locked account: none to read when none of its orders is pending.
async fn working_orders(tx: &mut Tx, locked: &TradingAccount) -> Result<Vec<Order>, StoreError> {
    if locked.pending_orders == 0 {
        return Ok(Vec::new());
    }
    trading::open_orders_in(tx, locked.account.id).await
}

/// Quantity held in `symbol` (the one the account was locked for) and not already being sold
/// by working orders.
async fn sellable(
    tx: &mut Tx,
    locked: &TradingAccount,
    symbol: &str,
) -> Result<Decimal, StoreError> {
    debug_assert!(
        locked.position.as_ref().is_none_or(|p| p.symbol == symbol),
        "the account was locked for another symbol"
    );
    let held = locked.position.as_ref().map_or(Decimal::ZERO, |p| p.qty.0);
    // The working exits of one group (an OCO pair, a bracket's two legs) sell the same shares:
    // only one of them can fill, so they are counted once.
    let mut by_group: std::collections::HashMap<i64, Decimal> = Default::default();
    for o in working_orders(tx, locked).await? {
        if o.side == Side::Sell && o.symbol == symbol {
            let qty = o.qty.map_or(Decimal::ZERO, |q| q.0);
            let group = by_group.entry(o.parent_id.unwrap_or(o.id)).or_default();
            *group = (*group).max(qty);
        }
    }
    let selling: Decimal = by_group.values().sum();
    Ok(held - selling)
}

/// Fills a working order completely ([`settle_fill`]); the order as filled.
pub(super) async fn apply_fill(
    tx: &mut Tx,
    account: &Account,
    order: &Order,
    qty: Decimal,
    fill_price: Decimal,
    at: DateTime<Utc>,
) -> Result<Order, StoreError> {
    let filled = trading::fill_order(tx, order, qty, fill_price, at).await?;
    let fill = Execution {
        qty,
        price: fill_price,
    };
    let held = trading::position_in(tx, account.id, &filled.symbol).await?;
    settle_fill(tx, account, held, &filled, fill, at).await?;
    Ok(filled)
}

/// For an order stored filled: moves cash and the position (`held`, as it was before the fill),
/// records the fill and settles the order's group.
async fn settle_fill(
    tx: &mut Tx,
    account: &Account,
    held: Option<Position>,
    filled: &Order,
    fill: Execution,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Execution { qty, price } = fill;
    let amount = round(qty * price);
    let (old_qty, old_cost) = held.map_or((Decimal::ZERO, Decimal::ZERO), |p| {
        (p.qty.0, p.cost_basis.0)
    });
    let (cash, new_qty, new_cost) = if filled.side == Side::Buy {
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
        symbol: filled.symbol.clone(),
        qty: DbDecimal(new_qty),
        avg_entry_price: DbDecimal(avg),
        cost_basis: DbDecimal(new_cost),
    };
    trading::save_position(tx, account.id, &position, at).await?;
    trading::set_cash(tx, account.id, cash, at).await?;
    trading::record_fill(tx, filled, fill, at, new_qty).await?;
    settle_group(tx, filled, true, at).await
}

/// A validated order request.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Client id (generated when absent).
    pub client_order_id: String,
    /// Ticker.
    pub symbol: String,
    /// The symbol's bars version as its listing was read, when it was: its latest price is
    /// then read once per process and version.
    pub bars_version: Option<i64>,
    /// Terms.
    pub terms: Terms,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Quantity, or…
    pub qty: Option<Decimal>,
    /// …an amount of money (market orders only).
    pub notional: Option<Decimal>,
    /// A trailing stop's trail.
    pub trail: Option<Trail>,
    /// Simple, or the parent of legs.
    pub order_class: OrderClass,
    /// The legs that go with the order.
    pub legs: Vec<Leg>,
    /// Whether it may fill in extended hours (limit day orders).
    pub extended_hours: bool,
}

impl Submission {
    /// A simple order of these terms.
    pub fn simple(symbol: String, terms: Terms, time_in_force: TimeInForce, qty: Decimal) -> Self {
        Self {
            client_order_id: new_token(),
            symbol,
            bars_version: None,
            terms,
            time_in_force,
            qty: Some(qty),
            notional: None,
            trail: None,
            order_class: OrderClass::Simple,
            legs: Vec::new(),
            extended_hours: false,
        }
    }
}

/// A leg of a bracket, OCO or OTO order: a take-profit limit or a stop-loss stop (or
/// stop-limit), for the parent's quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    /// Its terms (the side is the exit's).
    pub terms: Terms,
}

/// How a leg starts: the two exits of a position already held (OCO) both work at once; the
/// exits of a position being opened wait for its entry to fill.
fn leg_status(class: OrderClass) -> OrderStatus {
    match class {
        OrderClass::Oco => OrderStatus::New,
        _ => OrderStatus::Held,
    }
}

/// What an order's fill or end does to the rest of its group: a bracket or OTO parent that
/// fills releases its legs; anything else (a leg fills, any member ends) ends the rest.
pub(super) async fn settle_group(
    tx: &mut Tx,
    order: &Order,
    filled: bool,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if order.order_class == OrderClass::Simple {
        return Ok(());
    }
    let parent = order.parent_id.is_none();
    if filled && parent && matches!(order.order_class, OrderClass::Bracket | OrderClass::Oto) {
        trading::release_legs(tx, order.id, at).await?;
        return Ok(());
    }
    let reason = if filled {
        "another order of its group filled"
    } else {
        "another order of its group ended"
    };
    for other in trading::pending_group_in(tx, order).await? {
        if other.id != order.id {
            trading::end_order(tx, other.id, Ending::Canceled, Some(reason), at).await?;
        }
    }
    Ok(())
}

/// Submits an order: stores it and fills it at once when marketable. IOC and FOK orders that
/// cannot fill at once are stored canceled, as Alpaca reports them. The `attempt` is counted in
/// the order's transaction: it stands when the order is stored.
pub async fn submit(
    app: &App,
    account_id: i64,
    s: &Submission,
    attempt: &Attempt,
) -> Result<Order, Refusal> {
    submit_replacing(app, account_id, s, None, attempt).await
}

/// [`submit`], and when `replacing` names a working order of the account, that order ends in
/// the same transaction (stored canceled, read as replaced, naming the new one): its cash and
/// shares are free for the new order, and if the new one is refused the old one stands.
pub async fn submit_replacing(
    app: &App,
    account_id: i64,
    s: &Submission,
    replacing: Option<i64>,
    attempt: &Attempt,
) -> Result<Order, Refusal> {
    let db = &app.db;
    let last = match s.bars_version {
        Some(version) => market::latest_bar_at(db, &s.symbol, version, None).await?,
        None => market::latest_bar(db, &s.symbol).await?,
    }
    .map(|b| price(b.close));
    let needs_price = matches!(
        s.terms.order_type,
        OrderType::Market | OrderType::TrailingStop
    );
    if last.is_none() && (needs_price || s.notional.is_some()) {
        return Err(Refusal::NoPrice(s.symbol.clone()));
    }
    // A trailing stop starts from the price now; its stop follows from there.
    let mut terms = s.terms;
    let hwm = s.trail.zip(last).map(|(trail, mark)| {
        terms.stop_price = Some(trail.stop(terms.side, mark));
        mark
    });
    // An auction order waits for its auction, however marketable it is now.
    let immediate = last
        .filter(|_| Auction::of(s.time_in_force).is_none())
        .and_then(|p| terms.fill_at_submission(p));
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
    // Every refusal below rolls back, and waits for it: on SQLite the next writer's turn
    // should find the lock free.
    let decided = async {
        let mut locked = trading::lock_trading_account(&mut tx, account_id, &s.symbol).await?;
        attempt.count_in(&mut tx).await?;
        if locked.kill_switch {
            return Err(Refusal::TradingDisabled);
        }
        if let Some(old) = replacing {
            let open = trading::order_in(&mut tx, account_id, old)
                .await?
                .is_some_and(|o| o.status.is_open());
            if !open || !trading::end_order(&mut tx, old, Ending::Replaced, None, now).await? {
                return Err(Refusal::NoLongerOpen(old));
            }
            // It was open, so pending when the account was read.
            locked.pending_orders -= 1;
        }
        let rests = immediate.is_none();
        let status = if rests && matches!(s.time_in_force, TimeInForce::Ioc | TimeInForce::Fok) {
            OrderStatus::Canceled
        } else {
            OrderStatus::New
        };
        // Counted under the account lock, so concurrent submissions cannot overshoot the cap. Legs
        // count from the start: held ones work once their entry fills.
        let adding = i64::from(rests && status == OrderStatus::New) + s.legs.len() as i64;
        if adding > 0 && locked.pending_orders + adding > MAX_OPEN_ORDERS {
            return Err(Refusal::TooManyOpenOrders {
                max: MAX_OPEN_ORDERS,
            });
        }
        match terms.side {
            Side::Buy => {
                let at = immediate
                    .or(terms.limit_price)
                    .or(terms.stop_price)
                    .or(last)
                    .unwrap_or_default();
                let needed = round(qty * at);
                let available = buying_power(&mut tx, &locked).await?;
                if needed > available {
                    return Err(Refusal::BuyingPower { needed, available });
                }
            }
            Side::Sell => {
                let available = sellable(&mut tx, &locked, &s.symbol).await?;
                if qty > available {
                    return Err(Refusal::Quantity {
                        wanted: qty,
                        available,
                    });
                }
            }
        }
        let new = NewOrder {
            account_id,
            client_order_id: &s.client_order_id,
            symbol: &s.symbol,
            side: terms.side,
            order_type: terms.order_type,
            time_in_force: s.time_in_force,
            qty: s.qty.or(Some(qty)).filter(|_| s.notional.is_none()),
            notional: s.notional,
            limit_price: terms.limit_price,
            stop_price: terms.stop_price,
            status,
            reject_reason: (status == OrderStatus::Canceled)
                .then_some("not marketable on submission"),
            replaces: replacing,
            order_class: s.order_class,
            parent_id: None,
            trail: s.trail,
            hwm,
            extended_hours: s.extended_hours,
            fill: immediate.map(|price| Execution { qty, price }),
        };
        let order = trading::insert_order(&mut tx, &new, now).await?;
        // The legs exist before the entry can fill, so its fill settles them as any fill does: a
        // bracket's or OTO's are released, an OCO's other exit is canceled.
        for leg in &s.legs {
            let client_order_id = new_token();
            let status = leg_status(s.order_class);
            let leg = NewOrder {
                client_order_id: &client_order_id,
                side: leg.terms.side,
                order_type: leg.terms.order_type,
                qty: Some(qty),
                notional: None,
                limit_price: leg.terms.limit_price,
                stop_price: leg.terms.stop_price,
                status,
                reject_reason: None,
                replaces: None,
                parent_id: Some(order.id),
                trail: None,
                hwm: None,
                fill: None,
                ..new
            };
            trading::insert_order(&mut tx, &leg, now).await?;
        }
        // Stored filled when it filled: the fill moves cash and the position now. Settling a
        // group changes the other orders of the group, never this one: as stored, it is the
        // answer.
        if let Some(fill) = new.fill {
            let held = locked.position.take();
            settle_fill(&mut tx, &locked.account, held, &order, fill, now).await?;
        }
        // Once recorded, the step stays complete: a process that has seen it skips the write.
        let user_id = locked.account.user_id;
        if !app.settled.first_order_recorded(user_id) {
            settings::complete_step(&mut tx, user_id, "first_order", now).await?;
        }
        Ok::<_, Refusal>((order, user_id))
    }
    .await;
    let (stored, user_id) = match decided {
        Ok(decided) => decided,
        Err(refusal) => {
            // The refusal is the answer; a rollback that fails ends with the connection.
            let _ = tx.rollback().await;
            return Err(refusal);
        }
    };
    tx.commit().await?;
    app.settled.keep_first_order(user_id);
    if immediate.is_some() {
        app.metrics.filled(FillTrigger::Submission, 1);
    }
    Ok(stored)
}

/// Cancels a working order; None when it is no longer cancelable.
pub async fn cancel(app: &App, account_id: i64, id: i64) -> Result<Option<Order>, StoreError> {
    let db = &app.db;
    let now = app.now();
    let mut tx = db.begin().await?;
    trading::lock_account(&mut tx, account_id).await?;
    let canceled = trading::end_order(&mut tx, id, Ending::Canceled, None, now).await?;
    if canceled {
        if let Some(order) = trading::order_in(&mut tx, account_id, id).await? {
            settle_group(&mut tx, &order, false, now).await?;
        }
    }
    tx.commit().await?;
    if !canceled {
        return Ok(None);
    }
    trading::order(db, account_id, id).await
}
