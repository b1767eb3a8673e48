//! The symbol catalogue and historical bars: the one repository every bar reader and writer
//! uses, so re-fetching or re-importing never duplicates a bar.

use std::sync::{Arc, LazyLock, OnceLock};

use chrono::{DateTime, Utc};
use raptor_domain::backtest::Bar;
use raptor_domain::timeframe::Timeframe;

use crate::dialect::bar_reads::{self, BarQuery, EngineSql};
use crate::dialect::{bulk, symbol_reads};
use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// A listed symbol.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Symbol {
    /// Row id (a symbol listed again is a new row).
    pub id: i64,
    /// Ticker, e.g. `AAPL`.
    pub ticker: String,
    /// Company or fund name.
    pub name: String,
    /// Listing exchange.
    pub exchange: String,
    /// `us_equity`, `us_option` or `crypto`.
    pub asset_class: String,
    /// Whether paper orders may be placed.
    pub tradable: bool,
    /// Whether fractional quantities are allowed.
    pub fractionable: bool,
    /// Its bars' version when read (see [`BarsVersion`]).
    pub bars_version: i64,
}

/// A [`Symbol`]'s columns in the order of its fields, as [`symbol_reads::symbol`] reads them.
const SYMBOL_COLUMNS: &str =
    "id, ticker, name, exchange, asset_class, tradable, fractionable, bars_version";

/// One symbol by ticker (exact, upper-case). Read for every order.
pub async fn symbol(db: &Db, ticker: &str) -> Result<Option<Symbol>, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!("SELECT {SYMBOL_COLUMNS} FROM symbols WHERE ticker = $1 AND status = 'active'")
    });
    symbol_reads::symbol(db, &SQL, ticker).await
}

/// One listed symbol by row id.
pub async fn symbol_by_id(db: &Db, id: i64) -> Result<Option<Symbol>, StoreError> {
    let sql = format!("SELECT {SYMBOL_COLUMNS} FROM symbols WHERE id = $1 AND status = 'active'");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?))
}

/// Every listed (active) symbol, by ticker.
pub async fn listed_symbols(db: &Db) -> Result<Vec<Symbol>, StoreError> {
    let sql =
        format!("SELECT {SYMBOL_COLUMNS} FROM symbols WHERE status = 'active' ORDER BY ticker");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await?))
}

/// A symbol as a listing source (Alpaca's asset list) describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Ticker, upper-case.
    pub ticker: String,
    /// Company or fund name.
    pub name: String,
    /// Listing exchange.
    pub exchange: String,
    /// `us_equity`, `us_option` or `crypto`.
    pub asset_class: String,
    /// Whether it is still listed.
    pub active: bool,
    /// Whether paper orders may be placed.
    pub tradable: bool,
    /// Whether fractional quantities are allowed.
    pub fractionable: bool,
    /// The source's id for it.
    pub vendor_asset_id: String,
}

/// What [`upsert_listings`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListingChanges {
    /// Tickers not in the catalogue before.
    pub added: u64,
    /// Tickers whose name, exchange, class, status or flags changed.
    pub updated: u64,
}

/// Rows per statement: 11 binds each stays well under both dialects' limits.
const LISTINGS_PER_STATEMENT: usize = 500;

/// Adds listings to the catalogue and brings the ones it has up to date, by ticker, in one
/// transaction. A listed symbol keeps its row, so its id and bars stay its own.
pub async fn upsert_listings(
    db: &Db,
    listings: &[Listing],
    now: DateTime<Utc>,
) -> Result<ListingChanges, StoreError> {
    let count = "SELECT count(*) FROM symbols";
    let mut tx = db.begin().await?;
    let before: i64 = on_tx!(tx, t => sqlx::query_scalar(count).fetch_one(&mut **t).await?);
    let mut changed = 0;
    for chunk in listings.chunks(LISTINGS_PER_STATEMENT) {
        changed += on_tx!(tx, t => {
            let mut insert = sqlx::QueryBuilder::new(
                // A new row's bars version starts at its time, as a version moved then would:
                // never one a process may have kept for a row of that ticker before.
                "INSERT INTO symbols (ticker, name, exchange, asset_class, status, tradable, \
                 fractionable, vendor_asset_id, bars_version, created_at, updated_at) ",
            );
            insert.push_values(chunk, |mut row, l| {
                row.push_bind(&l.ticker)
                    .push_bind(&l.name)
                    .push_bind(&l.exchange)
                    .push_bind(&l.asset_class)
                    .push_bind(if l.active { "active" } else { "inactive" })
                    .push_bind(l.tradable)
                    .push_bind(l.fractionable)
                    .push_bind(&l.vendor_asset_id)
                    .push_bind(now.timestamp_micros())
                    .push_bind(now)
                    .push_bind(now);
            });
            insert.push(
                " ON CONFLICT (ticker) DO UPDATE SET name = excluded.name, \
                 exchange = excluded.exchange, asset_class = excluded.asset_class, \
                 status = excluded.status, tradable = excluded.tradable, \
                 fractionable = excluded.fractionable, vendor_asset_id = excluded.vendor_asset_id, \
                 updated_at = excluded.updated_at \
                 WHERE symbols.name <> excluded.name OR symbols.exchange <> excluded.exchange \
                 OR symbols.asset_class <> excluded.asset_class OR symbols.status <> excluded.status \
                 OR symbols.tradable <> excluded.tradable \
                 OR symbols.fractionable <> excluded.fractionable \
                 OR symbols.vendor_asset_id IS NULL \
                 OR symbols.vendor_asset_id <> excluded.vendor_asset_id",
            );
            insert.build().execute(&mut **t).await?.rows_affected()
        });
    }
    let after: i64 = on_tx!(tx, t => sqlx::query_scalar(count).fetch_one(&mut **t).await?);
    tx.commit().await?;
    let added = u64::try_from(after - before).unwrap_or(0);
    Ok(ListingChanges {
        added,
        updated: changed.saturating_sub(added),
    })
}

/// Which stored state a listed symbol's bars are in: a page of bars read at the same
/// listing and version is the page the store would answer now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct BarsVersion {
    /// The listing's row id (a symbol listed again is a new listing).
    pub listing: i64,
    /// Moved by every write of the symbol's bars, in the writing transaction, to the write's
    /// time in microseconds (or one past the last version, if that is later); a new listing
    /// starts at its time. A restored backup or a copy brings older versions back, so processes
    /// that kept bars of the database before must restart.
    pub version: i64,
}

/// The bars version of a listed (active) symbol; None when it is not listed. Read before every
/// page of bars.
pub async fn bars_version(db: &Db, ticker: &str) -> Result<Option<BarsVersion>, StoreError> {
    let sql = "SELECT id AS listing, bars_version AS version FROM symbols \
               WHERE ticker = $1 AND status = 'active'";
    symbol_reads::bars_version(db, sql, ticker).await
}

/// Symbols whose ticker starts with, or whose name contains, `query` (case-insensitive):
/// the exact ticker first, then ticker prefixes, then names that start with it.
pub async fn search_symbols(db: &Db, query: &str, limit: i64) -> Result<Vec<Symbol>, StoreError> {
    let escaped = query
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let sql = format!(
        "SELECT {SYMBOL_COLUMNS} FROM symbols WHERE status = 'active' AND \
         (lower(ticker) LIKE $1 ESCAPE '\\' OR lower(name) LIKE $2 ESCAPE '\\') \
         ORDER BY CASE WHEN lower(ticker) = $3 THEN 0 WHEN lower(ticker) LIKE $1 ESCAPE '\\' THEN 1 \
         WHEN lower(name) LIKE $5 ESCAPE '\\' THEN 2 ELSE 3 END, ticker LIMIT $4"
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as(&sql)
            .bind(format!("{escaped}%"))
            .bind(format!("%{escaped}%"))
            .bind(query.to_lowercase())
            .bind(limit)
            .bind(format!("{escaped}%"))
            .fetch_all(pool)
            .await?
    }))
}

/// One OHLCV bar as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredBar {
    /// Bar start, UTC.
    pub ts: DateTime<Utc>,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume.
    pub volume: f64,
    /// Number of trades, when known.
    pub trade_count: Option<i64>,
    /// Volume-weighted average price, when known.
    pub vwap: Option<f64>,
}

/// Inserts or replaces bars of one symbol and timeframe (keyed on their start time). On
/// PostgreSQL the rows stream in with binary `COPY` (through a staging upsert when some are
/// already stored); on SQLite they go in as multi-row upserts. A bar repeated in one call: the
/// last one wins on both. Moves the symbol's [`BarsVersion`] in the same transaction.
pub async fn upsert_bars(
    tx: &mut Tx,
    symbol: &str,
    timeframe: Timeframe,
    bars: &[StoredBar],
) -> Result<u64, StoreError> {
    let (Some(first), Some(last)) = (
        bars.iter().map(|b| b.ts).min(),
        bars.iter().map(|b| b.ts).max(),
    ) else {
        return Ok(0);
    };
    forget_empty_ranges(tx, symbol, timeframe, first, last).await?;
    on_tx!(tx, t => {
        sqlx::query(
            "UPDATE symbols SET bars_version = CASE WHEN bars_version < $2 THEN $2 \
             ELSE bars_version + 1 END WHERE ticker = $1",
        )
        .bind(symbol)
        .bind(Utc::now().timestamp_micros())
        .execute(&mut **t)
        .await?;
    });
    bulk::upsert_bars(&mut tx.inner, symbol, timeframe.as_str(), bars).await
}

/// Deletes the empty-window records of a symbol and timeframe that hold a bar start in
/// `[first, last]`: once bars are written there, the window is no longer known to be empty.
async fn forget_empty_ranges(
    tx: &mut Tx,
    symbol: &str,
    timeframe: Timeframe,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query(
            "DELETE FROM empty_bar_ranges WHERE symbol = $1 AND timeframe = $2 \
             AND range_start <= $4 AND range_end > $3",
        )
        .bind(symbol)
        .bind(timeframe.as_str())
        .bind(first)
        .bind(last)
        .execute(&mut **t)
        .await?;
    });
    Ok(())
}

/// Records that the bar source answered no bars for `[start, end)` of a symbol and timeframe.
pub async fn record_empty_range(
    db: &Db,
    symbol: &str,
    timeframe: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    checked_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_write!(db, pool => {
        sqlx::query(
            "INSERT INTO empty_bar_ranges (symbol, timeframe, range_start, range_end, checked_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(symbol)
        .bind(timeframe.as_str())
        .bind(start)
        .bind(end)
        .bind(checked_at)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Whether a recorded empty window of the symbol and timeframe covers all of `[start, end)`.
pub async fn is_known_empty(
    db: &Db,
    symbol: &str,
    timeframe: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let found: i64 = on_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT count(*) FROM empty_bar_ranges WHERE symbol = $1 AND timeframe = $2 \
             AND range_start <= $3 AND range_end >= $4",
        )
        .bind(symbol)
        .bind(timeframe.as_str())
        .bind(start)
        .bind(end)
        .fetch_one(pool)
        .await?
    });
    Ok(found > 0)
}

const BAR_COLUMNS: &str = "ts, open, high, low, close, volume, trade_count, vwap";

/// The newest bar of `$1` that began before `$2` (any time when `$2` is null): the newest of
/// each timeframe, each one index seek (the key is (symbol, timeframe, ts)), then the newest
/// of those, the finer timeframe on a tie. Sorting all of a symbol's bars by time instead
/// would read every one of them.
static LATEST: LazyLock<String> = LazyLock::new(|| {
    let newest: Vec<String> = Timeframe::ALL
        .iter()
        .enumerate()
        .map(|(fineness, tf)| {
            format!(
                "SELECT * FROM (SELECT {BAR_COLUMNS}, {fineness} AS fineness \
                 FROM historical_bars WHERE symbol = $1 AND timeframe = '{tf}' \
                 AND ($2 IS NULL OR ts < $2) ORDER BY ts DESC LIMIT 1) AS tf{fineness}"
            )
        })
        .collect();
    format!(
        "SELECT {BAR_COLUMNS} FROM ({}) AS newest ORDER BY ts DESC, fineness LIMIT 1",
        newest.join(" UNION ALL ")
    )
});

/// The bars of a symbol and timeframe in a range, oldest first, selecting `columns`; `binds`
/// are the symbol, timeframe, start, end, after and limit, as the query reads them.
fn bars_sql(columns: &str, binds: &[impl AsRef<str>; 6]) -> String {
    let [symbol, timeframe, start, end, after, limit] = binds.each_ref().map(AsRef::as_ref);
    format!(
        "SELECT {columns} FROM historical_bars WHERE symbol = {symbol} \
         AND timeframe = {timeframe} AND ts >= {start} AND ts < {end} \
         AND ({after} IS NULL OR ts > {after}) ORDER BY ts LIMIT {limit}"
    )
}

/// The binds of [`bars_sql`] as parameters.
const BOUND: [&str; 6] = ["$1", "$2", "$3", "$4", "$5", "$6"];

static BARS: LazyLock<String> = LazyLock::new(|| bars_sql(BAR_COLUMNS, &BOUND));

/// [`BARS`] with only what the backtest engine reads.
static ENGINE_BARS: LazyLock<EngineSql> = LazyLock::new(|| {
    let columns = "ts, open, high, low, close, volume";
    EngineSql {
        query: bars_sql(columns, &BOUND),
        copy: bars_sql(columns, &bar_reads::copied_binds()),
    }
});

/// Which bars `start <= ts < end` and `ts > after`, at most `limit`.
fn bar_query(
    symbol: &str,
    timeframe: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    after: Option<DateTime<Utc>>,
    limit: i64,
) -> BarQuery {
    BarQuery {
        symbol: symbol.to_owned(),
        timeframe: timeframe.as_str(),
        start,
        end,
        after,
        limit,
    }
}

/// Bars of a symbol and timeframe with `start <= ts < end` and `ts > after`, oldest first.
pub async fn bars(
    db: &Db,
    symbol: &str,
    timeframe: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    after: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<StoredBar>, StoreError> {
    let query = bar_query(symbol, timeframe, start, end, after, limit);
    bar_reads::bars(db, &BARS, query).await
}

/// [`bars`] in `[start, end)` as the backtest engine takes them (time, prices and volume):
/// a backtest loads up to millions, and reads no column it does not use. A long range is read
/// in pieces at once, up to one per core. `None` when the range holds more than `most` bars.
pub async fn engine_bars(
    db: &Db,
    symbol: &str,
    timeframe: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    most: usize,
) -> Result<Option<Arc<[Bar]>>, StoreError> {
    let tf = timeframe.as_str();
    let pieces = load_pieces(db);
    if pieces > 1 && room(start, end, timeframe) >= 2 * PIECE_BARS {
        // Each piece reads a snapshot of its own, so they agree only when no write of the
        // symbol's bars (which moves its version in the same transaction) landed meanwhile.
        for _ in 0..2 {
            let Some(before) = bars_version(db, symbol).await? else {
                break;
            };
            let (first, last): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = on_pool!(db, pool => {
                sqlx::query_as(&FIRST_AND_LAST)
                    .bind(symbol)
                    .bind(tf)
                    .bind(start)
                    .bind(end)
                    .fetch_one(pool)
                    .await?
            });
            let (Some(first), Some(last)) = (first, last) else {
                break;
            };
            let cuts = piece_cuts(first, last, timeframe, pieces);
            let inside = cuts.into_iter().filter(|cut| start < *cut && *cut < end);
            let bounds: Vec<_> = std::iter::once(start).chain(inside).chain([end]).collect();
            let bars = bar_reads::engine_bars(db, &ENGINE_BARS, symbol, tf, &bounds, most).await?;
            if bounds.len() == 2 || bars_version(db, symbol).await? == Some(before) {
                return Ok(bars);
            }
        }
    }
    // One piece, one snapshot.
    bar_reads::engine_bars(db, &ENGINE_BARS, symbol, tf, &[start, end], most).await
}

/// How many pieces a load may read at once: one per core, at most [`MOST_PIECES`], and at most
/// half the pool's connections, so that a load leaves room for everything else.
fn load_pieces(db: &Db) -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from));
    let pool = on_pool!(db, pool => pool.options().get_max_connections());
    let half_the_pool = usize::try_from(pool / 2).unwrap_or(1);
    cores.min(MOST_PIECES).min(half_the_pool).max(1)
}

/// The most pieces a load reads at once.
const MOST_PIECES: usize = 4;

/// How many bars of `timeframe` would fit in `[start, end)` if there were one every
/// `timeframe` (markets close, so there are fewer).
fn room(start: DateTime<Utc>, end: DateTime<Utc>, timeframe: Timeframe) -> i64 {
    let width = timeframe.duration().num_seconds().max(1);
    end.timestamp().saturating_sub(start.timestamp()) / width + 1
}

/// Bars in a piece of a range read at once with others: fewer are read faster in one.
const PIECE_BARS: i64 = 1 << 16;

/// Where to cut `[first, last]` into at most `pieces` pieces of equal time, each with [`room`]
/// for [`PIECE_BARS`] bars or more: whole seconds, ascending.
fn piece_cuts(
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    timeframe: Timeframe,
    pieces: usize,
) -> Vec<DateTime<Utc>> {
    let fit = room(first, last, timeframe);
    let pieces = (fit / PIECE_BARS).clamp(1, i64::try_from(pieces).unwrap_or(1));
    let (first, last) = (first.timestamp(), last.timestamp());
    let mut cuts: Vec<_> = (1..pieces)
        .filter_map(|k| DateTime::from_timestamp(first + (last - first) * k / pieces, 0))
        .collect();
    cuts.dedup();
    cuts
}

/// The first and the last time of a symbol's bars in a timeframe and range: two index seeks.
static FIRST_AND_LAST: LazyLock<String> = LazyLock::new(|| {
    let within =
        "FROM historical_bars WHERE symbol = $1 AND timeframe = $2 AND ts >= $3 AND ts < $4";
    format!("SELECT (SELECT min(ts) {within}), (SELECT max(ts) {within})")
});

/// The most recent bar of a symbol in any timeframe: its close is the latest price.
pub async fn latest_bar(db: &Db, symbol: &str) -> Result<Option<StoredBar>, StoreError> {
    latest_bar_before(db, symbol, None).await
}

/// The newest bar of a symbol that began before `before` (any time when None), of any
/// timeframe, the finer on a tie: at a session's close, the last bar of the session.
pub async fn latest_bar_before(
    db: &Db,
    symbol: &str,
    before: Option<DateTime<Utc>>,
) -> Result<Option<StoredBar>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as(&LATEST).bind(symbol).bind(before).fetch_optional(pool).await?
    }))
}

/// [`latest_bar`], read inside a write transaction. A caller holding the account's lock must
/// not wait for a second connection from the pool: every other such caller may hold one while
/// it waits for that lock.
pub async fn latest_bar_in(tx: &mut Tx, symbol: &str) -> Result<Option<StoredBar>, StoreError> {
    Ok(on_tx!(tx, t => {
        sqlx::query_as(&LATEST)
            .bind(symbol)
            .bind(None::<DateTime<Utc>>)
            .fetch_optional(&mut **t)
            .await?
    }))
}

/// [`latest_bar_before`] at the symbol's bars version `version`, as the caller read it: kept
/// per process, so asking again at that version reads nothing. The bar is read after the
/// version was, so what is kept is never older than the version it is kept under.
pub async fn latest_bar_at(
    db: &Db,
    symbol: &str,
    version: i64,
    before: Option<DateTime<Utc>>,
) -> Result<Option<StoredBar>, StoreError> {
    if let Some(kept) = db.latest_bars.get(symbol, version, before) {
        return Ok(kept);
    }
    let bar = latest_bar_before(db, symbol, before).await?;
    db.latest_bars.put(symbol, version, before, bar.clone());
    Ok(bar)
}

/// How many bars of a symbol in a timeframe begin in `[start, end)`.
pub async fn count_bars_between(
    db: &Db,
    symbol: &str,
    timeframe: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<i64, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT count(*) FROM historical_bars \
             WHERE symbol = $1 AND timeframe = $2 AND ts >= $3 AND ts < $4",
        )
        .bind(symbol)
        .bind(timeframe.as_str())
        .bind(start)
        .bind(end)
        .fetch_one(pool)
        .await?
    }))
}

/// How many bars a symbol has in a timeframe (operators' checks, tests).
pub async fn count_bars(db: &Db, symbol: &str, timeframe: Timeframe) -> Result<i64, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar("SELECT count(*) FROM historical_bars WHERE symbol = $1 AND timeframe = $2")
            .bind(symbol)
            .bind(timeframe.as_str())
            .fetch_one(pool)
            .await?
    }))
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};
    use raptor_domain::timeframe::Timeframe;

    use super::{piece_cuts, PIECE_BARS};

    #[test]
    fn a_range_is_cut_only_where_each_piece_has_room_for_enough_bars() {
        let first: DateTime<Utc> = "2000-01-03T14:30:00Z".parse().expect("time");
        let minutes = |n: i64| first + Duration::minutes(n);
        assert!(
            piece_cuts(first, first, Timeframe::Min1, 2).is_empty(),
            "one bar"
        );
        let short = minutes(2 * PIECE_BARS - 2);
        assert!(
            piece_cuts(first, short, Timeframe::Min1, 2).is_empty(),
            "room for one piece"
        );
        assert!(piece_cuts(first, minutes(10 * PIECE_BARS), Timeframe::Min1, 1).is_empty());
        let day_bars = first + Duration::days(3 * PIECE_BARS);
        assert_eq!(
            piece_cuts(first, day_bars, Timeframe::Day1, 8).len(),
            2,
            "three pieces"
        );
        let last = minutes(1_000_000);
        let cuts = piece_cuts(first, last, Timeframe::Min1, 4);
        assert_eq!(cuts, [minutes(250_000), minutes(500_000), minutes(750_000)]);
        let odd = last + Duration::seconds(1);
        let cuts = piece_cuts(first, odd, Timeframe::Min1, 3);
        assert_eq!(cuts.len(), 2);
        assert!(cuts.windows(2).all(|w| w[0] < w[1]) && first < cuts[0] && cuts[1] < odd);
        assert!(
            cuts.iter().all(|cut| cut.timestamp_subsec_nanos() == 0),
            "whole seconds"
        );
    }
}
