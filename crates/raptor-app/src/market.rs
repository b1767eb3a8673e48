//! Market data: the bar-source port, reading bars through the store with cache-through
//! fetching, and writing bars (which lets resting orders fill against them).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use raptor_domain::timeframe::Timeframe;
use raptor_store::market::{self, StoredBar, Symbol};
use raptor_store::StoreError;

use raptor_domain::InvalidInput;

use crate::text;
use crate::trading::{self, Matched};
use crate::App;

/// Where bars come from when they are not stored yet (Alpaca; a fake in tests).
pub trait BarSource: Send + Sync + std::fmt::Debug {
    /// Fetches the first `limit` bars of `symbol` in `[start, end)`, oldest first, holding no
    /// more than those (and one page of the wire) in memory.
    fn fetch<'a>(
        &'a self,
        symbol: &'a str,
        timeframe: Timeframe,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<StoredBar>, String>> + Send + 'a>>;

    /// How far behind now the source's data stays (a plan's delay); zero by default.
    fn delay(&self) -> Duration {
        Duration::zero()
    }
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

/// How long after a window ends before an empty answer for it is remembered: late bars and
/// corrections can still arrive for a window this recent (on top of the source's delay).
pub const SETTLE: Duration = Duration::hours(1);

/// Bars fetched per source call when an operator fetches a whole range.
const FETCH_CHUNK: usize = 10_000;

/// The stored bars of `symbol` in a window, fetched through from the app's bar source when
/// the store is missing them: the first page when nothing is stored, or the rest of a later
/// page the store cannot fill. The source is asked for at most the bars the page still needs,
/// so a wide window costs one bounded fetch; what it returns is stored and the store answers.
/// A closed past window the source answered empty is recorded and not asked again (until bars
/// are written into it). Requests in this process for the same missing window take turns,
/// so concurrent ones cost one source call. A failing source is logged and the stored answer
/// stands.
pub async fn bars_through(
    app: &App,
    symbol: &str,
    window: BarWindow,
) -> Result<Vec<StoredBar>, StoreError> {
    let bars = read(app, symbol, window).await?;
    let Some(source) = app.bar_source.as_deref() else {
        return Ok(bars);
    };
    let end = window.end.min(app.now());
    if missing_from(&bars, window, end).is_none() {
        return Ok(bars);
    }
    let turn = Turn::take(symbol, window, end);
    let _held = turn.slot.lock().await;
    // Another request may have filled the window, or found it empty, while this one waited.
    let bars = read(app, symbol, window).await?;
    let Some(gap_start) = missing_from(&bars, window, end) else {
        return Ok(bars);
    };
    if market::is_known_empty(&app.db, symbol, window.timeframe, gap_start, end).await? {
        return Ok(bars);
    }
    let wanted = usize::try_from(window.limit)
        .unwrap_or(0)
        .saturating_sub(bars.len());
    match source
        .fetch(symbol, window.timeframe, gap_start, end, wanted)
        .await
    {
        Ok(fetched) if !fetched.is_empty() => {
            store_bars(app, symbol, window.timeframe, &fetched).await?;
            read(app, symbol, window).await
        }
        Ok(_) => {
            let now = app.now();
            if end <= now - source.delay() - SETTLE {
                market::record_empty_range(&app.db, symbol, window.timeframe, gap_start, end, now)
                    .await?;
            }
            Ok(bars)
        }
        Err(err) => {
            tracing::warn!(%err, symbol, "fetching missing bars failed; answering from the store");
            Ok(bars)
        }
    }
}

/// The stored bars of a window.
async fn read(app: &App, symbol: &str, window: BarWindow) -> Result<Vec<StoredBar>, StoreError> {
    market::bars(
        &app.db,
        symbol,
        window.timeframe,
        window.start,
        window.end,
        window.after,
        window.limit,
    )
    .await
}

/// Where the source should start filling a page the store answered with `bars`, if anywhere:
/// the window's start for an empty first page, just after the last bar (or the page token) for
/// a later page short of its limit. A first page with some bars stored is taken as complete.
fn missing_from(
    bars: &[StoredBar],
    window: BarWindow,
    end: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let start = match window.after {
        None if bars.is_empty() => window.start,
        Some(after) if (bars.len() as i64) < window.limit => {
            bars.last().map_or(after, |b| b.ts) + Duration::seconds(1)
        }
        _ => return None,
    };
    (start < end).then_some(start)
}

/// Whether [`bars_through`] would still ask the bar source for bars missing from `bars`
/// (what it read for `window`) at `now`.
pub fn is_missing_bars(bars: &[StoredBar], window: BarWindow, now: DateTime<Utc>) -> bool {
    missing_from(bars, window, window.end.min(now)).is_some()
}

/// Requests for the same missing window, in this process, waiting their turn to fill it.
static TURNS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

/// One request's place in line for a window; leaving the line drops the window's entry when
/// no one else is in it.
struct Turn {
    key: String,
    slot: Arc<tokio::sync::Mutex<()>>,
}

impl Turn {
    fn take(symbol: &str, window: BarWindow, end: DateTime<Utc>) -> Self {
        let key = format!(
            "{symbol}|{}|{}|{:?}|{end}",
            window.timeframe, window.start, window.after
        );
        let mut turns = TURNS.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = turns.entry(key.clone()).or_default().clone();
        Self { key, slot }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut turns = TURNS.lock().unwrap_or_else(PoisonError::into_inner);
        // The map's handle and this one: nobody else is waiting.
        if Arc::strong_count(&self.slot) <= 2 {
            turns.remove(&self.key);
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

/// Every listed symbol, by ticker.
pub async fn listed(app: &App) -> Result<Vec<Symbol>, StoreError> {
    market::listed_symbols(&app.db).await
}

/// A listed symbol by ticker (upper-case).
pub async fn listed_symbol(app: &App, ticker: &str) -> Result<Option<Symbol>, StoreError> {
    market::symbol(&app.db, ticker).await
}

/// A listed symbol by row id.
pub async fn listed_by_id(app: &App, id: i64) -> Result<Option<Symbol>, StoreError> {
    market::symbol_by_id(&app.db, id).await
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

/// Fetches the bars of a listed symbol from the app's bar source and stores them, a chunk at
/// a time (so a wide range never sits in memory whole), then matches the symbol's resting
/// orders against them.
pub async fn fetch_bars(
    app: &App,
    symbol: &str,
    timeframe: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Fetched, BarsError> {
    require_listed(app, symbol).await?;
    let source = app.bar_source.as_deref().ok_or(BarsError::NoSource)?;
    let (mut fetched, mut written) = (0, 0);
    let mut from = start;
    while from < end {
        let bars = source
            .fetch(symbol, timeframe, from, end, FETCH_CHUNK)
            .await
            .map_err(BarsError::Source)?;
        fetched += bars.len();
        written += store_bars(app, symbol, timeframe, &bars).await?;
        match bars.last() {
            Some(last) if bars.len() >= FETCH_CHUNK => from = last.ts + Duration::seconds(1),
            _ => break,
        }
    }
    let matched = trading::match_symbol(app, symbol).await?;
    Ok(Fetched {
        fetched,
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
