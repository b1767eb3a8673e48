//! Market data over HTTP: the symbol catalogue and historical bars, shaped like Alpaca's
//! Market Data v2 (`bars` of `{t,o,h,l,c,v,n,vw}`, oldest first, `next_page_token`).

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::America::New_York;
use raptor_app::market::{self, bars_through, BarWindow};
use raptor_domain::calendar::{self, Session};
use raptor_domain::timeframe::{Range, Timeframe};
use raptor_store::market::StoredBar;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{AppState, Problem};

/// The most bars one answer carries; more come with `page_token`.
const MAX_LIMIT: i64 = 10_000;

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
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(Problem::invalid_field("limit", "must be between 1 and 100"));
    }
    let query = q.query.unwrap_or_default();
    if query.chars().count() > 64 {
        return Err(Problem::invalid_field(
            "query",
            "must be at most 64 characters",
        ));
    }
    let found = market::search_symbols(&state, query.trim(), limit).await?;
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

fn bad(field: &'static str, detail: impl std::fmt::Display) -> Problem {
    let mut problem = Problem::bad_request("invalid_parameter", format!("{field}: {detail}"));
    problem.field = Some(field);
    problem
}

fn timestamp(field: &'static str, raw: &str) -> Result<DateTime<Utc>, Problem> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            bad(
                field,
                "must be an RFC 3339 time such as 2026-11-20T14:30:00Z",
            )
        })
}

fn new_york_midnight(date: NaiveDate) -> DateTime<Utc> {
    New_York
        .from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
        .earliest()
        .map_or_else(
            || date.and_hms_opt(5, 0, 0).unwrap_or_default().and_utc(),
            |t| t.with_timezone(&Utc),
        )
}

/// The trading sessions a range covers, ending with the latest one that has opened.
fn range_sessions(range: Range, now: DateTime<Utc>) -> Vec<Session> {
    let months = match range {
        Range::D1 => return calendar::last_sessions(now, 1),
        Range::D5 => return calendar::last_sessions(now, 5),
        Range::M1 => 1,
        Range::M3 => 3,
        Range::M6 => 6,
        Range::Y1 => 12,
        Range::Y5 => 60,
    };
    let Some(last) = calendar::last_sessions(now, 1).pop() else {
        return Vec::new();
    };
    let first = last
        .date
        .checked_sub_months(Months::new(months))
        .unwrap_or(last.date);
    calendar::sessions_between(first.succ_opt().unwrap_or(first), last.date)
}

/// The window a range means: from the first session's start to the last one's end.
fn window(
    sessions: &[Session],
    timeframe: Timeframe,
    extended: bool,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (first, last) = (sessions.first()?, sessions.last()?);
    Some(if timeframe == Timeframe::Day1 {
        (
            new_york_midnight(first.date),
            new_york_midnight(last.date.succ_opt()?),
        )
    } else if extended {
        (first.extended_open, last.extended_close)
    } else {
        (first.open, last.close)
    })
}

fn bar_json(b: &StoredBar) -> Value {
    json!({ "t": b.ts, "o": b.open, "h": b.high, "l": b.low, "c": b.close, "v": b.volume, "n": b.trade_count, "vw": b.vwap })
}

async fn historical(
    State(state): State<AppState>,
    Path(symbol): Path<String>,
    Query(q): Query<BarsQuery>,
) -> Result<Json<Value>, Problem> {
    let symbol = symbol.trim().to_uppercase();
    let range = q
        .range
        .as_deref()
        .map(str::parse::<Range>)
        .transpose()
        .map_err(|e| bad("range", e))?;
    let timeframe = q
        .timeframe
        .as_deref()
        .map(str::parse::<Timeframe>)
        .transpose()
        .map_err(|e| bad("timeframe", e))?;
    let limit = q.limit.unwrap_or(MAX_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad("limit", format!("must be between 1 and {MAX_LIMIT}")));
    }
    let after = q
        .page_token
        .as_deref()
        .map(|t| timestamp("page_token", t))
        .transpose()?;
    let extended = q.extended_hours.unwrap_or(false);
    if !market::is_listed(&state, &symbol).await? {
        return Err(Problem::not_found(format!("unknown symbol {symbol}")));
    }
    let now = state.now();
    // Explicit start/end: every bar in the window. A range: its trading sessions.
    let (timeframe, start, end, sessions, range_name) = match (&q.start, &q.end) {
        (None, None) => {
            let range = range.unwrap_or(Range::D1);
            let timeframe = timeframe.unwrap_or(range.default_timeframe());
            let sessions = range_sessions(range, now);
            let (start, end) = window(&sessions, timeframe, extended)
                .ok_or_else(|| bad("range", "no trading sessions found"))?;
            (timeframe, start, end, Some(sessions), Some(range.as_str()))
        }
        (start, end) => {
            if range.is_some() {
                return Err(bad("range", "give either range or start/end, not both"));
            }
            let start = start
                .as_deref()
                .map(|s| timestamp("start", s))
                .transpose()?
                .unwrap_or(now - Duration::days(1));
            let end = end
                .as_deref()
                .map(|e| timestamp("end", e))
                .transpose()?
                .unwrap_or(now);
            if start >= end {
                return Err(bad("end", "must be after start"));
            }
            (timeframe.unwrap_or(Timeframe::Day1), start, end, None, None)
        }
    };
    let window = BarWindow {
        timeframe,
        start,
        end,
        after,
        limit: limit + 1,
    };
    let mut bars = bars_through(&state, &symbol, window).await?;
    let more = bars.len() as i64 > limit;
    bars.truncate(limit as usize);
    let next_page_token = if more {
        bars.last().map(|b| b.ts)
    } else {
        None
    };
    if let (Some(sessions), false, false) = (&sessions, extended, timeframe == Timeframe::Day1) {
        bars.retain(|b| sessions.iter().any(|s| s.contains(b.ts, false)));
    }
    Ok(Json(json!({
        "symbol": symbol,
        "timeframe": timeframe.as_str(),
        "range": range_name,
        "start": start,
        "end": end,
        "bars": bars.iter().map(bar_json).collect::<Vec<_>>(),
        "next_page_token": next_page_token,
    })))
}
