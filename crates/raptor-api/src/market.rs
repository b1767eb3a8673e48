//! Market data over HTTP: the symbol catalogue and historical bars, shaped like Alpaca's
//! Market Data v2 (`bars` of `{t,o,h,l,c,v,n,vw}`, oldest first, `next_page_token`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::history::{self, History, HistoryError, HistoryQuery};
use raptor_app::market::{self, SearchError};
use raptor_domain::timeframe::Range;
use raptor_store::market::{StoredBar, Symbol};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiPath, ApiQuery};
use crate::{page_cache, AppState, Problem};

const TAG: &str = "market data";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(symbols))
        .routes(routes!(historical))
}

/// Which symbols to list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SymbolQuery {
    /// Matches the start of a ticker or any part of a name; empty lists everything.
    query: Option<String>,
    /// At most this many (1–100, default 20).
    limit: Option<i64>,
}

/// A tradable instrument.
#[derive(Serialize, ToSchema)]
struct SymbolInfo {
    /// Ticker, e.g. `AAPL`.
    symbol: String,
    /// Company or fund name.
    name: String,
    /// Listing exchange.
    exchange: String,
    /// `us_equity`, `us_option` or `crypto`.
    class: String,
    /// Whether paper orders may be placed.
    tradable: bool,
    /// Whether fractional quantities are allowed.
    fractionable: bool,
}

impl From<Symbol> for SymbolInfo {
    fn from(s: Symbol) -> Self {
        Self {
            symbol: s.ticker,
            name: s.name,
            exchange: s.exchange,
            class: s.asset_class,
            tradable: s.tradable,
            fractionable: s.fractionable,
        }
    }
}

/// Symbols matching a search.
#[derive(Serialize, ToSchema)]
struct SymbolList {
    /// Best matches first.
    symbols: Vec<SymbolInfo>,
}

/// Searches the symbol catalogue.
#[utoipa::path(get, path = "/api/symbols", tag = TAG, params(SymbolQuery),
    responses((status = 200, description = "Matching symbols", body = SymbolList)))]
async fn symbols(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SymbolQuery>,
) -> Result<Json<SymbolList>, Problem> {
    let query = q.query.unwrap_or_default();
    let found = market::search_symbols(&state, &query, q.limit.unwrap_or(20))
        .await
        .map_err(|err| match err {
            SearchError::Invalid(input) => Problem::invalid(input),
            SearchError::Store(err) => err.into(),
        })?;
    Ok(Json(SymbolList {
        symbols: found.into_iter().map(SymbolInfo::from).collect(),
    }))
}

/// Which bars to read.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct BarsQuery {
    /// A preset window ending now (`1d`, `5d`, `1m`, `3m`, `6m`, `1y` or `5y`, in any case);
    /// instead of `start`/`end`.
    range: Option<String>,
    /// Bar size (`1Min`, `5Min`, `15Min`, `1Hour` or `1Day`).
    timeframe: Option<String>,
    /// First bar time, RFC 3339 or a date (its midnight UTC).
    start: Option<String>,
    /// Last bar time, RFC 3339 or a date.
    end: Option<String>,
    /// Bars per page (1–10000).
    limit: Option<i64>,
    /// The `next_page_token` of the previous page.
    page_token: Option<String>,
    /// Include pre- and after-market bars (intraday timeframes).
    extended_hours: Option<bool>,
}

/// The ticker in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct SymbolPath {
    /// Ticker, e.g. `AAPL`.
    symbol: String,
}

impl From<HistoryError> for Problem {
    fn from(err: HistoryError) -> Self {
        match err {
            HistoryError::Invalid(input) => Problem::invalid_parameter(input),
            HistoryError::UnknownSymbol(_) => Problem::not_found(err.to_string()),
            HistoryError::Store(err) => err.into(),
        }
    }
}

/// One bar, in Alpaca's short field names.
#[derive(Serialize, ToSchema)]
pub(crate) struct Bar {
    /// Bar start, UTC.
    t: DateTime<Utc>,
    /// Open.
    o: f64,
    /// High.
    h: f64,
    /// Low.
    l: f64,
    /// Close.
    c: f64,
    /// Volume.
    v: f64,
    /// Number of trades, when known.
    n: Option<i64>,
    /// Volume-weighted average price, when known.
    vw: Option<f64>,
}

impl From<StoredBar> for Bar {
    fn from(b: StoredBar) -> Self {
        Self {
            t: b.ts,
            o: b.open,
            h: b.high,
            l: b.low,
            c: b.close,
            v: b.volume,
            n: b.trade_count,
            vw: b.vwap,
        }
    }
}

/// A page of bars, oldest first.
#[derive(Serialize, ToSchema)]
struct BarPage {
    /// Ticker.
    symbol: String,
    /// Bar size.
    timeframe: String,
    /// The preset window asked for, if any.
    range: Option<String>,
    /// Start of the window read.
    start: DateTime<Utc>,
    /// End of the window read.
    end: DateTime<Utc>,
    /// The bars.
    bars: Vec<Bar>,
    /// Pass as `page_token` for the next page; null on the last.
    next_page_token: Option<DateTime<Utc>>,
}

/// How long a client or shared cache may reuse a page of a closed window unasked.
const CLOSED_MAX_AGE: &str = "public, max-age=300";

/// Historical bars of one symbol.
///
/// A page carries an `ETag` naming its content, the same from every server until the symbol's
/// bars are written again: `If-None-Match` with it answers 304. Pages of a window that closed
/// over an hour ago, asked for by `start` and `end`, may be reused for five minutes
/// (`Cache-Control`); others, ranges included, must be revalidated.
#[utoipa::path(get, path = "/api/historical-data/{symbol}", tag = TAG,
    params(SymbolPath, BarsQuery,
        ("If-None-Match" = Option<String>, Header,
            description = "The `ETag` of a page the client holds: 304 while it is current")),
    responses(
        (status = 200, description = "A page of bars", body = BarPage,
            headers(("ETag" = String, description = "Names this page's content"),
                     ("Cache-Control" = String, description = "How long it may be reused"))),
        (status = 304, description = "The page named by If-None-Match is current"),
    ))]
async fn historical(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<SymbolPath>,
    ApiQuery(q): ApiQuery<BarsQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let query = HistoryQuery {
        range: q.range,
        timeframe: q.timeframe,
        start: q.start,
        end: q.end,
        limit: q.limit,
        page_token: q.page_token,
        extended_hours: q.extended_hours,
    };
    let page = history::resolve(&state, &path.symbol, &query).await?;
    let etag = format!("\"{}\"", page.tag);
    let caching = [
        (header::ETAG, etag.clone()),
        (
            header::CACHE_CONTROL,
            // A range moves with the clock (`1d` turns to the next session when it opens), so
            // only a fixed window that has closed may be reused unasked.
            if page.closed && page.fixed {
                CLOSED_MAX_AGE
            } else {
                "public, no-cache"
            }
            .to_owned(),
        ),
    ];
    let kept = state.bar_pages.get(&page.tag);
    // Without a bar source a page is the store's alone, so its tag holds before reading it.
    if kept.is_some() || state.bar_source.is_none() {
        let asked = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok());
        if asked.is_some_and(|asked| page_cache::none_match_names(asked, &etag)) {
            return Ok((StatusCode::NOT_MODIFIED, caching).into_response());
        }
    }
    if let Some(body) = kept {
        return Ok((caching, json_body(body)).into_response());
    }
    let read = history::read(&state, &page).await?;
    let cacheable = read.cacheable;
    let body =
        Bytes::from(serde_json::to_vec(&BarPage::from(read)).map_err(|e| Problem::internal(&e))?);
    if cacheable {
        if page.repeatable {
            state.bar_pages.put(&page.tag, body.clone());
        }
        Ok((caching, json_body(body)).into_response())
    } else {
        Ok(json_body(body).into_response())
    }
}

fn json_body(body: Bytes) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], body)
}

impl From<History> for BarPage {
    fn from(page: History) -> Self {
        Self {
            symbol: page.symbol,
            timeframe: page.timeframe.as_str().to_owned(),
            range: page.range.map(|r| Range::as_str(r).to_owned()),
            start: page.start,
            end: page.end,
            bars: page.bars.into_iter().map(Bar::from).collect(),
            next_page_token: page.next_page_token,
        }
    }
}
