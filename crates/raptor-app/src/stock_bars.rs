//! Bars of several symbols in one window, paged across symbols, as Alpaca's market data API
//! serves them (`/v2/stocks/bars`). Each symbol's bars come from the store, through the bar
//! source when one is configured, exactly as a single symbol's history does.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use raptor_domain::{InvalidInput, Timeframe};
use raptor_store::market::StoredBar;

use crate::history::{HistoryError, MAX_LIMIT};
use crate::market::{self, BarWindow};
use crate::{text, times, App};

/// Most symbols one request names.
pub const MAX_SYMBOLS: usize = 100;
/// Bars per page when the client names no limit, as Alpaca's default.
const DEFAULT_LIMIT: i64 = 1_000;

/// A request as the client wrote it.
#[derive(Debug, Clone, Default)]
pub struct BarsRequest {
    /// Tickers, comma-separated, any case.
    pub symbols: String,
    /// Bar size (`1Min`, `5Min`, `15Min`, `1Hour`, `1Day`).
    pub timeframe: String,
    /// Window start, RFC 3339 or a date (default: the start of today, UTC).
    pub start: Option<String>,
    /// Window end, RFC 3339 or a date (default: now).
    pub end: Option<String>,
    /// Most bars on the page, over all symbols (1 to 10000, default 1000).
    pub limit: Option<i64>,
    /// The `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// One page: each symbol's bars, oldest first, symbols by ticker.
#[derive(Debug, Clone, Default)]
pub struct BarsPage {
    /// Symbols that have bars on this page, with them.
    pub bars: Vec<(String, Vec<StoredBar>)>,
    /// Where the next page starts, when there may be one.
    pub next_page_token: Option<String>,
}

/// A page token: the symbol and the start of the last bar answered of it.
fn token(symbol: &str, last: DateTime<Utc>) -> String {
    URL_SAFE_NO_PAD.encode(format!("{symbol} {}", last.to_rfc3339()))
}

fn read_token(raw: &str) -> Result<(String, DateTime<Utc>), InvalidInput> {
    let bad = || InvalidInput::new("page_token", "is not a token this API gave out");
    let text = URL_SAFE_NO_PAD
        .decode(raw.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let (symbol, at) = text.split_once(' ').ok_or_else(bad)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| bad())?;
    let at = times::storable("page_token", at.with_timezone(&Utc)).map_err(|_| bad())?;
    Ok((symbol.to_owned(), at))
}

/// One page of bars of several symbols. Symbols are answered in ticker order; `limit` counts
/// bars over all of them, and the page token names where the next page resumes.
pub async fn bars(app: &App, req: &BarsRequest) -> Result<BarsPage, HistoryError> {
    let symbols = symbol_list(&req.symbols)?;
    let timeframe: Timeframe = req
        .timeframe
        .parse()
        .map_err(|e| InvalidInput::new("timeframe", e))?;
    let limit = req.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(
            InvalidInput::new("limit", format!("must be between 1 and {MAX_LIMIT}")).into(),
        );
    }
    let now = app.now();
    let end = req
        .end
        .as_deref()
        .map(|e| times::query_time("end", e))
        .transpose()?
        .unwrap_or(now);
    let start = match req.start.as_deref() {
        Some(s) => times::query_time("start", s)?,
        None => times::query_time("start", &end.format("%Y-%m-%d").to_string())?,
    };
    if start >= end {
        return Err(InvalidInput::new("start", "must be before end").into());
    }
    if end - start > Duration::days(366 * 30) {
        return Err(InvalidInput::new("start", "the window may span at most 30 years").into());
    }
    let resume = req.page_token.as_deref().map(read_token).transpose()?;
    require_listed(app, &symbols).await?;
    let mut page = BarsPage::default();
    let mut left = limit;
    for symbol in symbols {
        let after = match &resume {
            Some((from, _)) if symbol < *from => continue,
            Some((from, at)) if symbol == *from => Some(*at),
            _ => None,
        };
        let window = BarWindow {
            timeframe,
            start,
            end,
            after,
            limit: left,
        };
        let bars = market::bars_through(app, &symbol, window).await?;
        left -= bars.len() as i64;
        let full = left == 0;
        if full {
            page.next_page_token = bars.last().map(|b| token(&symbol, b.ts));
        }
        if !bars.is_empty() {
            page.bars.push((symbol, bars));
        }
        if full {
            break;
        }
    }
    Ok(page)
}

/// Tickers from a comma-separated list, upper-cased, sorted, without repeats: 1 to
/// [`MAX_SYMBOLS`] of them.
fn symbol_list(symbols: &str) -> Result<Vec<String>, InvalidInput> {
    let mut list = Vec::new();
    for raw in symbols.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        list.push(text::single_line("symbols", raw, 32)?.to_uppercase());
    }
    list.sort();
    list.dedup();
    if list.is_empty() || list.len() > MAX_SYMBOLS {
        return Err(InvalidInput::new(
            "symbols",
            "name 1 to 100 symbols, comma-separated",
        ));
    }
    Ok(list)
}

/// Refuses a symbol that is not listed.
async fn require_listed(app: &App, symbols: &[String]) -> Result<(), HistoryError> {
    for symbol in symbols {
        if !market::is_listed(app, symbol).await? {
            return Err(HistoryError::UnknownSymbol(symbol.clone()));
        }
    }
    Ok(())
}

/// The latest bar of each of `symbols` (comma-separated) that has one.
pub async fn latest(app: &App, symbols: &str) -> Result<Vec<(String, StoredBar)>, HistoryError> {
    let symbols = symbol_list(symbols)?;
    require_listed(app, &symbols).await?;
    let mut answer = Vec::new();
    for symbol in symbols {
        if let Some(bar) = raptor_store::market::latest_bar(&app.db, &symbol).await? {
            answer.push((symbol, bar));
        }
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_read_back_and_garbage_is_refused() {
        let at = times::query_time("t", "2026-11-20T14:30:00+00:00").expect("time");
        assert_eq!(
            read_token(&token("AAPL", at)).expect("token"),
            ("AAPL".to_owned(), at)
        );
        assert!(read_token("not a token").is_err());
        assert!(read_token(&URL_SAFE_NO_PAD.encode("AAPL yesterday")).is_err());
        // 10000-01-01 in UTC: SQLite would compare it as text, before every bar.
        let late = URL_SAFE_NO_PAD.encode("AAPL 9999-12-31T23:00:00-01:00");
        assert!(read_token(&late).is_err());
        assert_eq!(
            times::query_time("t", "2026-11-20").expect("date"),
            times::query_time("t", "2026-11-20T00:00:00Z").expect("t")
        );
        assert_eq!(
            times::query_time("t", "2026-11-20T09:30:00 00:00").expect("a + read as a space"),
            times::query_time("t", "2026-11-20T09:30:00Z").expect("t")
        );
    }
}
