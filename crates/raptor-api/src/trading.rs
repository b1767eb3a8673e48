//! Paper trading over HTTP, shaped like Alpaca's Trading API v2: account, orders, positions,
//! and a per-account kill switch.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::activities::{self, Activity};
use raptor_app::trading::{self, Holding, OrderError, OrderRequest as NewOrder, Portion, Refusal};
use raptor_domain::orders::{OrderClass, OrderStatus, OrderType, Side, TimeInForce};
use raptor_store::trading::{Order, OrderQuery};
use raptor_store::DbDecimal;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiPath, ApiQuery, ClientInfo};
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::session::CurrentSession;
use crate::v2::account::{HistoryQuery, PortfolioHistory};
use crate::v2::activities::ActivitiesQuery;
use crate::{AppState, Problem, ProblemCode};

const TAG: &str = "paper trading";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(paper_account))
        .routes(routes!(kill_switch))
        .routes(routes!(reset_account))
        .routes(routes!(portfolio_history))
        .routes(routes!(account_activities))
        .routes(routes!(list_orders, place_order))
        .routes(routes!(get_order, replace_order, cancel_order))
        .routes(routes!(list_positions))
        .routes(routes!(close_position))
}

fn money(value: Decimal) -> String {
    value.normalize().to_string()
}

fn opt(value: Option<DbDecimal>) -> Option<String> {
    value.map(|v| money(v.0))
}

/// An order as Alpaca clients expect it: numbers as strings, the same names and statuses.
#[derive(Serialize, ToSchema)]
pub(crate) struct PaperOrder {
    /// The order's id, a string of digits.
    id: String,
    /// The client's idempotency key (generated when the order was placed without one).
    client_order_id: String,
    /// When it was placed (the same as `submitted_at`).
    created_at: DateTime<Utc>,
    /// Its last change.
    updated_at: DateTime<Utc>,
    /// When it was placed.
    submitted_at: DateTime<Utc>,
    /// When it filled.
    filled_at: Option<DateTime<Utc>>,
    /// When it was canceled.
    canceled_at: Option<DateTime<Utc>>,
    /// When it expired.
    expired_at: Option<DateTime<Utc>>,
    /// Ticker.
    symbol: String,
    /// Always `us_equity`.
    asset_class: &'static str,
    /// Quantity, a decimal string; null for a notional order until it fills.
    qty: Option<String>,
    /// Amount of money, a decimal string, for notional orders; else null.
    notional: Option<String>,
    /// Quantity filled, a decimal string.
    filled_qty: String,
    /// Average fill price, a decimal string; null until filled.
    filled_avg_price: Option<String>,
    /// `market`, `limit`, `stop` or `stop_limit`.
    #[schema(value_type = String)]
    order_type: OrderType,
    /// The same as `order_type` (Alpaca sends both).
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: OrderType,
    /// `buy` or `sell`.
    #[schema(value_type = String)]
    side: Side,
    /// `day`, `gtc`, `ioc`, `fok`, `opg` or `cls`.
    #[schema(value_type = String)]
    time_in_force: TimeInForce,
    /// Limit price, a decimal string; null unless a limit or stop-limit order.
    limit_price: Option<String>,
    /// Stop price, a decimal string; null unless a stop or stop-limit order.
    stop_price: Option<String>,
    /// `new`, `accepted`, `partially_filled`, `filled`, `canceled`, `expired`, `rejected` or
    /// `replaced`.
    #[schema(value_type = String)]
    status: OrderStatus,
    /// Why it was rejected or expired.
    reject_reason: Option<String>,
    /// The id of the order this one replaced.
    replaces: Option<String>,
    /// The id of the order that replaced this one.
    replaced_by: Option<String>,
    /// `simple`, `bracket`, `oco` or `oto`.
    #[schema(value_type = String)]
    order_class: OrderClass,
    /// For a leg of a bracket, OCO or OTO order: its parent's id.
    parent_id: Option<String>,
    /// A trailing stop's distance in money, a decimal string.
    trail_price: Option<String>,
    /// A trailing stop's distance in percent, a decimal string.
    trail_percent: Option<String>,
    /// A trailing stop's best price since it was placed, a decimal string (its `stop_price`
    /// follows from it).
    hwm: Option<String>,
    /// Whether it may fill in extended hours (04:00 to 20:00 New York time).
    extended_hours: bool,
}

impl From<Order> for PaperOrder {
    fn from(o: Order) -> Self {
        Self {
            id: o.id.to_string(),
            client_order_id: o.client_order_id,
            created_at: o.submitted_at,
            updated_at: o.updated_at,
            submitted_at: o.submitted_at,
            filled_at: o.filled_at,
            canceled_at: o.canceled_at,
            expired_at: o.expired_at,
            symbol: o.symbol,
            asset_class: "us_equity",
            qty: opt(o.qty),
            notional: opt(o.notional),
            filled_qty: money(o.filled_qty.0),
            filled_avg_price: opt(o.filled_avg_price),
            order_type: o.order_type,
            kind: o.order_type,
            side: o.side,
            time_in_force: o.time_in_force,
            limit_price: opt(o.limit_price),
            stop_price: opt(o.stop_price),
            status: o.status,
            reject_reason: o.reject_reason,
            replaces: o.replaces.map(|id| id.to_string()),
            replaced_by: o.replaced_by.map(|id| id.to_string()),
            order_class: o.order_class,
            parent_id: o.parent_id.map(|id| id.to_string()),
            trail_price: opt(o.trail_price),
            trail_percent: opt(o.trail_percent),
            hwm: opt(o.hwm),
            extended_hours: o.extended_hours,
        }
    }
}

impl From<OrderError> for Problem {
    fn from(err: OrderError) -> Self {
        match err {
            OrderError::Invalid(input) => Problem::invalid(input),
            OrderError::NoAccount | OrderError::UnknownOrder(_) | OrderError::NoPosition(_) => {
                Problem::not_found(err.to_string())
            }
            OrderError::NotCancelable { .. } | OrderError::NotReplaceable { .. } => {
                Problem::new(ProblemCode::NotCancelable, err.to_string())
            }
            OrderError::Refused(refusal) => match &refusal {
                Refusal::TradingDisabled => {
                    Problem::new(ProblemCode::TradingDisabled, refusal.to_string())
                }
                Refusal::BuyingPower { .. } => {
                    Problem::new(ProblemCode::InsufficientBuyingPower, refusal.to_string())
                }
                Refusal::Quantity { .. } => {
                    Problem::new(ProblemCode::InsufficientQty, refusal.to_string())
                }
                Refusal::NoPrice(_) => {
                    Problem::new(ProblemCode::NoMarketPrice, refusal.to_string())
                }
                Refusal::TooManyOpenOrders { .. } => {
                    Problem::new(ProblemCode::TooManyOpenOrders, refusal.to_string())
                }
                Refusal::NoLongerOpen(_) => {
                    Problem::new(ProblemCode::NotCancelable, refusal.to_string())
                }
                Refusal::TooManySubmissions { retry_after } => {
                    Problem::too_many_requests(*retry_after)
                }
                Refusal::Store(store) => store.into(),
            },
            OrderError::TooManySubmissions { retry_after } => {
                Problem::too_many_requests(retry_after)
            }
            OrderError::Store(store) => store.into(),
        }
    }
}

/// The paper account, in Alpaca's shape: money as decimal strings.
#[derive(Serialize, ToSchema)]
struct PaperAccount {
    /// The account's id, a string of digits.
    id: String,
    /// ISO 4217 code, `USD`.
    currency: String,
    /// Always `ACTIVE`.
    status: &'static str,
    /// Cash.
    cash: String,
    /// What the positions are worth at their latest prices.
    long_market_value: String,
    /// Cash plus `long_market_value`.
    equity: String,
    /// The same as `equity`.
    portfolio_value: String,
    /// What new orders may spend: cash less what working buy orders reserve.
    buying_power: String,
    /// Equity at the previous session's close.
    last_equity: String,
    /// Whether the kill switch blocks new orders.
    trading_blocked: bool,
    /// Why the kill switch was turned on.
    kill_switch_reason: Option<String>,
}

/// One thing that happened to the account's cash or holdings.
#[derive(Serialize, ToSchema)]
struct AccountActivity {
    /// Pass as `page_token` to resume after it.
    id: String,
    /// `FILL` (an order filled) or `CSD` (cash deposited: the opening cash).
    activity_type: &'static str,
    /// When.
    at: DateTime<Utc>,
    /// Fills: the ticker.
    symbol: Option<String>,
    /// Fills: `buy` or `sell`.
    side: Option<&'static str>,
    /// Fills: the quantity, a decimal string.
    qty: Option<String>,
    /// Fills: the price, a decimal string.
    price: Option<String>,
    /// Fills: the order's id.
    order_id: Option<String>,
    /// The cash it moved, a decimal string (negative for a buy).
    net_amount: String,
}

impl From<Activity> for AccountActivity {
    fn from(activity: Activity) -> Self {
        let id = activity.id();
        match activity {
            Activity::Fill(f) => {
                let amount = f.qty.0 * f.price.0;
                Self {
                    id,
                    activity_type: "FILL",
                    at: f.filled_at,
                    symbol: Some(f.symbol),
                    side: Some(f.side.as_str()),
                    qty: Some(money(f.qty.0)),
                    price: Some(money(f.price.0)),
                    order_id: Some(f.order_id.to_string()),
                    net_amount: money(if f.side == Side::Buy { -amount } else { amount }),
                }
            }
            Activity::Deposit { at, amount, .. } => Self {
                id,
                activity_type: "CSD",
                at,
                symbol: None,
                side: None,
                qty: None,
                price: None,
                order_id: None,
                net_amount: money(amount),
            },
        }
    }
}

/// The signed-in user's account activities (fills and the opening cash), newest first by
/// default, paged by activity id: the same filters as `/v2/account/activities`.
#[utoipa::path(get, path = "/api/account/activities", tag = TAG,
    params(ActivitiesQuery),
    responses(
        (status = 200, description = "A page of activities", body = Vec<AccountActivity>),
        (status = 400, description = "A parameter is malformed", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The user has no paper account", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "A parameter is not acceptable", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn account_activities(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiQuery(q): ApiQuery<ActivitiesQuery>,
) -> Result<Json<Vec<AccountActivity>>, Problem> {
    let query = crate::v2::activities::query(q, None)?;
    let page = activities::page(&state, current.user.id, &query).await?;
    Ok(Json(
        page.activities
            .into_iter()
            .map(AccountActivity::from)
            .collect(),
    ))
}

/// The signed-in user's paper account.
#[utoipa::path(get, path = "/api/account", tag = TAG,
    responses(
        (status = 200, description = "The account", body = PaperAccount),
        (status = 404, description = "The user has no paper account", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn paper_account(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<PaperAccount>, Problem> {
    let summary = trading::account_summary(&state, current.user.id).await?;
    let account = &summary.account;
    Ok(Json(PaperAccount {
        id: account.id.to_string(),
        currency: account.currency.clone(),
        status: "ACTIVE",
        cash: money(account.cash.0),
        long_market_value: money(summary.long_market_value),
        equity: money(summary.equity()),
        portfolio_value: money(summary.equity()),
        buying_power: money(summary.buying_power()),
        last_equity: money(summary.last_equity),
        trading_blocked: summary.kill_switch.kill_switch,
        kill_switch_reason: summary.kill_switch.kill_switch_reason,
    }))
}

/// Starts the paper account afresh: every order, fill and position is deleted and the cash
/// is 100000 again (audited as `trading.reset`). The kill switch and watchlists stay.
#[utoipa::path(post, path = "/api/account/reset", tag = TAG,
    responses(
        (status = 200, description = "The account as it now is", body = PaperAccount),
        (status = 404, description = "The user has no paper account", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn reset_account(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
) -> Result<Json<PaperAccount>, Problem> {
    let event = current.own_action(&client, "trading.reset", Value::Null);
    trading::reset_account(&state, current.user.id, event).await?;
    paper_account(State(state), current).await
}

/// The account's equity over a period, rebuilt from its fills and the stored bars (the same
/// answer as `/v2/account/portfolio/history`).
#[utoipa::path(get, path = "/api/account/portfolio-history", tag = TAG,
    params(HistoryQuery),
    responses(
        (status = 200, description = "The history", body = PortfolioHistory),
        (status = 400, description = "An unknown or malformed parameter", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The user has no paper account", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "A parameter is not acceptable, or the period holds too \
            many points of the timeframe", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn portfolio_history(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<PortfolioHistory>, Problem> {
    let history = raptor_app::portfolio::history(&state, current.user.id, &q.into_query()?).await?;
    Ok(Json(history.into()))
}

/// Turns the kill switch on or off.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct KillSwitchRequest {
    /// True blocks every new order until it is turned off.
    enabled: bool,
    /// Why, for the audit log.
    #[serde(default)]
    reason: Option<String>,
}

/// The kill switch as it now is.
#[derive(Serialize, ToSchema)]
struct KillSwitchState {
    /// Whether new orders are refused.
    trading_blocked: bool,
    /// The reason given.
    reason: Option<String>,
}

/// Turns the account's kill switch on or off; while on, every new order is refused.
#[utoipa::path(put, path = "/api/account/kill-switch", tag = TAG,
    request_body = KillSwitchRequest,
    responses(
        (status = 200, description = "The kill switch is set", body = KillSwitchState),
        (status = 400, description = "The body is not JSON", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The user has no paper account", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The body has the wrong shape", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn kill_switch(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
    ApiJson(req): ApiJson<KillSwitchRequest>,
) -> Result<Json<KillSwitchState>, Problem> {
    let event = current.own_action(
        &client,
        "trading.kill_switch",
        json!({ "enabled": req.enabled, "reason": req.reason }),
    );
    let reason = trading::set_kill_switch(
        &state,
        current.user.id,
        req.enabled,
        req.reason.as_deref(),
        &event,
    )
    .await?;
    Ok(Json(KillSwitchState {
        trading_blocked: req.enabled,
        reason,
    }))
}

/// A number in an order as the client wrote it: Alpaca accepts a JSON string or number.
/// Anything else keeps its JSON text, which the use case refuses as not a number, so the
/// first problem reported is the same whatever the JSON type.
#[derive(Deserialize, Clone)]
#[serde(transparent)]
pub(crate) struct OrderNumber(Value);

impl OrderNumber {
    /// The client's text, for the use case to parse.
    pub(crate) fn text(number: Option<Self>) -> Option<String> {
        match number?.0 {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }
}

impl PartialSchema for OrderNumber {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .examples(["10", "0.5", "185.25"]),
            )
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .description(Some(
                "A positive decimal of at most 8 places and at most 1000000000, as a string \
                 (as Alpaca's clients send it) or a JSON number.",
            ))
            .into()
    }
}

impl ToSchema for OrderNumber {}

/// An order to place. Give exactly one of `qty` and `notional`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OrderRequest {
    /// Ticker, any case.
    symbol: String,
    /// Quantity (fractional only for fractionable symbols).
    #[serde(default)]
    qty: Option<OrderNumber>,
    /// An amount of money to buy or sell (market day orders only).
    #[serde(default)]
    notional: Option<OrderNumber>,
    /// `buy` or `sell`.
    side: String,
    /// `market`, `limit`, `stop` or `stop_limit`.
    #[serde(rename = "type")]
    order_type: String,
    /// `day`, `gtc`, `ioc`, `fok`, `opg` (the opening auction) or `cls` (the closing auction).
    time_in_force: String,
    /// Limit price (limit and stop-limit orders).
    #[serde(default)]
    limit_price: Option<OrderNumber>,
    /// Stop price (stop and stop-limit orders).
    #[serde(default)]
    stop_price: Option<OrderNumber>,
    /// An idempotency key of 1 to 128 characters: placing it again returns the first order.
    #[serde(default)]
    client_order_id: Option<String>,
    // What `MoreTerms` holds, spelled out: `deny_unknown_fields` does not work with `flatten`.
    /// `simple` (the default), `bracket`, `oco` or `oto`.
    #[serde(default)]
    order_class: Option<String>,
    /// The take-profit leg (bracket, OCO; OTO takes this or `stop_loss`).
    #[serde(default)]
    take_profit: Option<TakeProfit>,
    /// The stop-loss leg (bracket, OCO; OTO takes this or `take_profit`).
    #[serde(default)]
    stop_loss: Option<StopLoss>,
    /// A trailing stop's distance in money…
    #[serde(default)]
    trail_price: Option<OrderNumber>,
    /// …or in percent of the best price since it was placed.
    #[serde(default)]
    trail_percent: Option<OrderNumber>,
    /// A limit day order that may also fill from 04:00 to 20:00 New York time.
    #[serde(default)]
    extended_hours: Option<bool>,
}

/// The take-profit leg of a bracket, OCO or OTO order.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TakeProfit {
    /// The limit it sells at.
    limit_price: Option<OrderNumber>,
}

/// The stop-loss leg of a bracket, OCO or OTO order: a stop, or a stop-limit when
/// `limit_price` is given.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StopLoss {
    /// The stop that triggers it.
    stop_price: Option<OrderNumber>,
    /// The limit it then sells at, for a stop-limit.
    #[serde(default)]
    limit_price: Option<OrderNumber>,
}

/// What an order may carry beyond simple terms, the same on `/api` and `/v2`.
#[derive(Deserialize, ToSchema, Default)]
pub(crate) struct MoreTerms {
    /// `simple` (the default), `bracket`, `oco` or `oto`.
    #[serde(default)]
    order_class: Option<String>,
    /// The take-profit leg (bracket, OCO; OTO takes this or `stop_loss`).
    #[serde(default)]
    take_profit: Option<TakeProfit>,
    /// The stop-loss leg (bracket, OCO; OTO takes this or `take_profit`).
    #[serde(default)]
    stop_loss: Option<StopLoss>,
    /// A trailing stop's distance in money…
    #[serde(default)]
    trail_price: Option<OrderNumber>,
    /// …or in percent of the best price since it was placed.
    #[serde(default)]
    trail_percent: Option<OrderNumber>,
    /// A limit day order that may also fill from 04:00 to 20:00 New York time.
    #[serde(default)]
    extended_hours: Option<bool>,
}

impl MoreTerms {
    /// Adds these terms to a request.
    pub(crate) fn into(self, req: NewOrder) -> NewOrder {
        let (take_profit, stop_loss) = (self.take_profit, self.stop_loss);
        NewOrder {
            order_class: self.order_class,
            take_profit_limit_price: take_profit.and_then(|t| OrderNumber::text(t.limit_price)),
            stop_loss_stop_price: stop_loss
                .as_ref()
                .and_then(|s| OrderNumber::text(s.stop_price.clone())),
            stop_loss_limit_price: stop_loss.and_then(|s| OrderNumber::text(s.limit_price)),
            trail_price: OrderNumber::text(self.trail_price),
            trail_percent: OrderNumber::text(self.trail_percent),
            extended_hours: self.extended_hours.unwrap_or(false),
            ..req
        }
    }
}

impl OrderRequest {
    /// The request in the use case's terms.
    fn into_request(self) -> NewOrder {
        let more = MoreTerms {
            order_class: self.order_class,
            take_profit: self.take_profit,
            stop_loss: self.stop_loss,
            trail_price: self.trail_price,
            trail_percent: self.trail_percent,
            extended_hours: self.extended_hours,
        };
        more.into(NewOrder {
            qty: OrderNumber::text(self.qty),
            notional: OrderNumber::text(self.notional),
            limit_price: OrderNumber::text(self.limit_price),
            stop_price: OrderNumber::text(self.stop_price),
            symbol: self.symbol,
            side: self.side,
            order_type: self.order_type,
            time_in_force: self.time_in_force,
            client_order_id: self.client_order_id,
            ..NewOrder::default()
        })
    }
}

/// Places an order. A repeated `client_order_id` returns the original order (200), never a
/// second one.
#[utoipa::path(post, path = "/api/orders", tag = TAG,
    request_body = OrderRequest,
    responses(
        (status = 201, description = "The order was placed (and filled, if marketable)", body = PaperOrder),
        (status = 200, description = "An order with this `client_order_id` was placed before; it is returned", body = PaperOrder),
        (status = 400, description = "The body is not JSON", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "Refused: the kill switch is on (`trading_disabled`), not enough buying power or shares, or the order would rest and the account already has 500 open orders (`too_many_open_orders`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "A field is not acceptable (`field` names it), or there is no price to fill a market order at", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "More than 200 order submissions this minute for the account (`rate_limited`); `Retry-After` says when to try again", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn place_order(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(req): ApiJson<OrderRequest>,
) -> Result<(StatusCode, Json<PaperOrder>), Problem> {
    let placed = trading::place_order(&state, current.user.id, &req.into_request()).await?;
    let status = if placed.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(placed.order.into())))
}

/// Which orders to list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct OrdersQuery {
    /// `open` (the default), `closed` or `all`.
    status: Option<String>,
    /// Only these tickers, comma-separated, any case (at most 100).
    symbols: Option<String>,
    /// At most this many (1–500, default 50).
    limit: Option<i64>,
}

/// The user's orders, newest first.
#[utoipa::path(get, path = "/api/orders", tag = TAG,
    params(OrdersQuery),
    responses(
        (status = 200, description = "The orders, newest first", body = [PaperOrder]),
        (status = 400, description = "An unknown or malformed parameter", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "`status`, `symbols` or `limit` is out of range", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn list_orders(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiQuery(q): ApiQuery<OrdersQuery>,
) -> Result<Json<Vec<PaperOrder>>, Problem> {
    let symbols = trading::symbol_list(q.symbols.as_deref());
    let query = OrderQuery {
        symbols: &symbols,
        ..OrderQuery::newest(
            trading::order_filter(q.status.as_deref()).map_err(Problem::invalid)?,
            q.limit.unwrap_or(50),
        )
    };
    let orders = trading::orders(&state, current.user.id, &query).await?;
    Ok(Json(orders.into_iter().map(PaperOrder::from).collect()))
}

/// What to change of a working order; what is not given stays as it was.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OrderChange {
    /// A new quantity.
    #[serde(default)]
    qty: Option<OrderNumber>,
    /// A new time in force.
    #[serde(default)]
    time_in_force: Option<String>,
    /// A new limit price.
    #[serde(default)]
    limit_price: Option<OrderNumber>,
    /// A new stop price.
    #[serde(default)]
    stop_price: Option<OrderNumber>,
    /// A trailing stop's new trail, in its unit (money or percent).
    #[serde(default)]
    trail: Option<OrderNumber>,
    /// The new order's client order id (generated when absent).
    #[serde(default)]
    client_order_id: Option<String>,
}

/// Replaces a working order: it ends as `replaced` and a new order of the same symbol, side
/// and type with the changes is placed, in one transaction, checked as any new order is.
#[utoipa::path(patch, path = "/api/orders/{id}", tag = TAG,
    params(("id" = i64, Path, description = "The order's id.")),
    request_body = OrderChange,
    responses(
        (status = 200, description = "The new order", body = PaperOrder),
        (status = 400, description = "The id or body is malformed", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "Refused: the kill switch is on, or not enough buying power or shares", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such order", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The order is no longer open, or a change is not acceptable", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "More than 200 order submissions this minute", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn replace_order(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<i64>,
    ApiJson(change): ApiJson<OrderChange>,
) -> Result<Json<PaperOrder>, Problem> {
    let replacement = trading::Replacement {
        qty: OrderNumber::text(change.qty),
        time_in_force: change.time_in_force,
        limit_price: OrderNumber::text(change.limit_price),
        stop_price: OrderNumber::text(change.stop_price),
        trail: OrderNumber::text(change.trail),
        client_order_id: change.client_order_id,
    };
    let order = trading::replace_order(&state, current.user.id, id, &replacement).await?;
    Ok(Json(order.into()))
}

/// One of the user's orders.
#[utoipa::path(get, path = "/api/orders/{id}", tag = TAG,
    params(("id" = i64, Path, description = "The order's id.")),
    responses(
        (status = 200, description = "The order", body = PaperOrder),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The user has no such order", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn get_order(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PaperOrder>, Problem> {
    let order = trading::order(&state, current.user.id, id).await?;
    Ok(Json(order.into()))
}

/// Cancels one of the user's working orders.
#[utoipa::path(delete, path = "/api/orders/{id}", tag = TAG,
    params(("id" = i64, Path, description = "The order's id.")),
    responses(
        (status = 200, description = "The order, now canceled", body = PaperOrder),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The user has no such order", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The order is already filled, canceled or expired (`not_cancelable`)", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn cancel_order(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PaperOrder>, Problem> {
    let canceled = trading::cancel_order(&state, current.user.id, id).await?;
    Ok(Json(canceled.into()))
}

/// A position, in Alpaca's shape: numbers as decimal strings.
#[derive(Serialize, ToSchema)]
struct PaperPosition {
    /// Ticker.
    symbol: String,
    /// Always `us_equity`.
    asset_class: &'static str,
    /// Always `long`.
    side: &'static str,
    /// Quantity held.
    qty: String,
    /// Average entry price.
    avg_entry_price: String,
    /// What was paid for what is held.
    cost_basis: String,
    /// The latest price (the entry price when there is none).
    current_price: String,
    /// Quantity times the current price.
    market_value: String,
    /// Market value less cost.
    unrealized_pl: String,
    /// Unrealized profit as a fraction of cost, six places.
    unrealized_plpc: String,
}

impl From<&Holding> for PaperPosition {
    fn from(h: &Holding) -> Self {
        let p = &h.position;
        Self {
            symbol: p.symbol.clone(),
            asset_class: "us_equity",
            side: "long",
            qty: money(p.qty.0),
            avg_entry_price: money(p.avg_entry_price.0),
            cost_basis: money(p.cost_basis.0),
            current_price: money(h.current_price()),
            market_value: money(h.market_value()),
            unrealized_pl: money(h.unrealized_pl()),
            unrealized_plpc: money(h.unrealized_plpc()),
        }
    }
}

/// The user's open positions at their latest prices.
#[utoipa::path(get, path = "/api/positions", tag = TAG,
    responses(
        (status = 200, description = "The positions, by symbol", body = [PaperPosition]),
        (status = 404, description = "The user has no paper account", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn list_positions(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Vec<PaperPosition>>, Problem> {
    let held = trading::positions(&state, current.user.id).await?;
    Ok(Json(held.iter().map(PaperPosition::from).collect()))
}

/// Closes a position with a market order for all of it.
#[utoipa::path(delete, path = "/api/positions/{symbol}", tag = TAG,
    params(("symbol" = String, Path, description = "Ticker, any case.")),
    responses(
        (status = 200, description = "The closing market order", body = PaperOrder),
        (status = 403, description = "The kill switch is on", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No position in that symbol", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "There is no price to fill the order at (`no_market_price`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "More than 200 order submissions this minute for the account (`rate_limited`); `Retry-After` says when to try again", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn close_position(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(symbol): ApiPath<String>,
) -> Result<Json<PaperOrder>, Problem> {
    let order = trading::close_position(&state, current.user.id, &symbol, Portion::All).await?;
    Ok(Json(order.into()))
}
