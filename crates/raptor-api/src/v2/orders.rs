//! Orders, as Alpaca's Trading API v2 takes and answers them.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::times;
use raptor_app::trading::{self, OrderRequest};
use raptor_domain::orders::{OrderClass, OrderStatus, OrderType, Side, TimeInForce};
use raptor_domain::InvalidInput;
use raptor_store::trading::{Order, OrderQuery};
use raptor_store::DbDecimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::KeyHolder;
use super::error::{AlpacaError, V2Json, V2Path, V2Query};
use super::ids::{self, Kind};
use super::{decimal, query_bool, AlpacaErrorBody, TAG};
use crate::trading::{MoreTerms, OrderNumber};
use crate::{AppState, Problem};

/// An order as Alpaca's clients read it: UUID ids, numbers as decimal strings.
#[derive(Serialize, ToSchema)]
pub(crate) struct AlpacaOrder {
    /// The order's id.
    id: String,
    /// The client's idempotency key (generated when the order was placed without one).
    client_order_id: String,
    /// When it was placed.
    created_at: DateTime<Utc>,
    /// Its last change.
    updated_at: DateTime<Utc>,
    /// When it was placed.
    submitted_at: DateTime<Utc>,
    /// When it filled.
    filled_at: Option<DateTime<Utc>>,
    /// When it expired.
    expired_at: Option<DateTime<Utc>>,
    /// When it was canceled.
    canceled_at: Option<DateTime<Utc>>,
    /// Always null.
    failed_at: Option<DateTime<Utc>>,
    /// Ticker.
    symbol: String,
    /// Always `us_equity`.
    asset_class: &'static str,
    /// Amount of money, for notional orders.
    notional: Option<String>,
    /// Quantity; null for a notional order.
    qty: Option<String>,
    /// Quantity filled.
    filled_qty: String,
    /// Average fill price.
    filled_avg_price: Option<String>,
    /// `simple`, `bracket`, `oco` or `oto` (a leg carries its parent's class).
    #[schema(value_type = String)]
    order_class: OrderClass,
    /// `market`, `limit`, `stop` or `stop_limit`.
    #[schema(value_type = String)]
    order_type: OrderType,
    /// The same as `order_type`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: OrderType,
    /// `buy` or `sell`.
    #[schema(value_type = String)]
    side: Side,
    /// `day`, `gtc`, `ioc` or `fok`.
    #[schema(value_type = String)]
    time_in_force: TimeInForce,
    /// Limit price.
    limit_price: Option<String>,
    /// Stop price.
    stop_price: Option<String>,
    /// Alpaca's order status.
    #[schema(value_type = String)]
    status: OrderStatus,
    /// Always false: orders fill in the regular session.
    extended_hours: bool,
    /// The legs of a bracket, OCO or OTO parent (when read one by one, or listed `nested`).
    #[schema(value_type = Option<Vec<Object>>)]
    legs: Option<Vec<AlpacaOrder>>,
    /// A trailing stop's distance in money.
    trail_price: Option<String>,
    /// A trailing stop's distance in percent.
    trail_percent: Option<String>,
    /// A trailing stop's best price since it was placed (its `stop_price` follows from it).
    hwm: Option<String>,
    /// The order this one replaced.
    replaces: Option<String>,
    /// The order that replaced this one.
    replaced_by: Option<String>,
    /// When it was replaced.
    replaced_at: Option<DateTime<Utc>>,
}

impl AlpacaOrder {
    /// An order with its legs, from `legs` by parent.
    fn with_legs(order: Order, legs: &mut BTreeMap<i64, Vec<Order>>) -> Self {
        let own = legs.remove(&order.id);
        let mut shown = Self::from(order);
        shown.legs = own.map(|legs| legs.into_iter().map(Self::from).collect());
        shown
    }
}

/// One order as read alone: with its legs. Placing an order answers through here after it
/// committed, so a failed read of the legs leaves them out rather than failing the answer.
async fn shown(state: &AppState, order: Order) -> AlpacaOrder {
    let mut legs = trading::legs_of(state, std::slice::from_ref(&order))
        .await
        .unwrap_or_else(|err| {
            tracing::warn!(%err, "reading an order's legs failed; answering without them");
            BTreeMap::new()
        });
    AlpacaOrder::with_legs(order, &mut legs)
}

fn text(value: Option<DbDecimal>) -> Option<String> {
    value.map(|v| decimal(v.0))
}

impl From<Order> for AlpacaOrder {
    fn from(o: Order) -> Self {
        Self {
            id: ids::uuid(Kind::Order, o.id).to_string(),
            client_order_id: o.client_order_id,
            created_at: o.submitted_at,
            updated_at: o.updated_at,
            submitted_at: o.submitted_at,
            filled_at: o.filled_at,
            expired_at: o.expired_at,
            canceled_at: o.canceled_at,
            failed_at: None,
            symbol: o.symbol,
            asset_class: "us_equity",
            notional: text(o.notional),
            qty: text(o.qty),
            filled_qty: decimal(o.filled_qty.0),
            filled_avg_price: text(o.filled_avg_price),
            order_class: o.order_class,
            order_type: o.order_type,
            kind: o.order_type,
            side: o.side,
            time_in_force: o.time_in_force,
            limit_price: text(o.limit_price),
            stop_price: text(o.stop_price),
            status: o.status,
            extended_hours: o.extended_hours,
            legs: None,
            trail_price: text(o.trail_price),
            trail_percent: text(o.trail_percent),
            hwm: text(o.hwm),
            replaces: o.replaces.map(|id| ids::uuid(Kind::Order, id).to_string()),
            replaced_by: o
                .replaced_by
                .map(|id| ids::uuid(Kind::Order, id).to_string()),
            replaced_at: o.replaced_at,
        }
    }
}

/// An order to place, as Alpaca's clients send it. Give exactly one of `qty` and `notional`.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewOrder {
    /// Ticker, any case.
    symbol: String,
    /// Quantity, a string or a number.
    #[serde(default)]
    qty: Option<OrderNumber>,
    /// An amount of money (market day orders only).
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
    /// Order classes, legs and trails.
    #[serde(flatten)]
    more: MoreTerms,
}

impl NewOrder {
    /// The request in the use case's terms.
    fn into_request(self) -> OrderRequest {
        self.more.into(OrderRequest {
            qty: OrderNumber::text(self.qty),
            notional: OrderNumber::text(self.notional),
            limit_price: OrderNumber::text(self.limit_price),
            stop_price: OrderNumber::text(self.stop_price),
            symbol: self.symbol,
            side: self.side,
            order_type: self.order_type,
            time_in_force: self.time_in_force,
            client_order_id: self.client_order_id,
            ..OrderRequest::default()
        })
    }
}

/// Places an order; a market order fills at once at the latest price. A repeated
/// `client_order_id` answers the original order instead of placing a second.
#[utoipa::path(post, path = "/v2/orders", tag = TAG,
    request_body = NewOrder,
    responses(
        (status = 200, description = "The order (filled, if marketable), or the one placed \
            before under this `client_order_id`", body = AlpacaOrder),
        (status = 400, description = "The body is not JSON", body = AlpacaErrorBody),
        (status = 403, description = "Refused: the kill switch is on, not enough buying power \
            or shares, or too many open orders", body = AlpacaErrorBody),
        (status = 404, description = "The key's owner has no paper account", body = AlpacaErrorBody),
        (status = 422, description = "A field is not acceptable, or there is no price yet",
            body = AlpacaErrorBody),
        (status = 429, description = "Too many requests or orders this minute", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Json(req): V2Json<NewOrder>,
) -> Result<Json<AlpacaOrder>, AlpacaError> {
    let placed = trading::place_order(&state, holder.user_id, &req.into_request()).await?;
    Ok(Json(shown(&state, placed.order).await))
}

/// Which orders to list, as Alpaca's clients ask.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// `open` (the default), `closed` or `all`.
    status: Option<String>,
    /// At most this many (1–500, default 50).
    limit: Option<i64>,
    /// Only orders submitted after this time (RFC 3339, or a date).
    after: Option<String>,
    /// Only orders submitted until this time (RFC 3339, or a date).
    until: Option<String>,
    /// `desc` (newest first, the default) or `asc`.
    direction: Option<String>,
    /// `true`: legs of bracket, OCO and OTO orders under their parents' `legs`, not listed
    /// on their own.
    nested: Option<String>,
    /// Only `buy` or only `sell` orders.
    side: Option<String>,
    /// Only these tickers, comma-separated.
    symbols: Option<String>,
}

/// A time in a query, as [`times::query_time`] reads one.
pub(crate) fn time(
    field: &'static str,
    text: Option<&str>,
) -> Result<Option<DateTime<Utc>>, Problem> {
    text.map(|t| times::query_time(field, t).map_err(Problem::invalid))
        .transpose()
}

/// The key holder's orders.
#[utoipa::path(get, path = "/v2/orders", tag = TAG,
    params(ListQuery),
    responses(
        (status = 200, description = "The orders", body = Vec<AlpacaOrder>),
        (status = 404, description = "The key's owner has no paper account", body = AlpacaErrorBody),
        (status = 422, description = "A parameter is out of range", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Query(q): V2Query<ListQuery>,
) -> Result<Json<Vec<AlpacaOrder>>, AlpacaError> {
    let filter = trading::order_filter(q.status.as_deref()).map_err(Problem::invalid)?;
    let ascending = match q.direction.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(Problem::invalid_field("direction", "must be asc or desc").into()),
    };
    let side = q
        .side
        .as_deref()
        .map(str::parse::<Side>)
        .transpose()
        .map_err(|e| Problem::invalid(InvalidInput::new("side", e)))?;
    let nested = query_bool("nested", q.nested.as_deref())?;
    let symbols = trading::symbol_list(q.symbols.as_deref());
    let query = OrderQuery {
        filter,
        symbols: &symbols,
        side,
        after: time("after", q.after.as_deref())?,
        until: time("until", q.until.as_deref())?,
        ascending,
        limit: q.limit.unwrap_or(50),
    };
    let orders = trading::orders(&state, holder.user_id, &query).await?;
    if !nested {
        return Ok(Json(orders.into_iter().map(AlpacaOrder::from).collect()));
    }
    // Nested: legs under their parents, and not again on their own (unless the parent is not
    // listed, as an open leg of a filled entry is not among open orders).
    let mut legs = trading::legs_of(&state, &orders)
        .await
        .map_err(Problem::from)?;
    let listed: std::collections::HashSet<i64> = orders.iter().map(|o| o.id).collect();
    Ok(Json(
        orders
            .into_iter()
            .filter(|o| o.parent_id.is_none_or(|parent| !listed.contains(&parent)))
            .map(|o| AlpacaOrder::with_legs(o, &mut legs))
            .collect(),
    ))
}

fn no_such_order() -> Problem {
    Problem::not_found("order not found")
}

/// The row id of one of the key holder's orders named by its UUID.
fn order_row(id: &str) -> Result<i64, Problem> {
    ids::row(Kind::Order, id).ok_or_else(no_such_order)
}

/// One of the key holder's orders.
#[utoipa::path(get, path = "/v2/orders/{order_id}", tag = TAG,
    params(("order_id" = String, Path, description = "The order's id (a UUID)")),
    responses(
        (status = 200, description = "The order", body = AlpacaOrder),
        (status = 404, description = "No such order", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn get(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Path(id): V2Path<String>,
) -> Result<Json<AlpacaOrder>, AlpacaError> {
    let order = trading::order(&state, holder.user_id, order_row(&id)?).await?;
    Ok(Json(shown(&state, order).await))
}

/// The order to find by its client order id.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ByClientIdQuery {
    /// The client order id it was placed with.
    client_order_id: String,
}

/// One of the key holder's orders, by the client order id it was placed with.
#[utoipa::path(get, path = "/v2/orders:by_client_order_id", tag = TAG,
    params(ByClientIdQuery),
    responses(
        (status = 200, description = "The order", body = AlpacaOrder),
        (status = 400, description = "No client_order_id", body = AlpacaErrorBody),
        (status = 404, description = "No such order", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn by_client_order_id(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Query(q): V2Query<ByClientIdQuery>,
) -> Result<Json<AlpacaOrder>, AlpacaError> {
    let order = trading::order_by_client_id(&state, holder.user_id, &q.client_order_id)
        .await?
        .ok_or_else(no_such_order)?;
    Ok(Json(order.into()))
}

/// What to change of a working order.
#[derive(Deserialize, ToSchema)]
pub(crate) struct ReplaceOrderRequest {
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
    /// The new order's client order id.
    #[serde(default)]
    client_order_id: Option<String>,
}

/// Replaces one of the key holder's working orders: the old one ends as `replaced` and a new
/// one with the changes is placed, in one transaction, checked as any new order is.
#[utoipa::path(patch, path = "/v2/orders/{order_id}", tag = TAG,
    params(("order_id" = String, Path, description = "The order's id (a UUID)")),
    request_body = ReplaceOrderRequest,
    responses(
        (status = 200, description = "The new order", body = AlpacaOrder),
        (status = 403, description = "Refused: the kill switch is on, or not enough buying \
            power or shares", body = AlpacaErrorBody),
        (status = 404, description = "No such order", body = AlpacaErrorBody),
        (status = 422, description = "The order is no longer open, or a change is not \
            acceptable", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn replace(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Path(id): V2Path<String>,
    V2Json(change): V2Json<ReplaceOrderRequest>,
) -> Result<Json<AlpacaOrder>, AlpacaError> {
    let replacement = trading::Replacement {
        qty: OrderNumber::text(change.qty),
        time_in_force: change.time_in_force,
        limit_price: OrderNumber::text(change.limit_price),
        stop_price: OrderNumber::text(change.stop_price),
        trail: OrderNumber::text(change.trail),
        client_order_id: change.client_order_id,
    };
    let order =
        trading::replace_order(&state, holder.user_id, order_row(&id)?, &replacement).await?;
    Ok(Json(order.into()))
}

/// Cancels one of the key holder's working orders.
#[utoipa::path(delete, path = "/v2/orders/{order_id}", tag = TAG,
    params(("order_id" = String, Path, description = "The order's id (a UUID)")),
    responses(
        (status = 204, description = "Canceled"),
        (status = 404, description = "No such order", body = AlpacaErrorBody),
        (status = 422, description = "The order is no longer working", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Path(id): V2Path<String>,
) -> Result<StatusCode, AlpacaError> {
    trading::cancel_order(&state, holder.user_id, order_row(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One order canceled by a cancel-all.
#[derive(Serialize, ToSchema)]
pub(crate) struct Canceled {
    /// The order's id.
    id: String,
    /// 200: canceled.
    status: u16,
    /// The order as canceled.
    body: AlpacaOrder,
}

/// Cancels every working order of the key holder's (Alpaca answers 207, one status per order).
#[utoipa::path(delete, path = "/v2/orders", tag = TAG,
    responses(
        (status = 207, description = "The orders canceled", body = Vec<Canceled>),
        (status = 404, description = "The key's owner has no paper account", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn cancel_all(
    State(state): State<AppState>,
    holder: KeyHolder,
) -> Result<(StatusCode, Json<Vec<Canceled>>), AlpacaError> {
    let canceled = trading::cancel_open_orders(&state, holder.user_id).await?;
    let answers = canceled
        .into_iter()
        .map(|order| Canceled {
            id: ids::uuid(Kind::Order, order.id).to_string(),
            status: 200,
            body: order.into(),
        })
        .collect();
    Ok((StatusCode::MULTI_STATUS, Json(answers)))
}
