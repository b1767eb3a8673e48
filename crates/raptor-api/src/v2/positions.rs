//! Positions, as Alpaca's `Position`, and closing them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use raptor_app::market;
use raptor_app::trading::{self, Holding, Portion};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::assets::{exchange, find};
use super::auth::KeyHolder;
use super::error::{AlpacaError, V2Path, V2Query};
use super::ids::{self, Kind};
use super::orders::AlpacaOrder;
use super::{decimal, query_bool, AlpacaErrorBody, TAG};
use crate::{AppState, Problem};

/// A position, as Alpaca's `Position`: numbers as decimal strings.
#[derive(Serialize, ToSchema)]
pub(crate) struct AlpacaPosition {
    /// The asset's id.
    asset_id: String,
    /// Ticker.
    symbol: String,
    /// The listing exchange.
    exchange: &'static str,
    /// `us_equity`.
    asset_class: String,
    /// Average entry price.
    avg_entry_price: String,
    /// Quantity held.
    qty: String,
    /// The same as `qty`.
    qty_available: String,
    /// Always `long`.
    side: &'static str,
    /// Quantity times the current price.
    market_value: String,
    /// What was paid for what is held.
    cost_basis: String,
    /// Market value less cost.
    unrealized_pl: String,
    /// Unrealized profit as a fraction of cost.
    unrealized_plpc: String,
    /// The latest stored price (the entry price when none is stored).
    current_price: String,
    /// Always false: no margin.
    asset_marginable: bool,
}

async fn position(state: &AppState, held: Holding) -> Result<AlpacaPosition, Problem> {
    // A symbol delisted while held still shows, without an asset.
    let listed = market::listed_symbol(state, &held.position.symbol).await?;
    let p = &held.position;
    Ok(AlpacaPosition {
        asset_id: ids::uuid(Kind::Asset, listed.as_ref().map_or(0, |s| s.id)).to_string(),
        symbol: p.symbol.clone(),
        exchange: listed.as_ref().map_or("", |s| exchange(&s.exchange)),
        asset_class: listed.map_or_else(|| "us_equity".to_owned(), |s| s.asset_class),
        avg_entry_price: decimal(p.avg_entry_price.0),
        qty: decimal(p.qty.0),
        qty_available: decimal(p.qty.0),
        side: "long",
        market_value: decimal(held.market_value()),
        cost_basis: decimal(p.cost_basis.0),
        unrealized_pl: decimal(held.unrealized_pl()),
        unrealized_plpc: decimal(held.unrealized_plpc()),
        current_price: decimal(held.current_price()),
        asset_marginable: false,
    })
}

/// The key holder's positions, by symbol.
#[utoipa::path(get, path = "/v2/positions", tag = TAG,
    responses(
        (status = 200, description = "The positions", body = Vec<AlpacaPosition>),
        (status = 404, description = "The key's owner has no paper account", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    holder: KeyHolder,
) -> Result<Json<Vec<AlpacaPosition>>, AlpacaError> {
    let mut answer = Vec::new();
    for held in trading::positions(&state, holder.user_id).await? {
        answer.push(position(&state, held).await?);
    }
    Ok(Json(answer))
}

/// The ticker a path names, by ticker or asset id.
async fn ticker(state: &AppState, symbol_or_id: &str) -> Result<String, Problem> {
    Ok(match ids::row(Kind::Asset, symbol_or_id) {
        Some(_) => find(state, symbol_or_id).await?.ticker,
        None => symbol_or_id.to_uppercase(),
    })
}

fn no_position(symbol: &str) -> Problem {
    Problem::not_found(format!("position does not exist: {symbol}"))
}

/// One position, by ticker or asset id.
#[utoipa::path(get, path = "/v2/positions/{symbol_or_asset_id}", tag = TAG,
    params(("symbol_or_asset_id" = String, Path, description = "A ticker or an asset id")),
    responses(
        (status = 200, description = "The position", body = AlpacaPosition),
        (status = 404, description = "Nothing of it is held", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn get(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Path(symbol_or_id): V2Path<String>,
) -> Result<Json<AlpacaPosition>, AlpacaError> {
    let symbol = ticker(&state, &symbol_or_id).await?;
    let held = trading::positions(&state, holder.user_id)
        .await?
        .into_iter()
        .find(|h| h.position.symbol == symbol)
        .ok_or_else(|| no_position(&symbol))?;
    Ok(Json(position(&state, held).await?))
}

/// How much of a position to close: `qty` or `percentage`, or neither for all of it.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CloseQuery {
    /// A quantity to sell.
    qty: Option<String>,
    /// A percentage of the position to sell, above 0 and at most 100.
    percentage: Option<String>,
}

/// Closes all or part of a position with a market sell order; the order.
#[utoipa::path(delete, path = "/v2/positions/{symbol_or_asset_id}", tag = TAG,
    params(("symbol_or_asset_id" = String, Path, description = "A ticker or an asset id"), CloseQuery),
    responses(
        (status = 200, description = "The sell order", body = AlpacaOrder),
        (status = 403, description = "More than is held, or the kill switch is on", body = AlpacaErrorBody),
        (status = 404, description = "Nothing of it is held", body = AlpacaErrorBody),
        (status = 422, description = "`qty` or `percentage` is not acceptable, or both are given",
            body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn close(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Path(symbol_or_id): V2Path<String>,
    V2Query(q): V2Query<CloseQuery>,
) -> Result<Json<AlpacaOrder>, AlpacaError> {
    let portion = match (q.qty.as_deref(), q.percentage.as_deref()) {
        (None, None) => Portion::All,
        (Some(qty), None) => Portion::Qty(qty),
        (None, Some(percentage)) => Portion::Percentage(percentage),
        (Some(_), Some(_)) => {
            return Err(Problem::invalid_field("qty", "give qty or percentage, not both").into())
        }
    };
    let symbol = ticker(&state, &symbol_or_id).await?;
    let order = trading::close_position(&state, holder.user_id, &symbol, portion).await?;
    Ok(Json(order.into()))
}

/// Whether to cancel working orders before closing every position.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CloseAllQuery {
    /// `true`: cancel every working order first.
    cancel_orders: Option<String>,
}

/// One position's closing, in a close-all.
#[derive(Serialize, ToSchema)]
pub(crate) struct Closed {
    /// Ticker.
    symbol: String,
    /// 200 when its sell order was placed, else the error's status.
    status: u16,
    /// The sell order, or the error (`code`, `message`).
    #[schema(value_type = Object)]
    body: serde_json::Value,
}

/// Closes every position with market sell orders (Alpaca answers 207, one status per symbol).
#[utoipa::path(delete, path = "/v2/positions", tag = TAG,
    params(CloseAllQuery),
    responses(
        (status = 207, description = "Each position's sell order, or why it was not placed",
            body = Vec<Closed>),
        (status = 404, description = "The key's owner has no paper account", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn close_all(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Query(q): V2Query<CloseAllQuery>,
) -> Result<(StatusCode, Json<Vec<Closed>>), AlpacaError> {
    if query_bool("cancel_orders", q.cancel_orders.as_deref())? {
        trading::cancel_open_orders(&state, holder.user_id).await?;
    }
    let mut answers = Vec::new();
    for held in trading::positions(&state, holder.user_id).await? {
        let symbol = held.position.symbol;
        let closed = trading::close_position(&state, holder.user_id, &symbol, Portion::All).await;
        let (status, body) = match closed {
            Ok(order) => (200, serde_json::to_value(AlpacaOrder::from(order))),
            Err(err) => {
                let problem = Problem::from(err);
                let status = problem.status().as_u16();
                (
                    status,
                    Ok(serde_json::json!({
                        "code": u32::from(status) * 100_000 + 10_000,
                        "message": problem.detail,
                    })),
                )
            }
        };
        answers.push(Closed {
            symbol,
            status,
            body: body.map_err(|e| Problem::internal(&e))?,
        });
    }
    Ok((StatusCode::MULTI_STATUS, Json(answers)))
}
