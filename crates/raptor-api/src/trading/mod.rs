//! Paper trading over HTTP, shaped like Alpaca's Trading API v2: account, orders, positions,
//! and a per-account kill switch.

pub mod engine;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use raptor_domain::orders::{OrderType, Side, Terms, TimeInForce};
use raptor_store::trading::{self, Account, Order, OrderFilter};
use raptor_store::{audit, market, settings};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::{ApiJson, ClientInfo};
use crate::session::CurrentSession;
use crate::{AppState, Problem};
use engine::{price, Refusal, Submission};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
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

async fn account_of(state: &AppState, current: &CurrentSession) -> Result<Account, Problem> {
    trading::account_of_user(&state.db, current.user.id)
        .await?
        .ok_or_else(|| Problem::not_found("you have no paper account"))
}

async fn account(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Value>, Problem> {
    let account = account_of(&state, &current).await?;
    let mut long_market_value = Decimal::ZERO;
    for p in trading::positions(&state.db, account.id).await? {
        let last = market::latest_bar(&state.db, &p.symbol)
            .await?
            .map(|b| price(b.close))
            .unwrap_or(p.avg_entry_price.0);
        long_market_value += p.qty.0 * last;
    }
    let reserved: Decimal = trading::orders(&state.db, account.id, OrderFilter::Open, &[], 10_000)
        .await?
        .iter()
        .filter(|o| o.side == "buy")
        .filter_map(|o| Some(o.qty?.0 * o.limit_price.or(o.stop_price)?.0))
        .sum();
    let equity = account.cash.0 + long_market_value;
    let switch = trading::kill_switch(&state.db, account.id).await?;
    Ok(Json(json!({
        "id": account.id.to_string(),
        "currency": account.currency,
        "status": "ACTIVE",
        "cash": money(account.cash.0),
        "long_market_value": money(long_market_value),
        "equity": money(equity),
        "portfolio_value": money(equity),
        "buying_power": money(account.cash.0 - reserved),
        "last_equity": money(account.starting_cash.0),
        "trading_blocked": switch.kill_switch,
        "kill_switch_reason": switch.kill_switch_reason,
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
    if req.reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(Problem::invalid_field(
            "reason",
            "must be at most 500 characters",
        ));
    }
    let account = account_of(&state, &current).await?;
    let now = raptor_store::clock::now();
    let mut tx = state.db.begin().await?;
    trading::set_kill_switch(
        &mut tx,
        account.id,
        req.enabled,
        req.reason.as_deref(),
        current.user.id,
        now,
    )
    .await?;
    let event = current.own_action(
        &client,
        "trading.kill_switch",
        json!({ "enabled": req.enabled, "reason": req.reason }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
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

/// A decimal sent as a JSON string or number, as Alpaca accepts both.
fn decimal(field: &'static str, value: &Option<Value>) -> Result<Option<Decimal>, Problem> {
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return Err(Problem::invalid_field(
                field,
                "must be a number or a numeric string",
            ))
        }
    };
    let parsed = text
        .parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| Problem::invalid_field(field, "must be a number or a numeric string"))?;
    if parsed <= Decimal::ZERO {
        return Err(Problem::invalid_field(field, "must be positive"));
    }
    if parsed.normalize().scale() > 8 {
        return Err(Problem::invalid_field(
            field,
            "must have at most 8 decimal places",
        ));
    }
    Ok(Some(parsed.normalize()))
}

fn refusal(err: Refusal) -> Problem {
    match &err {
        Refusal::TradingDisabled => Problem::forbidden("trading_disabled", err.to_string()),
        Refusal::BuyingPower { .. } => {
            Problem::forbidden("insufficient_buying_power", err.to_string())
        }
        Refusal::Quantity { .. } => Problem::forbidden("insufficient_qty", err.to_string()),
        Refusal::NoPrice(_) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_market_price",
            err.to_string(),
        ),
        Refusal::Store(store) => Problem::internal(store),
    }
}

async fn validate(state: &AppState, req: &OrderRequest) -> Result<Submission, Problem> {
    let symbol = req.symbol.trim().to_uppercase();
    let listed = market::symbol(&state.db, &symbol).await?.ok_or_else(|| {
        Problem::invalid_field("symbol", format!("'{symbol}' is not a listed symbol"))
    })?;
    if !listed.tradable {
        return Err(Problem::invalid_field(
            "symbol",
            format!("{symbol} is not tradable"),
        ));
    }
    let side: Side = req
        .side
        .parse()
        .map_err(|e: String| Problem::invalid_field("side", e))?;
    let order_type: OrderType = req
        .order_type
        .parse()
        .map_err(|e: String| Problem::invalid_field("type", e))?;
    let tif: TimeInForce = req
        .time_in_force
        .parse()
        .map_err(|e: String| Problem::invalid_field("time_in_force", e))?;
    let terms = Terms {
        side,
        order_type,
        limit_price: decimal("limit_price", &req.limit_price)?,
        stop_price: decimal("stop_price", &req.stop_price)?,
    };
    terms
        .validate()
        .map_err(|e| Problem::invalid_field(e.field, e.reason))?;
    let qty = decimal("qty", &req.qty)?;
    let notional = decimal("notional", &req.notional)?;
    match (qty, notional) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(Problem::invalid_field(
                "qty",
                "give exactly one of qty and notional",
            ));
        }
        (None, Some(_)) if order_type != OrderType::Market || tif != TimeInForce::Day => {
            return Err(Problem::invalid_field(
                "notional",
                "notional orders must be market orders with time_in_force day",
            ));
        }
        (Some(q), None) if !listed.fractionable && q.fract() != Decimal::ZERO => {
            return Err(Problem::invalid_field(
                "qty",
                format!("{symbol} trades in whole shares"),
            ));
        }
        _ => {}
    }
    let client_order_id = match &req.client_order_id {
        Some(id) if id.is_empty() || id.chars().count() > 128 => {
            return Err(Problem::invalid_field(
                "client_order_id",
                "must be 1 to 128 characters",
            ));
        }
        Some(id) => id.clone(),
        None => crate::secrets::new_token(),
    };
    Ok(Submission {
        client_order_id,
        symbol,
        terms,
        time_in_force: tif.as_str(),
        qty,
        notional,
    })
}

/// Places an order. A repeated `client_order_id` returns the original order (200), never a
/// second one.
async fn submit(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(req): ApiJson<OrderRequest>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let account = account_of(&state, &current).await?;
    let submission = validate(&state, &req).await?;
    if let Some(existing) =
        trading::order_by_client_id(&state.db, account.id, &submission.client_order_id).await?
    {
        return Ok((StatusCode::OK, Json(order_json(&existing))));
    }
    match engine::submit(&state.db, account.id, &submission).await {
        Ok(order) => {
            settings::complete_step(
                &state.db,
                current.user.id,
                "first_order",
                raptor_store::clock::now(),
            )
            .await?;
            Ok((StatusCode::CREATED, Json(order_json(&order))))
        }
        Err(Refusal::Store(err)) if err.is_unique_violation() => {
            // The same client order id raced in from another request: answer with that one.
            let existing =
                trading::order_by_client_id(&state.db, account.id, &submission.client_order_id)
                    .await?
                    .ok_or_else(|| Problem::internal(&err))?;
            Ok((StatusCode::OK, Json(order_json(&existing))))
        }
        Err(err) => Err(refusal(err)),
    }
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
    if !(1..=500).contains(&limit) {
        return Err(Problem::invalid_field("limit", "must be between 1 and 500"));
    }
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
    if symbols.len() > 100 {
        return Err(Problem::invalid_field("symbols", "at most 100 symbols"));
    }
    let account = account_of(&state, &current).await?;
    let orders = trading::orders(&state.db, account.id, filter, &symbols, limit).await?;
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
    let account = account_of(&state, &current).await?;
    let order = trading::order(&state.db, account.id, id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("you have no order {id}")))?;
    Ok(Json(order_json(&order)))
}

async fn cancel(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    let account = account_of(&state, &current).await?;
    let order = trading::order(&state.db, account.id, id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("you have no order {id}")))?;
    match engine::cancel(&state.db, account.id, id).await? {
        Some(canceled) => Ok(Json(order_json(&canceled))),
        None => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_cancelable",
            format!(
                "order {id} is {} and can no longer be canceled",
                order.status
            ),
        )),
    }
}

fn position_json(p: &trading::Position, last: Option<Decimal>) -> Value {
    let current = last.unwrap_or(p.avg_entry_price.0);
    let market_value = p.qty.0 * current;
    let unrealized = market_value - p.cost_basis.0;
    let pct = if p.cost_basis.0.is_zero() {
        Decimal::ZERO
    } else {
        (unrealized / p.cost_basis.0).round_dp(6)
    };
    json!({
        "symbol": p.symbol,
        "asset_class": "us_equity",
        "side": "long",
        "qty": money(p.qty.0),
        "avg_entry_price": money(p.avg_entry_price.0),
        "cost_basis": money(p.cost_basis.0),
        "current_price": money(current),
        "market_value": money(market_value),
        "unrealized_pl": money(unrealized),
        "unrealized_plpc": money(pct),
    })
}

async fn positions(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Value>, Problem> {
    let account = account_of(&state, &current).await?;
    let mut out = Vec::new();
    for p in trading::positions(&state.db, account.id).await? {
        let last = market::latest_bar(&state.db, &p.symbol)
            .await?
            .map(|b| price(b.close));
        out.push(position_json(&p, last));
    }
    Ok(Json(json!(out)))
}

/// Closes a position with a market order for all of it.
async fn close_position(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(symbol): Path<String>,
) -> Result<Json<Value>, Problem> {
    let account = account_of(&state, &current).await?;
    let symbol = symbol.to_uppercase();
    let held = trading::positions(&state.db, account.id)
        .await?
        .into_iter()
        .find(|p| p.symbol == symbol)
        .ok_or_else(|| Problem::not_found(format!("you hold no {symbol}")))?;
    let submission = Submission {
        client_order_id: crate::secrets::new_token(),
        symbol,
        terms: Terms {
            side: Side::Sell,
            order_type: OrderType::Market,
            limit_price: None,
            stop_price: None,
        },
        time_in_force: "day",
        qty: Some(held.qty.0),
        notional: None,
    };
    let order = engine::submit(&state.db, account.id, &submission)
        .await
        .map_err(refusal)?;
    Ok(Json(order_json(&order)))
}
