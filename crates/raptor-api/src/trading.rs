//! Paper trading over HTTP, shaped like Alpaca's Trading API v2: account, orders, positions,
//! and a per-account kill switch.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use axum::Json;
use raptor_app::trading::{self, Holding, OrderError, OrderRequest as NewOrder, Refusal};
use raptor_store::trading::{Order, OrderFilter};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;

use crate::extract::{ApiJson, ClientInfo};
use crate::session::CurrentSession;
use crate::{AppState, Problem, ProblemCode};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/api/account", get(account))
        .route("/api/account/kill-switch", put(kill_switch))
        .route("/api/orders", get(list_orders).post(submit))
        .route("/api/orders/{id}", get(get_order).delete(cancel))
        .route("/api/positions", get(positions))
        .route("/api/positions/{symbol}", delete(close_position))
}

fn money(value: Decimal) -> String {
    value.normalize().to_string()
}

fn opt(value: Option<raptor_store::DbDecimal>) -> Value {
    value.map_or(Value::Null, |v| json!(money(v.0)))
}

/// An order as Alpaca clients expect it: numbers as strings, the same names and statuses.
pub(crate) fn order_json(o: &Order) -> Value {
    json!({
        "id": o.id.to_string(),
        "client_order_id": o.client_order_id,
        "created_at": o.submitted_at,
        "updated_at": o.updated_at,
        "submitted_at": o.submitted_at,
        "filled_at": o.filled_at,
        "canceled_at": o.canceled_at,
        "expired_at": o.expired_at,
        "symbol": o.symbol,
        "asset_class": "us_equity",
        "qty": opt(o.qty),
        "notional": opt(o.notional),
        "filled_qty": money(o.filled_qty.0),
        "filled_avg_price": opt(o.filled_avg_price),
        "order_type": o.order_type,
        "type": o.order_type,
        "side": o.side,
        "time_in_force": o.time_in_force,
        "limit_price": opt(o.limit_price),
        "stop_price": opt(o.stop_price),
        "status": o.status,
        "reject_reason": o.reject_reason,
    })
}

impl From<OrderError> for Problem {
    fn from(err: OrderError) -> Self {
        match err {
            OrderError::Invalid(input) => Problem::invalid(input),
            OrderError::NoAccount | OrderError::UnknownOrder(_) | OrderError::NoPosition(_) => {
                Problem::not_found(err.to_string())
            }
            OrderError::NotCancelable { .. } => {
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
                Refusal::Store(store) => Problem::internal(store),
            },
            OrderError::Store(store) => store.into(),
        }
    }
}

async fn account(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Value>, Problem> {
    let summary = trading::account_summary(&state, current.user.id).await?;
    let account = &summary.account;
    Ok(Json(json!({
        "id": account.id.to_string(),
        "currency": account.currency,
        "status": "ACTIVE",
        "cash": money(account.cash.0),
        "long_market_value": money(summary.long_market_value),
        "equity": money(summary.equity()),
        "portfolio_value": money(summary.equity()),
        "buying_power": money(summary.buying_power()),
        "last_equity": money(account.starting_cash.0),
        "trading_blocked": summary.kill_switch.kill_switch,
        "kill_switch_reason": summary.kill_switch.kill_switch_reason,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KillSwitchRequest {
    enabled: bool,
    #[serde(default)]
    reason: Option<String>,
}

async fn kill_switch(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
    ApiJson(req): ApiJson<KillSwitchRequest>,
) -> Result<Json<Value>, Problem> {
    let event = current.own_action(
        &client,
        "trading.kill_switch",
        json!({ "enabled": req.enabled, "reason": req.reason }),
    );
    trading::set_kill_switch(
        &state,
        current.user.id,
        req.enabled,
        req.reason.as_deref(),
        &event,
    )
    .await?;
    Ok(Json(
        json!({ "trading_blocked": req.enabled, "reason": req.reason }),
    ))
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderRequest {
    symbol: String,
    #[serde(default)]
    qty: Option<Value>,
    #[serde(default)]
    notional: Option<Value>,
    side: String,
    #[serde(rename = "type")]
    order_type: String,
    time_in_force: String,
    #[serde(default)]
    limit_price: Option<Value>,
    #[serde(default)]
    stop_price: Option<Value>,
    #[serde(default)]
    client_order_id: Option<String>,
}

/// A number as the client wrote it: Alpaca accepts a JSON string or number. Anything else
/// keeps its JSON text, which the use case refuses as not a number.
fn number_text(value: Option<Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

impl OrderRequest {
    /// The request in the use case's terms.
    fn into_request(self) -> NewOrder {
        NewOrder {
            qty: number_text(self.qty),
            notional: number_text(self.notional),
            limit_price: number_text(self.limit_price),
            stop_price: number_text(self.stop_price),
            symbol: self.symbol,
            side: self.side,
            order_type: self.order_type,
            time_in_force: self.time_in_force,
            client_order_id: self.client_order_id,
        }
    }
}

/// Places an order. A repeated `client_order_id` returns the original order (200), never a
/// second one.
async fn submit(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(req): ApiJson<OrderRequest>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let placed = trading::place_order(&state, current.user.id, &req.into_request()).await?;
    let status = if placed.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(order_json(&placed.order))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrdersQuery {
    status: Option<String>,
    symbols: Option<String>,
    limit: Option<i64>,
}

async fn list_orders(
    State(state): State<AppState>,
    current: CurrentSession,
    Query(q): Query<OrdersQuery>,
) -> Result<Json<Value>, Problem> {
    let filter = match q.status.as_deref().unwrap_or("open") {
        "open" => OrderFilter::Open,
        "closed" => OrderFilter::Closed,
        "all" => OrderFilter::All,
        _ => {
            return Err(Problem::invalid_field(
                "status",
                "must be one of open, closed, all",
            ))
        }
    };
    let limit = q.limit.unwrap_or(50);
    let symbols: Vec<String> = q
        .symbols
        .as_deref()
        .map(|s| {
            s.split(',')
                .map(|t| t.trim().to_uppercase())
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let orders = trading::orders(&state, current.user.id, filter, &symbols, limit).await?;
    Ok(Json(json!(orders
        .iter()
        .map(order_json)
        .collect::<Vec<_>>())))
}

async fn get_order(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    let order = trading::order(&state, current.user.id, id).await?;
    Ok(Json(order_json(&order)))
}

async fn cancel(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    let canceled = trading::cancel_order(&state, current.user.id, id).await?;
    Ok(Json(order_json(&canceled)))
}

fn position_json(h: &Holding) -> Value {
    let p = &h.position;
    json!({
        "symbol": p.symbol,
        "asset_class": "us_equity",
        "side": "long",
        "qty": money(p.qty.0),
        "avg_entry_price": money(p.avg_entry_price.0),
        "cost_basis": money(p.cost_basis.0),
        "current_price": money(h.current_price()),
        "market_value": money(h.market_value()),
        "unrealized_pl": money(h.unrealized_pl()),
        "unrealized_plpc": money(h.unrealized_plpc()),
    })
}

async fn positions(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Value>, Problem> {
    let held = trading::positions(&state, current.user.id).await?;
    Ok(Json(json!(held
        .iter()
        .map(position_json)
        .collect::<Vec<_>>())))
}

/// Closes a position with a market order for all of it.
async fn close_position(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(symbol): Path<String>,
) -> Result<Json<Value>, Problem> {
    let order = trading::close_position(&state, current.user.id, &symbol).await?;
    Ok(Json(order_json(&order)))
}
