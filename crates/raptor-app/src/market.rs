//! Market data: the bar-source port, reading bars through the store with cache-through
//! fetching, and writing bars (which lets resting orders fill against them).

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use raptor_domain::timeframe::Timeframe;
use raptor_store::market::{self, StoredBar};
use raptor_store::StoreError;

use raptor_domain::InvalidInput;

use crate::text;
use crate::trading::{self, Matched};
use crate::App;

/// Where bars come from when they are not stored yet (Alpaca; a fake in tests).
pub trait BarSource: Send + Sync + std::fmt::Debug {
    /// Fetches the bars of `symbol` in `[start, end)`, oldest first.
    fn fetch<'a>(
        &'a self,
        symbol: &'a str,
        timeframe: Timeframe,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<StoredBar>, String>> + Send + 'a>>;
}

/// Which stored bars to read: `[start, end)`, after a page token, at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct BarWindow {
    /// Bar size.
    pub timeframe: Timeframe,
    /// First bar start (inclusive).
    pub start: DateTime<Utc>,
    /// End of the window (exclusive).
    pub end: DateTime<Utc>,
    /// Only bars after this one (a page token).
    pub after: Option<DateTime<Utc>>,
    /// Most bars to return.
    pub limit: i64,
}

/// The stored bars of `symbol` in a window. When none are stored and this is the first page,
/// the app's bar source (if any) is asked, what it returns is stored, and the store answers:
/// cache-through. A failing source is logged and the (empty) stored answer stands.
pub async fn bars_through(
    app: &App,
    symbol: &str,
    window: BarWindow,
) -> Result<Vec<StoredBar>, StoreError> {
    let read = || {
        market::bars(
            &app.db,
            symbol,
            window.timeframe,
            window.start,
            window.end,
            window.after,
            window.limit,
        )
    };
    let bars = read().await?;
    let Some(source) = app.bar_source.as_deref() else {
        return Ok(bars);
    };
    if !bars.is_empty() || window.after.is_some() {
        return Ok(bars);
    }
    let end = window.end.min(app.now());
    match source
        .fetch(symbol, window.timeframe, window.start, end)
        .await
    {
        Ok(fetched) if !fetched.is_empty() => {
            store_bars(app, symbol, window.timeframe, &fetched).await?;
            read().await
        }
        Ok(_) => Ok(bars),
        Err(err) => {
            tracing::warn!(%err, symbol, "fetching missing bars failed; answering from the store");
            Ok(bars)
        }
    }
}

/// Writes bars in one transaction (re-writing a bar replaces it); the number written.
pub async fn store_bars(
    app: &App,
    symbol: &str,
    timeframe: Timeframe,
    bars: &[StoredBar],
) -> Result<u64, StoreError> {
    let mut tx = app.db.begin().await?;
    let written = market::upsert_bars(&mut tx, symbol, timeframe, bars).await?;
    tx.commit().await?;
    Ok(written)
}

/// Longest symbol search.
const MAX_QUERY: usize = 64;

/// Listed symbols matching `query` (ticker prefix first, then names), at most `limit` (1 to
/// 100).
pub async fn search_symbols(
    app: &App,
    query: &str,
    limit: i64,
) -> Result<Vec<market::Symbol>, SearchError> {
    if !(1..=100).contains(&limit) {
        return Err(InvalidInput::new("limit", "must be between 1 and 100").into());
    }
    let query = text::single_line("query", query, MAX_QUERY)?;
    Ok(market::search_symbols(&app.db, query.trim(), limit).await?)
}

/// Why a symbol search was refused.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// A parameter breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `symbol` is in the catalogue.
pub async fn is_listed(app: &App, symbol: &str) -> Result<bool, StoreError> {
    Ok(market::symbol(&app.db, symbol).await?.is_some())
}

/// Refuses a symbol that is not in the catalogue.
pub async fn require_listed(app: &App, symbol: &str) -> Result<(), BarsError> {
    if is_listed(app, symbol).await? {
        Ok(())
    } else {
        Err(BarsError::UnknownSymbol(symbol.to_owned()))
    }
}

/// Writes rows of several symbols in one transaction (all or none); the symbols written.
pub async fn store_batch(
    app: &App,
    timeframe: Timeframe,
    rows: &mut [(String, StoredBar)],
) -> Result<Vec<String>, StoreError> {
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut symbols = Vec::new();
    let mut tx = app.db.begin().await?;
    for group in rows.chunk_by(|a, b| a.0 == b.0) {
        let bars: Vec<StoredBar> = group.iter().map(|(_, b)| b.clone()).collect();
        market::upsert_bars(&mut tx, &group[0].0, timeframe, &bars).await?;
        symbols.push(group[0].0.clone());
    }
    tx.commit().await?;
    Ok(symbols)
}

/// Lets the trading engine fill resting orders on `symbols` against what was just written.
pub async fn match_symbols(
    app: &App,
    symbols: impl IntoIterator<Item = String>,
) -> Result<Vec<(String, Matched)>, StoreError> {
    let mut out = Vec::new();
    for symbol in symbols {
        let matched = trading::match_symbol(app, &symbol).await?;
        out.push((symbol, matched));
    }
    Ok(out)
}

/// What [`fetch_bars`] did.
#[derive(Debug, Clone, Copy)]
pub struct Fetched {
    /// Bars the source returned.
    pub fetched: usize,
    /// Rows written.
    pub written: u64,
    /// What matching resting orders against them did.
    pub matched: Matched,
}

/// Fetches the bars of a listed symbol from the app's bar source and stores them, then
/// matches the symbol's resting orders against them.
pub async fn fetch_bars(
    app: &App,
    symbol: &str,
    timeframe: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Fetched, BarsError> {
    require_listed(app, symbol).await?;
    let source = app.bar_source.as_deref().ok_or(BarsError::NoSource)?;
    let bars = source
        .fetch(symbol, timeframe, start, end)
        .await
        .map_err(BarsError::Source)?;
    let written = store_bars(app, symbol, timeframe, &bars).await?;
    let matched = trading::match_symbol(app, symbol).await?;
    Ok(Fetched {
        fetched: bars.len(),
        written,
        matched,
    })
}

/// Why bars could not be fetched or written.
#[derive(Debug, thiserror::Error)]
pub enum BarsError {
    /// No such listed symbol.
    #[error("{0} is not a listed symbol")]
    UnknownSymbol(String),
    /// The app has no bar source configured.
    #[error("no bar source is configured")]
    NoSource,
    /// The source refused or could not be reached (its own words).
    #[error("{0}")]
    Source(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
