//! Paper trading use cases: accounts, placing and canceling orders, positions, the kill
//! switch, and the engine that fills orders against bars. Front doors (the `/api` routes, the
//! CLI, later `/v2` and the job worker) parse their input and call these.

mod engine;
mod matching;

use std::collections::BTreeMap;

use raptor_domain::auction::Auction;
use raptor_domain::calendar;
use raptor_domain::orders::{OrderClass, OrderStatus, OrderType, Side, Terms, TimeInForce, Trail};
use raptor_domain::InvalidInput;
use raptor_store::audit::{self, AuditEvent};
use raptor_store::trading::{self, Account, KillSwitch, Order, OrderFilter, OrderQuery, Position};
use raptor_store::valuation::{self, Book};
use raptor_store::{market, StoreError};
use rust_decimal::Decimal;

pub(crate) use engine::round;
pub use engine::{price, Leg, Refusal, Submission, MAX_OPEN_ORDERS};
pub use matching::{match_all, match_symbol, Matched};

use crate::limits::{Attempt, Limit, LimitError};
use crate::secrets::new_token;
use crate::text;
use crate::App;

/// Most orders one listing returns.
pub const MAX_LIST: i64 = 500;
/// Most symbols one listing filters on.
pub const MAX_SYMBOLS: usize = 100;
/// Longest client order id.
const MAX_CLIENT_ORDER_ID: usize = 128;
/// Order submissions per account per minute (placing and closing positions, refused ones
/// included). Alpaca allows 200 API requests a minute per key, so a bot written for Alpaca
/// stays under it.
pub const SUBMISSIONS_PER_MINUTE: Limit = Limit {
    name: "orders:account",
    max: 200,
    window: chrono::Duration::minutes(1),
};

/// Why a trading request was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The request breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The user has no paper account.
    #[error("you have no paper account")]
    NoAccount,
    /// No such order in the account.
    #[error("you have no order {0}")]
    UnknownOrder(i64),
    /// Nothing of that symbol is held.
    #[error("you hold no {0}")]
    NoPosition(String),
    /// The order is done and cannot be canceled.
    #[error("order {id} is {status} and can no longer be canceled")]
    NotCancelable {
        /// The order.
        id: i64,
        /// Its status.
        status: OrderStatus,
    },
    /// The order is done and cannot be replaced.
    #[error("order {id} is {status} and can no longer be replaced")]
    NotReplaceable {
        /// The order.
        id: i64,
        /// Its status.
        status: OrderStatus,
    },
    /// The engine refused the order (kill switch, cash, quantity, no price, open-order cap).
    #[error(transparent)]
    Refused(Refusal),
    /// Too many submissions this minute ([`SUBMISSIONS_PER_MINUTE`]).
    #[error("too many orders this minute; retry after {retry_after} s")]
    TooManySubmissions {
        /// Seconds until the window ends.
        retry_after: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Refusal> for OrderError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Store(err) => OrderError::Store(err),
            Refusal::TooManySubmissions { retry_after } => {
                OrderError::TooManySubmissions { retry_after }
            }
            other => OrderError::Refused(other),
        }
    }
}

impl From<LimitError> for OrderError {
    fn from(err: LimitError) -> Self {
        match err {
            LimitError::Exceeded { retry_after } => OrderError::TooManySubmissions { retry_after },
            LimitError::Store(err) => OrderError::Store(err),
        }
    }
}

/// One submission by the account, counted against [`SUBMISSIONS_PER_MINUTE`] by [`counted`].
fn submission(app: &App, account_id: i64) -> Attempt {
    Attempt::new(app, SUBMISSIONS_PER_MINUTE, &account_id.to_string())
}

/// Makes sure a submission counted once. One that stored an order (`stored`) was counted in the
/// order's transaction; any other outcome is counted now, and once the account is past its
/// limit, that is the answer instead.
async fn counted<T>(
    app: &App,
    attempt: Attempt,
    outcome: Result<T, OrderError>,
    stored: impl FnOnce(&T) -> bool,
) -> Result<T, OrderError> {
    match &outcome {
        Ok(done) if stored(done) => {}
        // Refused by its count, which the refusal rolled back: past the limit, it changes nothing.
        Err(OrderError::TooManySubmissions { .. }) => {}
        // The database is out: not held against the account, and no second wait on it. Other
        // store errors count (a replacement's client order id already in use is one).
        Err(OrderError::Store(err)) if err.is_unavailable() => {}
        _ => {
            // In a task of its own: a client that hangs up now is counted all the same.
            let app = app.clone();
            match tokio::spawn(async move { attempt.count(&app).await }).await {
                Ok(count) => count?,
                Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                Err(_) => return Err(StoreError::Unavailable("shutting down".into()).into()),
            }
        }
    }
    outcome
}

/// A user's paper account.
pub async fn account_of(app: &App, user_id: i64) -> Result<Account, OrderError> {
    let account = trading::account_of_user(&app.db, user_id)
        .await?
        .ok_or(OrderError::NoAccount)?;
    app.settled.keep_account(user_id, account.id);
    Ok(account)
}

/// The id of a user's paper account: read once per process, as it never changes.
pub async fn account_id_of(app: &App, user_id: i64) -> Result<i64, OrderError> {
    match app.settled.account_of(user_id) {
        Some(id) => Ok(id),
        None => Ok(account_of(app, user_id).await?.id),
    }
}

/// An account valued at the latest prices.
#[derive(Debug, Clone)]
pub struct AccountSummary {
    /// The account.
    pub account: Account,
    /// Positions at their latest price (the entry price when none is stored).
    pub long_market_value: Decimal,
    /// Cash reserved by working buy orders.
    pub reserved: Decimal,
    /// Equity at the previous session's close: cash then, plus what was held then at that
    /// close's prices.
    pub last_equity: Decimal,
    /// The kill switch.
    pub kill_switch: KillSwitch,
}

impl AccountSummary {
    /// Cash plus positions.
    pub fn equity(&self) -> Decimal {
        self.account.cash.0 + self.long_market_value
    }

    /// Cash not reserved by working buy orders.
    pub fn buying_power(&self) -> Decimal {
        self.account.cash.0 - self.reserved
    }
}

/// The user's account, valued from one snapshot of it and the latest closes of its symbols.
pub async fn account_summary(app: &App, user_id: i64) -> Result<AccountSummary, OrderError> {
    let book = valuation::book(&app.db, user_id, last_close(app.now()))
        .await?
        .ok_or(OrderError::NoAccount)?;
    let holdings = holdings(&book);
    let long_market_value = holdings.iter().map(Holding::market_value).sum();
    let reserved = book
        .working_buys
        .iter()
        .filter_map(|o| {
            let at = o.limit_price.or(o.stop_price);
            Some(engine::round(
                o.qty? * at.or_else(|| o.latest_close.map(price))?,
            ))
        })
        .sum();
    let last_equity = equity_at_last_close(&book);
    Ok(AccountSummary {
        account: book.account,
        long_market_value,
        reserved,
        last_equity,
        kill_switch: book.kill_switch,
    })
}

/// The close of the last session before today's (New York) date.
fn last_close(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    let today = now
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive();
    let previous = calendar::previous_trading_day(today);
    calendar::session(previous).map_or(now, |s| s.close)
}

/// The account's equity at the last close (the book's moment): the fills since undone from
/// cash and positions, and what was held then valued at the last close before that moment
/// (else the price it was bought at, or last sold at).
fn equity_at_last_close(book: &Book) -> Decimal {
    let mut cash = book.account.cash.0;
    let mut held: BTreeMap<&str, (Decimal, Option<f64>, Decimal)> = book
        .positions
        .iter()
        .map(|p| {
            let position = &p.position;
            let entry = position.avg_entry_price.0;
            (
                position.symbol.as_str(),
                (position.qty.0, p.close_then, entry),
            )
        })
        .collect();
    for fill in &book.fills_since {
        let amount = engine::round(fill.qty * fill.price);
        let (qty, _, fallback) = held.entry(fill.symbol.as_str()).or_insert((
            Decimal::ZERO,
            fill.close_then,
            fill.price,
        ));
        match fill.side {
            Side::Buy => {
                cash += amount;
                *qty -= fill.qty;
            }
            Side::Sell => {
                cash -= amount;
                *qty += fill.qty;
                *fallback = fill.price;
            }
        }
    }
    let then: Decimal = held
        .values()
        .filter(|(qty, _, _)| !qty.is_zero())
        .map(|(qty, close, fallback)| qty * close.map_or(*fallback, price))
        .sum();
    engine::round(cash + then)
}

/// The user's kill switch, without valuing the account.
pub async fn kill_switch_of(app: &App, user_id: i64) -> Result<KillSwitch, OrderError> {
    let account_id = account_id_of(app, user_id).await?;
    Ok(trading::kill_switch(&app.db, account_id).await?)
}

/// Turns the user's kill switch on or off and audits it (`audit` names who and from where);
/// returns the reason as kept (trimmed, None when blank).
pub async fn set_kill_switch(
    app: &App,
    user_id: i64,
    enabled: bool,
    reason: Option<&str>,
    audit_event: &AuditEvent,
) -> Result<Option<String>, OrderError> {
    let reason = text::optional_line("reason", reason, 500)?;
    let account_id = account_id_of(app, user_id).await?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    trading::set_kill_switch(&mut tx, account_id, enabled, reason, user_id, now).await?;
    audit::record(&mut tx, audit_event, now).await?;
    tx.commit().await?;
    Ok(reason.map(str::to_owned))
}

/// Starts the user's paper account afresh, audited (`audit` names who and from where): every
/// order, fill and position goes, and the cash is [`crate::accounts::OPENING_CASH`] again. The
/// kill switch and watchlists stay.
pub async fn reset_account(
    app: &App,
    user_id: i64,
    mut audit_event: AuditEvent,
) -> Result<(), OrderError> {
    let account_id = account_id_of(app, user_id).await?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let before = trading::lock_account(&mut tx, account_id).await?;
    trading::reset(&mut tx, account_id, crate::accounts::OPENING_CASH, now).await?;
    audit_event.details =
        Some(serde_json::json!({ "cash_before": before.cash.0.normalize().to_string() }));
    audit::record(&mut tx, &audit_event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// An order as a front door received it, not yet checked. Numbers are the text the client
/// sent (Alpaca clients send strings or JSON numbers); they are parsed here, in the order the
/// rules are checked, so the first problem reported is the same whatever the front door.
#[derive(Debug, Clone, Default)]
pub struct OrderRequest {
    /// Ticker, any case.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `market`, `limit`, `stop`, `stop_limit`.
    pub order_type: String,
    /// `day`, `gtc`, `ioc`, `fok`, `opg`, `cls`.
    pub time_in_force: String,
    /// Quantity, or…
    pub qty: Option<String>,
    /// …an amount of money (market day orders only).
    pub notional: Option<String>,
    /// Limit price.
    pub limit_price: Option<String>,
    /// Stop price.
    pub stop_price: Option<String>,
    /// The client's idempotency key (generated when absent).
    pub client_order_id: Option<String>,
    /// `simple` (or absent), `bracket`, `oco` or `oto`.
    pub order_class: Option<String>,
    /// The take-profit leg's limit price (bracket, OCO, OTO).
    pub take_profit_limit_price: Option<String>,
    /// The stop-loss leg's stop price (bracket, OCO, OTO)…
    pub stop_loss_stop_price: Option<String>,
    /// …and limit price, for a stop-limit stop loss.
    pub stop_loss_limit_price: Option<String>,
    /// A trailing stop's distance in money…
    pub trail_price: Option<String>,
    /// …or in percent of the best price.
    pub trail_percent: Option<String>,
    /// Whether a limit day order may also fill in extended hours.
    pub extended_hours: bool,
}

/// The largest quantity, amount or price an order may carry. Any product of two stays far
/// inside both `Decimal` and `NUMERIC(28,8)`, so order arithmetic cannot overflow.
const MAX_ORDER_NUMBER: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// A positive decimal with at most 8 places and at most [`MAX_ORDER_NUMBER`], from the
/// client's text, read exactly ([`raptor_domain::decimal::exact`]).
fn decimal(field: &'static str, text: Option<&str>) -> Result<Option<Decimal>, InvalidInput> {
    let Some(text) = text.map(str::trim) else {
        return Ok(None);
    };
    let parsed = raptor_domain::decimal::exact(text).ok_or_else(|| match text.parse::<f64>() {
        // A number, but not one a decimal holds exactly: say what is wrong with it.
        Ok(n) if n.is_finite() && n <= 0.0 => InvalidInput::new(field, "must be positive"),
        Ok(n) if n.is_finite() && n > 1e9 => InvalidInput::new(field, "must be at most 1000000000"),
        Ok(n) if n.is_finite() => InvalidInput::new(field, "must have at most 8 decimal places"),
        _ => InvalidInput::new(field, "must be a number or a numeric string"),
    })?;
    if parsed <= Decimal::ZERO {
        return Err(InvalidInput::new(field, "must be positive"));
    }
    if parsed.normalize().scale() > 8 {
        return Err(InvalidInput::new(
            field,
            "must have at most 8 decimal places",
        ));
    }
    if parsed > MAX_ORDER_NUMBER {
        return Err(InvalidInput::new(field, "must be at most 1000000000"));
    }
    Ok(Some(parsed.normalize()))
}

/// Checks a request against the symbol's listing and the order rules.
async fn prepare(app: &App, req: &OrderRequest) -> Result<Submission, OrderError> {
    let symbol = text::single_line("symbol", req.symbol.trim(), 32)?.to_uppercase();
    let listed = market::symbol(&app.db, &symbol)
        .await?
        .ok_or_else(|| InvalidInput::new("symbol", format!("'{symbol}' is not a listed symbol")))?;
    if !listed.tradable {
        return Err(InvalidInput::new("symbol", format!("{symbol} is not tradable")).into());
    }
    let side: Side = req.side.parse().map_err(|e| InvalidInput::new("side", e))?;
    let order_type: OrderType = req
        .order_type
        .parse()
        .map_err(|e| InvalidInput::new("type", e))?;
    let tif: TimeInForce = req
        .time_in_force
        .parse()
        .map_err(|e| InvalidInput::new("time_in_force", e))?;
    let order_class: OrderClass = match req.order_class.as_deref().map(str::trim) {
        None | Some("") => OrderClass::Simple,
        Some(class) => class
            .parse()
            .map_err(|e| InvalidInput::new("order_class", e))?,
    };
    let mut terms = Terms {
        side,
        order_type,
        limit_price: decimal("limit_price", req.limit_price.as_deref())?,
        stop_price: decimal("stop_price", req.stop_price.as_deref())?,
    };
    let trail = trail(req, order_type, tif)?;
    timing(req, order_type, order_class, tif, app.now())?;
    let legs = legs(req, order_class, &mut terms, tif)?;
    terms
        .validate()
        .map_err(|e| InvalidInput::new(e.field, e.reason))?;
    let qty = decimal("qty", req.qty.as_deref())?;
    let notional = decimal("notional", req.notional.as_deref())?;
    match (qty, notional) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(InvalidInput::new("qty", "give exactly one of qty and notional").into());
        }
        (None, Some(_)) if order_class != OrderClass::Simple => {
            return Err(InvalidInput::new(
                "notional",
                "bracket, oco and oto orders take a qty, not a notional",
            )
            .into());
        }
        (None, Some(_)) if order_type != OrderType::Market || tif != TimeInForce::Day => {
            return Err(InvalidInput::new(
                "notional",
                "notional orders must be market orders with time_in_force day",
            )
            .into());
        }
        (Some(q), None) if !listed.fractionable && q.fract() != Decimal::ZERO => {
            return Err(
                InvalidInput::new("qty", format!("{symbol} trades in whole shares")).into(),
            );
        }
        _ => {}
    }
    let client_order_id = match &req.client_order_id {
        Some(id) if id.is_empty() || id.chars().count() > MAX_CLIENT_ORDER_ID => {
            return Err(InvalidInput::new("client_order_id", "must be 1 to 128 characters").into());
        }
        Some(id) => text::single_line("client_order_id", id, MAX_CLIENT_ORDER_ID)?.to_owned(),
        None => new_token(),
    };
    Ok(Submission {
        client_order_id,
        symbol,
        bars_version: Some(listed.bars_version),
        terms,
        time_in_force: tif,
        qty,
        notional,
        trail,
        order_class,
        legs,
        extended_hours: req.extended_hours,
    })
}

/// When an order may trade, checked as Alpaca checks it: `opg` and `cls` orders are market or
/// limit orders of their own, taken while their auction takes orders ([`Auction`]);
/// `extended_hours` is for simple limit day orders.
fn timing(
    req: &OrderRequest,
    order_type: OrderType,
    class: OrderClass,
    tif: TimeInForce,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), InvalidInput> {
    if req.extended_hours
        && (order_type != OrderType::Limit
            || tif != TimeInForce::Day
            || class != OrderClass::Simple)
    {
        return Err(InvalidInput::new(
            "extended_hours",
            "extended hours are for simple limit orders with time_in_force day",
        ));
    }
    let Some(auction) = Auction::of(tif) else {
        return Ok(());
    };
    if !matches!(order_type, OrderType::Market | OrderType::Limit) || class != OrderClass::Simple {
        return Err(InvalidInput::new(
            "time_in_force",
            "opg and cls orders are simple market or limit orders",
        ));
    }
    auction
        .session_for(now)
        .map(|_| ())
        .map_err(|closed| InvalidInput::new("time_in_force", closed.0))
}

/// A trailing stop's trail: exactly one of `trail_price` and `trail_percent`, for trailing
/// stops only, which rest for the day or until canceled.
fn trail(
    req: &OrderRequest,
    order_type: OrderType,
    tif: TimeInForce,
) -> Result<Option<Trail>, InvalidInput> {
    let price = decimal("trail_price", req.trail_price.as_deref())?;
    let percent = decimal("trail_percent", req.trail_percent.as_deref())?;
    let trail = match (price, percent) {
        (Some(_), Some(_)) => {
            return Err(InvalidInput::new(
                "trail_price",
                "give one of trail_price and trail_percent, not both",
            ))
        }
        (Some(price), None) => Some(Trail::Price(price)),
        (None, Some(percent)) if percent >= Decimal::ONE_HUNDRED => {
            return Err(InvalidInput::new("trail_percent", "must be less than 100"))
        }
        (None, Some(percent)) => Some(Trail::Percent(percent)),
        (None, None) => None,
    };
    match (order_type, trail) {
        (OrderType::TrailingStop, None) => Err(InvalidInput::new(
            "trail_price",
            "a trailing_stop order needs trail_price or trail_percent",
        )),
        (OrderType::TrailingStop, Some(_))
            if !matches!(tif, TimeInForce::Day | TimeInForce::Gtc) =>
        {
            Err(InvalidInput::new(
                "time_in_force",
                "a trailing_stop order rests: day or gtc",
            ))
        }
        (OrderType::TrailingStop, trail) => Ok(trail),
        (_, Some(_)) => Err(InvalidInput::new(
            "trail_price",
            "trail_price and trail_percent are for trailing_stop orders only",
        )),
        (_, None) => Ok(None),
    }
}

/// The legs of a bracket, OCO or OTO order, checked against the parent's terms (an OCO's
/// parent is its take-profit limit, priced from the leg when the request gives no limit).
/// Shorting is not offered, so brackets and OTO open a long position (buy) and an OCO closes
/// one (sell).
fn legs(
    req: &OrderRequest,
    class: OrderClass,
    parent: &mut Terms,
    tif: TimeInForce,
) -> Result<Vec<Leg>, InvalidInput> {
    let take_profit = decimal(
        "take_profit.limit_price",
        req.take_profit_limit_price.as_deref(),
    )?;
    let stop = decimal("stop_loss.stop_price", req.stop_loss_stop_price.as_deref())?;
    let stop_limit = decimal(
        "stop_loss.limit_price",
        req.stop_loss_limit_price.as_deref(),
    )?;
    if class == OrderClass::Simple {
        if take_profit.is_some() || stop.is_some() || stop_limit.is_some() {
            return Err(InvalidInput::new(
                "order_class",
                "take_profit and stop_loss need order_class bracket, oco or oto",
            ));
        }
        return Ok(Vec::new());
    }
    if stop_limit.is_some() && stop.is_none() {
        return Err(InvalidInput::new(
            "stop_loss.stop_price",
            "a stop loss needs a stop_price",
        ));
    }
    if !matches!(tif, TimeInForce::Day | TimeInForce::Gtc) {
        return Err(InvalidInput::new(
            "time_in_force",
            "bracket, oco and oto orders rest: day or gtc",
        ));
    }
    let (side, types): (Side, &[OrderType]) = match class {
        OrderClass::Oco => (Side::Sell, &[OrderType::Limit]),
        _ => (Side::Buy, &[OrderType::Market, OrderType::Limit]),
    };
    if parent.side != side {
        return Err(InvalidInput::new(
            "side",
            format!(
                "a {class} order must be a {side}: shorting is not offered, so brackets and \
                 oto open a long position and oco closes one"
            ),
        ));
    }
    if !types.contains(&parent.order_type) {
        let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        return Err(InvalidInput::new(
            "type",
            format!("a {class} order must be of type {}", names.join(" or ")),
        ));
    }
    match (class, take_profit, stop) {
        (OrderClass::Oto, Some(_), Some(_)) | (OrderClass::Oto, None, None) => {
            return Err(InvalidInput::new(
                "take_profit",
                "an oto order takes exactly one of take_profit and stop_loss",
            ))
        }
        (OrderClass::Bracket | OrderClass::Oco, None, _) => {
            return Err(InvalidInput::new(
                "take_profit.limit_price",
                format!("a {class} order needs a take_profit"),
            ))
        }
        (OrderClass::Bracket | OrderClass::Oco, _, None) => {
            return Err(InvalidInput::new(
                "stop_loss.stop_price",
                format!("a {class} order needs a stop_loss"),
            ))
        }
        _ => {}
    }
    if let (Some(profit), Some(stop)) = (take_profit, stop) {
        if profit <= stop {
            return Err(InvalidInput::new(
                "take_profit.limit_price",
                "must be above stop_loss.stop_price",
            ));
        }
    }
    let exit = Side::Sell;
    let stop_leg = stop.map(|stop| Leg {
        terms: Terms {
            side: exit,
            order_type: if stop_limit.is_some() {
                OrderType::StopLimit
            } else {
                OrderType::Stop
            },
            limit_price: stop_limit,
            stop_price: Some(stop),
        },
    });
    if class == OrderClass::Oco {
        // The parent is the take-profit limit.
        match parent.limit_price {
            None => parent.limit_price = take_profit,
            Some(limit) if Some(limit) != take_profit => {
                return Err(InvalidInput::new(
                    "limit_price",
                    "an oco order's limit_price is its take_profit.limit_price",
                ))
            }
            Some(_) => {}
        }
        return Ok(stop_leg.into_iter().collect());
    }
    if let Some(limit) = parent.limit_price {
        if take_profit.is_some_and(|p| p <= limit) || stop.is_some_and(|s| s >= limit) {
            return Err(InvalidInput::new(
                "take_profit.limit_price",
                "the take profit must be above the limit price and the stop loss below it",
            ));
        }
    }
    let profit_leg = take_profit.map(|limit| Leg {
        terms: Terms {
            side: exit,
            order_type: OrderType::Limit,
            limit_price: Some(limit),
            stop_price: None,
        },
    });
    Ok(profit_leg.into_iter().chain(stop_leg).collect())
}

/// An order placed, or the one placed earlier under the same client order id.
#[derive(Debug, Clone)]
pub struct Placed {
    /// The order.
    pub order: Order,
    /// False when the client order id was already used: the original order, not a second.
    pub created: bool,
}

/// Places an order for the user. A repeated `client_order_id` answers the original order,
/// never a second one, even when two requests race. Every call counts against
/// [`SUBMISSIONS_PER_MINUTE`]; an order that would rest is refused once the account has
/// [`MAX_OPEN_ORDERS`] working orders.
pub async fn place_order(
    app: &App,
    user_id: i64,
    req: &OrderRequest,
) -> Result<Placed, OrderError> {
    let account_id = account_id_of(app, user_id).await?;
    let attempt = submission(app, account_id);
    let placed = place(app, account_id, req, &attempt).await;
    counted(app, attempt, placed, |placed| placed.created).await
}

async fn place(
    app: &App,
    account_id: i64,
    req: &OrderRequest,
    attempt: &Attempt,
) -> Result<Placed, OrderError> {
    let submission = prepare(app, req).await?;
    let earlier = || trading::order_by_client_id(&app.db, account_id, &submission.client_order_id);
    // An id this server just made cannot have been used; only the client's own can repeat.
    if req.client_order_id.is_some() {
        if let Some(order) = earlier().await? {
            return Ok(Placed {
                order,
                created: false,
            });
        }
    }
    match engine::submit(app, account_id, &submission, attempt).await {
        Ok(order) => {
            app.metrics.order_placed(order.side, order.order_type);
            Ok(Placed {
                order,
                created: true,
            })
        }
        Err(Refusal::Store(err)) if err.is_unique_violation() => {
            // The same client order id raced in from another request: answer with that one.
            let order = earlier().await?.ok_or(OrderError::Store(err))?;
            Ok(Placed {
                order,
                created: false,
            })
        }
        Err(refusal) => Err(refusal.into()),
    }
}

/// An order listing's `status` parameter: `open` (the default), `closed` or `all`.
pub fn order_filter(status: Option<&str>) -> Result<OrderFilter, InvalidInput> {
    match status.unwrap_or("open") {
        "open" => Ok(OrderFilter::Open),
        "closed" => Ok(OrderFilter::Closed),
        "all" => Ok(OrderFilter::All),
        _ => Err(InvalidInput::new(
            "status",
            "must be one of open, closed, all",
        )),
    }
}

/// A comma-separated list of tickers, upper-cased, blanks dropped.
pub fn symbol_list(symbols: Option<&str>) -> Vec<String> {
    symbols
        .map(|s| {
            s.split(',')
                .map(|t| t.trim().to_uppercase())
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// What a replacement changes of a working order; what is not given stays as it was.
#[derive(Debug, Clone, Default)]
pub struct Replacement {
    /// A new quantity.
    pub qty: Option<String>,
    /// A new time in force.
    pub time_in_force: Option<String>,
    /// A new limit price.
    pub limit_price: Option<String>,
    /// A new stop price.
    pub stop_price: Option<String>,
    /// A trailing stop's new trail (in the old order's unit: money or percent).
    pub trail: Option<String>,
    /// The new order's client order id (generated when absent).
    pub client_order_id: Option<String>,
}

/// Replaces one of the user's working orders with a new one of the same symbol, side and type
/// (Alpaca's PATCH of an order): the old one ends as `replaced` and the new one is placed, in
/// one transaction, and checked as any new order is. The new order.
pub async fn replace_order(
    app: &App,
    user_id: i64,
    id: i64,
    change: &Replacement,
) -> Result<Order, OrderError> {
    let account_id = account_id_of(app, user_id).await?;
    let attempt = submission(app, account_id);
    let replaced = replace(app, account_id, id, change, &attempt).await;
    counted(app, attempt, replaced, |_| true).await
}

async fn replace(
    app: &App,
    account_id: i64,
    id: i64,
    change: &Replacement,
    attempt: &Attempt,
) -> Result<Order, OrderError> {
    let old = trading::order(&app.db, account_id, id)
        .await?
        .ok_or(OrderError::UnknownOrder(id))?;
    if !old.status.is_open() {
        return Err(OrderError::NotReplaceable {
            id,
            status: old.status,
        });
    }
    if old.order_class != OrderClass::Simple {
        return Err(InvalidInput::new(
            "order_class",
            "orders of a bracket, oco or oto group cannot be replaced; cancel and place again",
        )
        .into());
    }
    let text = |d: Option<raptor_store::DbDecimal>| d.map(|d| d.0.normalize().to_string());
    // A new trail replaces whichever the old order had.
    let (trail_price, trail_percent) = match (change.trail.clone(), old.trail()) {
        (Some(trail), Some(Trail::Price(_))) => (Some(trail), None),
        (Some(trail), Some(Trail::Percent(_))) => (None, Some(trail)),
        (Some(_), None) => {
            return Err(InvalidInput::new("trail", "only a trailing_stop order has a trail").into())
        }
        (None, Some(_)) if change.stop_price.is_some() => {
            return Err(InvalidInput::new(
                "stop_price",
                "a trailing stop's stop follows from its trail; change the trail",
            )
            .into())
        }
        (None, _) => (text(old.trail_price), text(old.trail_percent)),
    };
    let req = OrderRequest {
        symbol: old.symbol.clone(),
        side: old.side.as_str().to_owned(),
        order_type: old.order_type.as_str().to_owned(),
        time_in_force: change
            .time_in_force
            .clone()
            .unwrap_or_else(|| old.time_in_force.as_str().to_owned()),
        qty: change.qty.clone().or_else(|| text(old.qty)),
        notional: None,
        limit_price: change.limit_price.clone().or_else(|| text(old.limit_price)),
        // A trailing stop's stop follows from its trail.
        stop_price: (old.order_type != OrderType::TrailingStop)
            .then(|| change.stop_price.clone().or_else(|| text(old.stop_price)))
            .flatten(),
        client_order_id: change.client_order_id.clone(),
        trail_price,
        trail_percent,
        extended_hours: old.extended_hours,
        ..OrderRequest::default()
    };
    let submission = prepare(app, &req).await?;
    match engine::submit_replacing(app, account_id, &submission, Some(id), attempt).await {
        Ok(order) => Ok(order),
        Err(Refusal::NoLongerOpen(_)) => {
            let now = trading::order(&app.db, account_id, id).await?;
            Err(OrderError::NotReplaceable {
                id,
                status: now.map_or(old.status, |o| o.status),
            })
        }
        Err(Refusal::Store(err)) if err.is_unique_violation() => Err(InvalidInput::new(
            "client_order_id",
            "another order of this account already has this client_order_id",
        )
        .into()),
        Err(refusal) => Err(refusal.into()),
    }
}

/// The user's orders as `query` asks (tickers any case).
pub async fn orders(
    app: &App,
    user_id: i64,
    query: &OrderQuery<'_>,
) -> Result<Vec<Order>, OrderError> {
    if !(1..=MAX_LIST).contains(&query.limit) {
        return Err(InvalidInput::new("limit", "must be between 1 and 500").into());
    }
    if query.symbols.len() > MAX_SYMBOLS {
        return Err(InvalidInput::new("symbols", "at most 100 symbols").into());
    }
    for symbol in query.symbols {
        text::single_line("symbols", symbol, 32)?;
    }
    let account_id = account_id_of(app, user_id).await?;
    Ok(trading::orders(&app.db, account_id, query).await?)
}

/// One of the user's orders.
pub async fn order(app: &App, user_id: i64, id: i64) -> Result<Order, OrderError> {
    let account_id = account_id_of(app, user_id).await?;
    trading::order(&app.db, account_id, id)
        .await?
        .ok_or(OrderError::UnknownOrder(id))
}

/// The legs of `orders` (all of one account), by parent id.
pub async fn legs_of(app: &App, orders: &[Order]) -> Result<BTreeMap<i64, Vec<Order>>, StoreError> {
    let parents: Vec<i64> = orders
        .iter()
        .filter(|o| o.order_class != OrderClass::Simple && o.parent_id.is_none())
        .map(|o| o.id)
        .collect();
    let Some(account_id) = orders.first().map(|o| o.account_id) else {
        return Ok(BTreeMap::new());
    };
    let mut by_parent: BTreeMap<i64, Vec<Order>> = BTreeMap::new();
    for leg in trading::legs_of(&app.db, account_id, &parents).await? {
        if let Some(parent) = leg.parent_id {
            by_parent.entry(parent).or_default().push(leg);
        }
    }
    Ok(by_parent)
}

/// One of the user's orders, by the client order id it was placed with.
pub async fn order_by_client_id(
    app: &App,
    user_id: i64,
    client_order_id: &str,
) -> Result<Option<Order>, OrderError> {
    let client_order_id =
        text::single_line("client_order_id", client_order_id, MAX_CLIENT_ORDER_ID)?;
    let account_id = account_id_of(app, user_id).await?;
    Ok(trading::order_by_client_id(&app.db, account_id, client_order_id).await?)
}

/// Cancels every working order of the user's; the orders canceled, oldest first, with the
/// legs canceled along with their parents. An order that filled or ended meanwhile is left as
/// it is.
pub async fn cancel_open_orders(app: &App, user_id: i64) -> Result<Vec<Order>, OrderError> {
    let account_id = account_id_of(app, user_id).await?;
    let open = OrderQuery {
        ascending: true,
        ..OrderQuery::newest(OrderFilter::Open, MAX_OPEN_ORDERS)
    };
    let mut canceled = Vec::new();
    for order in trading::orders(&app.db, account_id, &open).await? {
        match engine::cancel(app, account_id, order.id).await? {
            Some(order) => canceled.push(order),
            // Already ended: canceled with its group's parent a moment ago, it is listed too.
            None => {
                let now = trading::order(&app.db, account_id, order.id).await?;
                if let Some(now) = now.filter(|o| o.status == OrderStatus::Canceled) {
                    canceled.push(now);
                }
            }
        }
    }
    Ok(canceled)
}

/// Cancels one of the user's working orders.
pub async fn cancel_order(app: &App, user_id: i64, id: i64) -> Result<Order, OrderError> {
    let account_id = account_id_of(app, user_id).await?;
    let order = trading::order(&app.db, account_id, id)
        .await?
        .ok_or(OrderError::UnknownOrder(id))?;
    engine::cancel(app, account_id, id)
        .await?
        .ok_or(OrderError::NotCancelable {
            id,
            status: order.status,
        })
}

/// A position and the latest price of its symbol.
#[derive(Debug, Clone)]
pub struct Holding {
    /// What is held.
    pub position: Position,
    /// The latest stored close, if any.
    pub last_price: Option<Decimal>,
}

impl Holding {
    /// The price it is valued at: the latest close, else the entry price.
    pub fn current_price(&self) -> Decimal {
        self.last_price.unwrap_or(self.position.avg_entry_price.0)
    }

    /// Quantity times the current price, to the 8 places money is kept to: unrounded, a
    /// fractional holding at its entry price would show a gain of 0.0000000018.
    pub fn market_value(&self) -> Decimal {
        engine::round(self.position.qty.0 * self.current_price())
    }

    /// Market value less cost.
    pub fn unrealized_pl(&self) -> Decimal {
        self.market_value() - self.position.cost_basis.0
    }

    /// Unrealized profit as a fraction of cost (six places; zero when cost is zero).
    pub fn unrealized_plpc(&self) -> Decimal {
        let cost = self.position.cost_basis.0;
        if cost.is_zero() {
            Decimal::ZERO
        } else {
            (self.unrealized_pl() / cost).round_dp(6)
        }
    }
}

fn holdings(book: &Book) -> Vec<Holding> {
    book.positions
        .iter()
        .map(|p| Holding {
            position: p.position.clone(),
            last_price: p.latest_close.map(price),
        })
        .collect()
}

/// The user's positions by symbol, at their latest prices.
pub async fn positions(app: &App, user_id: i64) -> Result<Vec<Holding>, OrderError> {
    let book = valuation::book(&app.db, user_id, last_close(app.now()))
        .await?
        .ok_or(OrderError::NoAccount)?;
    Ok(holdings(&book))
}

/// How much of a position to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Portion<'a> {
    /// All of it.
    All,
    /// This quantity (the client's text).
    Qty(&'a str),
    /// This percentage of it, above 0 and at most 100 (the client's text).
    Percentage(&'a str),
}

/// Closes all or part of a position with a market sell order.
pub async fn close_position(
    app: &App,
    user_id: i64,
    symbol: &str,
    portion: Portion<'_>,
) -> Result<Order, OrderError> {
    let account_id = account_id_of(app, user_id).await?;
    let attempt = submission(app, account_id);
    let closed = close(app, account_id, symbol, portion, &attempt).await;
    counted(app, attempt, closed, |_| true).await
}

async fn close(
    app: &App,
    account_id: i64,
    symbol: &str,
    portion: Portion<'_>,
    attempt: &Attempt,
) -> Result<Order, OrderError> {
    let symbol = symbol.to_uppercase();
    let held = trading::positions(&app.db, account_id)
        .await?
        .into_iter()
        .find(|p| p.symbol == symbol)
        .ok_or_else(|| OrderError::NoPosition(symbol.clone()))?;
    let fractionable = || async {
        Ok::<_, StoreError>(
            market::symbol(&app.db, &symbol)
                .await?
                .is_some_and(|s| s.fractionable),
        )
    };
    let qty = match portion {
        Portion::All => held.qty.0,
        Portion::Qty(text) => {
            let qty = decimal("qty", Some(text))?.unwrap_or_default();
            if qty.fract() != Decimal::ZERO && !fractionable().await? {
                return Err(
                    InvalidInput::new("qty", format!("{symbol} trades in whole shares")).into(),
                );
            }
            qty
        }
        Portion::Percentage(text) => {
            let percent = decimal("percentage", Some(text))?.unwrap_or_default();
            if percent > Decimal::ONE_HUNDRED {
                return Err(InvalidInput::new("percentage", "must be at most 100").into());
            }
            let places = if fractionable().await? { 8 } else { 0 };
            let qty = (held.qty.0 * percent / Decimal::ONE_HUNDRED)
                .round_dp_with_strategy(places, rust_decimal::RoundingStrategy::ToZero);
            if qty.is_zero() {
                return Err(InvalidInput::new(
                    "percentage",
                    format!(
                        "{percent}% of {} {symbol} is less than one share",
                        held.qty.0
                    ),
                )
                .into());
            }
            qty
        }
    };
    let terms = Terms {
        side: Side::Sell,
        order_type: OrderType::Market,
        limit_price: None,
        stop_price: None,
    };
    let submission = Submission::simple(symbol, terms, TimeInForce::Day, qty);
    Ok(engine::submit(app, account_id, &submission, attempt).await?)
}
