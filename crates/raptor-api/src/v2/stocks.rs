//! Market data as Alpaca's data API v2 serves it: bars of several symbols, and the latest bar.
//! Alpaca's SDKs reach it at the same base URL (`url_override`) with the same key.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use raptor_app::stock_bars::{self, BarsRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::KeyHolder;
use super::error::{AlpacaError, V2Query};
use super::{AlpacaErrorBody, TAG};
use crate::market::Bar;
use crate::{AppState, Problem};

/// Which bars to answer.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BarsQuery {
    /// Tickers, comma-separated (1 to 100).
    symbols: String,
    /// `1Min`, `5Min`, `15Min`, `1Hour` or `1Day`.
    timeframe: String,
    /// Window start, RFC 3339 or a date (default: the start of `end`'s day, UTC).
    start: Option<String>,
    /// Window end, RFC 3339 or a date (default: now).
    end: Option<String>,
    /// Most bars on the page over all symbols, 1 to 10000 (default 1000).
    limit: Option<i64>,
    /// The previous page's `next_page_token`.
    page_token: Option<String>,
    /// Accepted for Alpaca's clients (`iex`, `sip`, …): the stored bars are answered.
    feed: Option<String>,
    /// `raw` (the default): adjusted bars are not offered.
    adjustment: Option<String>,
    /// `asc` (the default): bars oldest first.
    sort: Option<String>,
    /// `USD` (the default).
    currency: Option<String>,
}

/// A page of bars by symbol.
#[derive(Serialize, ToSchema)]
pub(crate) struct BarsPage {
    /// Each symbol's bars on this page, oldest first.
    bars: BTreeMap<String, Vec<Bar>>,
    /// Pass as `page_token` for the next page; null on the last.
    next_page_token: Option<String>,
}

/// Refuses what Alpaca's API takes but Raptor does not offer.
fn only(field: &'static str, value: Option<&str>, offered: &str) -> Result<(), Problem> {
    match value {
        Some(v) if !v.eq_ignore_ascii_case(offered) => Err(Problem::invalid_field(
            field,
            format!("only {offered} is offered"),
        )),
        _ => Ok(()),
    }
}

/// Bars of several symbols in one window, paged over all of them.
#[utoipa::path(get, path = "/v2/stocks/bars", tag = TAG,
    params(BarsQuery),
    responses(
        (status = 200, description = "A page of bars", body = BarsPage),
        (status = 400, description = "A parameter is malformed", body = AlpacaErrorBody),
        (status = 404, description = "A symbol is not listed", body = AlpacaErrorBody),
        (status = 422, description = "A parameter is not offered", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn bars(
    State(state): State<AppState>,
    _holder: KeyHolder,
    V2Query(q): V2Query<BarsQuery>,
) -> Result<Json<BarsPage>, AlpacaError> {
    only("adjustment", q.adjustment.as_deref(), "raw")?;
    only("sort", q.sort.as_deref(), "asc")?;
    only("currency", q.currency.as_deref(), "USD")?;
    let _ = q.feed;
    let page = stock_bars::bars(
        &state,
        &BarsRequest {
            symbols: q.symbols,
            timeframe: q.timeframe,
            start: q.start,
            end: q.end,
            limit: q.limit,
            page_token: q.page_token,
        },
    )
    .await?;
    Ok(Json(BarsPage {
        bars: page
            .bars
            .into_iter()
            .map(|(symbol, bars)| (symbol, bars.into_iter().map(Bar::from).collect()))
            .collect(),
        next_page_token: page.next_page_token,
    }))
}

/// Which symbols' latest bars to answer.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LatestQuery {
    /// Tickers, comma-separated (1 to 100).
    symbols: String,
    /// Accepted for Alpaca's clients: the stored bars are answered.
    feed: Option<String>,
    /// `USD` (the default).
    currency: Option<String>,
}

/// The latest bar of each symbol.
#[derive(Serialize, ToSchema)]
pub(crate) struct LatestBars {
    /// Each symbol's latest bar; a symbol with none is left out.
    bars: BTreeMap<String, Bar>,
}

/// The latest stored bar of each symbol, of any timeframe.
#[utoipa::path(get, path = "/v2/stocks/bars/latest", tag = TAG,
    params(LatestQuery),
    responses(
        (status = 200, description = "The latest bars", body = LatestBars),
        (status = 400, description = "A parameter is malformed", body = AlpacaErrorBody),
        (status = 404, description = "A symbol is not listed", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn latest(
    State(state): State<AppState>,
    _holder: KeyHolder,
    V2Query(q): V2Query<LatestQuery>,
) -> Result<Json<LatestBars>, AlpacaError> {
    only("currency", q.currency.as_deref(), "USD")?;
    let _ = q.feed;
    let latest = stock_bars::latest(&state, &q.symbols).await?;
    Ok(Json(LatestBars {
        bars: latest
            .into_iter()
            .map(|(symbol, bar)| (symbol, Bar::from(bar)))
            .collect(),
    }))
}
