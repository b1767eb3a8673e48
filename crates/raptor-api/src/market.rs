//! Market data over HTTP: the symbol catalogue and historical bars, shaped like Alpaca's
//! Market Data v2 (`bars` of `{t,o,h,l,c,v,n,vw}`, oldest first, `next_page_token`).

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use raptor_app::history::{self, HistoryError, HistoryQuery};
use raptor_app::market::{self, SearchError};
use raptor_domain::timeframe::Range;
use raptor_domain::InvalidInput;
use raptor_store::market::StoredBar;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{AppState, Problem};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/symbols", get(symbols))
        .route("/api/historical-data/{symbol}", get(historical))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SymbolQuery {
    query: Option<String>,
    limit: Option<i64>,
}

async fn symbols(
    State(state): State<AppState>,
    Query(q): Query<SymbolQuery>,
) -> Result<Json<Value>, Problem> {
    let query = q.query.unwrap_or_default();
    let found = market::search_symbols(&state, &query, q.limit.unwrap_or(20))
        .await
        .map_err(|err| match err {
            SearchError::Invalid(input) => Problem::invalid(input),
            SearchError::Store(err) => err.into(),
        })?;
    let symbols: Vec<Value> = found
        .iter()
        .map(|s| {
            json!({
                "symbol": s.ticker, "name": s.name, "exchange": s.exchange, "class": s.asset_class,
                "tradable": s.tradable, "fractionable": s.fractionable,
            })
        })
        .collect();
    Ok(Json(json!({ "symbols": symbols })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BarsQuery {
    range: Option<String>,
    timeframe: Option<String>,
    start: Option<String>,
    end: Option<String>,
    limit: Option<i64>,
    page_token: Option<String>,
    extended_hours: Option<bool>,
}

/// 400 naming the query parameter at fault.
fn bad(input: InvalidInput) -> Problem {
    let mut problem = Problem::bad_request("invalid_parameter", input.to_string());
    problem.field = Some(input.field);
    problem
}

impl From<HistoryError> for Problem {
    fn from(err: HistoryError) -> Self {
        match err {
            HistoryError::Invalid(input) => bad(input),
            HistoryError::UnknownSymbol(_) => Problem::not_found(err.to_string()),
            HistoryError::Store(err) => err.into(),
        }
    }
}

fn bar_json(b: &StoredBar) -> Value {
    json!({ "t": b.ts, "o": b.open, "h": b.high, "l": b.low, "c": b.close, "v": b.volume, "n": b.trade_count, "vw": b.vwap })
}

async fn historical(
    State(state): State<AppState>,
    Path(symbol): Path<String>,
    Query(q): Query<BarsQuery>,
) -> Result<Json<Value>, Problem> {
    let query = HistoryQuery {
        range: q.range,
        timeframe: q.timeframe,
        start: q.start,
        end: q.end,
        limit: q.limit,
        page_token: q.page_token,
        extended_hours: q.extended_hours,
    };
    let page = history::history(&state, &symbol, &query).await?;
    Ok(Json(json!({
        "symbol": page.symbol,
        "timeframe": page.timeframe.as_str(),
        "range": page.range.map(Range::as_str),
        "start": page.start,
        "end": page.end,
        "bars": page.bars.iter().map(bar_json).collect::<Vec<_>>(),
        "next_page_token": page.next_page_token,
    })))
}
