//! Price history for charts: a symbol's bars over a chart range (its trading sessions) or an
//! explicit window, a page at a time, fetched through when missing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::America::New_York;
use raptor_domain::calendar::{self, Session};
use raptor_domain::timeframe::{Range, Timeframe};
use raptor_domain::InvalidInput;
use raptor_store::market::{self, BarsVersion, StoredBar};
use raptor_store::StoreError;
use sha2::{Digest, Sha256};

use crate::market::{bars_through, is_missing_bars, BarWindow, SETTLE};
use crate::{text, times, App};

/// Longest ticker looked up.
const MAX_SYMBOL: usize = 32;

/// The most bars one page carries; more come with the page token.
pub const MAX_LIMIT: i64 = 10_000;

/// A history request as the client wrote it. Each part is checked in a fixed order (range,
/// timeframe, limit, page token, the symbol, then the window), so the first problem reported
/// does not depend on the front door.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// A chart range (`1d`, `5d`, `1m`, …); default `1d` when no start/end is given.
    pub range: Option<String>,
    /// Bar size; default the range's own, or `1Day` for a window.
    pub timeframe: Option<String>,
    /// Window start (RFC 3339, or a date meaning its midnight UTC); default a day before `end`.
    pub start: Option<String>,
    /// Window end (RFC 3339 or a date); default now.
    pub end: Option<String>,
    /// Bars per page, 1 to [`MAX_LIMIT`].
    pub limit: Option<i64>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
    /// Include pre- and after-market bars.
    pub extended_hours: Option<bool>,
}

/// Why no history was answered.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// A parameter breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// No such listed symbol.
    #[error("unknown symbol {0}")]
    UnknownSymbol(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of history.
#[derive(Debug, Clone)]
pub struct History {
    /// The symbol, normalised.
    pub symbol: String,
    /// Bar size.
    pub timeframe: Timeframe,
    /// The chart range, when one was asked for.
    pub range: Option<Range>,
    /// Window start.
    pub start: DateTime<Utc>,
    /// Window end.
    pub end: DateTime<Utc>,
    /// The bars, oldest first.
    pub bars: Vec<StoredBar>,
    /// Where the next page starts, when there is one.
    pub next_page_token: Option<DateTime<Utc>>,
    /// Whether the page's tag keeps naming this content: true unless the bar source may still
    /// add bars to it without a write to the store in between.
    pub cacheable: bool,
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

/// A history request checked and placed on the store's current state: which page it asks
/// for, and a tag naming that page's content.
#[derive(Debug, Clone)]
pub struct Resolved {
    symbol: String,
    timeframe: Timeframe,
    range: Option<Range>,
    sessions: Option<Vec<Session>>,
    window: BarWindow,
    extended: bool,
    /// Names this page's content: the same tag means the same answer, in every process, until
    /// the symbol's bars are written again (or this server's version changes).
    pub tag: String,
    /// Whether the window ended long enough ago that no more bars are expected in it.
    pub closed: bool,
    /// Whether the request names its window outright (`end` given, no range), so the same
    /// request names the same window later; a range moves with the clock, and a window whose
    /// end defaults to now is a new window each time.
    pub fixed: bool,
    /// Whether the same request names the same window for a while: a range, or a fixed window.
    pub repeatable: bool,
}

/// Checks a request for one page of `symbol`'s history and reads the symbol's bars version:
/// one query. A range answers its trading sessions' bars (intraday bars outside regular hours
/// only with `extended_hours`); an explicit window answers every bar in it.
pub async fn resolve(app: &App, symbol: &str, q: &HistoryQuery) -> Result<Resolved, HistoryError> {
    let symbol = text::single_line("symbol", symbol.trim(), MAX_SYMBOL)?.to_uppercase();
    let range = q
        .range
        .as_deref()
        .map(str::parse::<Range>)
        .transpose()
        .map_err(|e| InvalidInput::new("range", e))?;
    let timeframe = q
        .timeframe
        .as_deref()
        .map(str::parse::<Timeframe>)
        .transpose()
        .map_err(|e| InvalidInput::new("timeframe", e))?;
    let limit = q.limit.unwrap_or(MAX_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(
            InvalidInput::new("limit", format!("must be between 1 and {MAX_LIMIT}")).into(),
        );
    }
    let after = q
        .page_token
        .as_deref()
        .map(|t| times::query_time("page_token", t))
        .transpose()?;
    let extended = q.extended_hours.unwrap_or(false);
    let Some(version) = market::bars_version(&app.db, &symbol).await? else {
        return Err(HistoryError::UnknownSymbol(symbol));
    };
    let now = app.now();
    let (timeframe, start, end, sessions, range) = match (&q.start, &q.end) {
        (None, None) => {
            let range = range.unwrap_or(Range::D1);
            let timeframe = timeframe.unwrap_or(range.default_timeframe());
            let sessions = range_sessions(range, now);
            let (start, end) = window(&sessions, timeframe, extended)
                .ok_or_else(|| InvalidInput::new("range", "no trading sessions found"))?;
            (timeframe, start, end, Some(sessions), Some(range))
        }
        (start, end) => {
            if range.is_some() {
                return Err(
                    InvalidInput::new("range", "give either range or start/end, not both").into(),
                );
            }
            let start = start
                .as_deref()
                .map(|s| times::query_time("start", s))
                .transpose()?
                .unwrap_or(now - Duration::days(1));
            let end = end
                .as_deref()
                .map(|e| times::query_time("end", e))
                .transpose()?
                .unwrap_or(now);
            if start >= end {
                return Err(InvalidInput::new("end", "must be after start").into());
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
    let tag = content_tag(&symbol, version, &window, extended, range);
    Ok(Resolved {
        closed: end <= now - SETTLE,
        fixed: range.is_none() && q.end.is_some(),
        repeatable: range.is_some() || q.end.is_some(),
        symbol,
        timeframe,
        range,
        sessions,
        window,
        extended,
        tag,
    })
}

/// A tag for a page: a digest of everything its content follows from.
fn content_tag(
    symbol: &str,
    version: BarsVersion,
    window: &BarWindow,
    extended: bool,
    range: Option<Range>,
) -> String {
    let key = format!(
        "{}|{symbol}|{}|{}|{}|{}|{}|{:?}|{}|{extended}|{:?}",
        env!("CARGO_PKG_VERSION"),
        version.listing,
        version.version,
        window.timeframe,
        window.start.timestamp_micros(),
        window.end.timestamp_micros(),
        window.after.map(|t| t.timestamp_micros()),
        window.limit,
        range.map(Range::as_str),
    );
    let digest = Sha256::digest(key.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..18])
}

/// Reads the page a resolved request names, fetching missing bars through the bar source.
pub async fn read(app: &App, page: &Resolved) -> Result<History, HistoryError> {
    let window = page.window;
    let mut bars = bars_through(app, &page.symbol, window).await?;
    let cacheable =
        app.bar_source.is_none() || (page.closed && !is_missing_bars(&bars, window, app.now()));
    let limit = window.limit - 1;
    let more = bars.len() as i64 > limit;
    bars.truncate(limit as usize);
    let next_page_token = if more {
        bars.last().map(|b| b.ts)
    } else {
        None
    };
    if let (Some(sessions), false, false) = (
        &page.sessions,
        page.extended,
        page.timeframe == Timeframe::Day1,
    ) {
        bars.retain(|b| sessions.iter().any(|s| s.contains(b.ts, false)));
    }
    Ok(History {
        symbol: page.symbol.clone(),
        timeframe: page.timeframe,
        range: page.range,
        start: window.start,
        end: window.end,
        bars,
        next_page_token,
        cacheable,
    })
}
