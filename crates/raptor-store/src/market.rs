//! The symbol catalogue and historical bars: the one repository every bar reader and writer
//! uses, so re-fetching or re-importing never duplicates a bar.

use chrono::{DateTime, Utc};

use crate::engine::Db;
use crate::error::StoreError;
use crate::pg_copy::BinaryCopy;
use crate::tx::Tx;

/// A listed symbol.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Symbol {
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
}

const SYMBOL_COLUMNS: &str = "ticker, name, exchange, asset_class, tradable, fractionable";

/// One symbol by ticker (exact, upper-case).
pub async fn symbol(db: &Db, ticker: &str) -> Result<Option<Symbol>, StoreError> {
    let sql =
        format!("SELECT {SYMBOL_COLUMNS} FROM symbols WHERE ticker = $1 AND status = 'active'");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(ticker).fetch_optional(pool).await?))
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

/// Rows per `INSERT` statement: 10 parameters each stays under both dialects' limits.
const ROWS_PER_STATEMENT: usize = 1000;

/// Inserts or replaces bars of one symbol and timeframe (keyed on their start time). On
/// PostgreSQL the rows stream in with binary `COPY` (through a staging upsert when some are
/// already stored); on SQLite they go in as multi-row upserts. A bar repeated in one call: the
/// last one wins on both.
pub async fn upsert_bars(
    tx: &mut Tx,
    symbol: &str,
    timeframe: &str,
    bars: &[StoredBar],
) -> Result<u64, StoreError> {
    if bars.is_empty() {
        return Ok(0);
    }
    if let crate::dialect::TxInner::Postgres(t) = &mut tx.inner {
        return copy_bars_postgres(t, symbol, timeframe, bars).await;
    }
    upsert_bars_sqlite(tx, symbol, timeframe, bars).await
}

const STORED_COLUMNS: &str =
    "symbol, timeframe, ts, open, high, low, close, volume, trade_count, vwap";

/// The last copy of each bar time, in time order. Times are compared to the microsecond,
/// PostgreSQL's resolution, so two bars it would store under one key are one bar here too.
fn last_per_time(bars: &[StoredBar]) -> Vec<&StoredBar> {
    use chrono::SubsecRound;
    let mut order: Vec<(usize, &StoredBar)> = bars.iter().enumerate().collect();
    // By time, later positions first, so the first of each time is the one that wins.
    order.sort_by(|(i, a), (j, b)| {
        (a.ts.trunc_subsecs(6))
            .cmp(&b.ts.trunc_subsecs(6))
            .then(j.cmp(i))
    });
    order.dedup_by(|(_, later), (_, kept)| later.ts.trunc_subsecs(6) == kept.ts.trunc_subsecs(6));
    order.into_iter().map(|(_, bar)| bar).collect()
}

/// Streams bars as binary `COPY` rows into `table`.
async fn copy_bars_into(
    conn: &mut sqlx::PgConnection,
    table: &str,
    symbol: &str,
    timeframe: &str,
    bars: &[&StoredBar],
) -> Result<u64, StoreError> {
    let mut copy = BinaryCopy::start(conn, table, STORED_COLUMNS).await?;
    for b in bars {
        copy.row(10)?;
        copy.field(&symbol)?;
        copy.field(&timeframe)?;
        copy.field(&b.ts)?;
        for price in [b.open, b.high, b.low, b.close, b.volume] {
            copy.field(&price)?;
        }
        copy.field(&b.trade_count)?;
        copy.field(&b.vwap)?;
        copy.flush_if_full().await?;
    }
    Ok(copy.finish().await?)
}

/// New bars (the usual case: an import or a fetch of a range not yet stored) go straight in
/// with one binary `COPY`, inside a savepoint. When some of them are already stored the batch
/// is upserted from a staging table instead.
async fn copy_bars_postgres(
    t: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    symbol: &str,
    timeframe: &str,
    bars: &[StoredBar],
) -> Result<u64, StoreError> {
    use sqlx::{Acquire, Executor};
    let bars = last_per_time(bars);
    let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
        return Ok(0);
    };
    // A refetch of a stored range skips the attempt that would fail on its first bar.
    let stored: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM historical_bars WHERE symbol = $1 AND timeframe = $2 \
         AND ts >= $3 AND ts <= $4)",
    )
    .bind(symbol)
    .bind(timeframe)
    .bind(first.ts)
    .bind(last.ts)
    .fetch_one(&mut **t)
    .await?;
    if !stored {
        // Another writer may still store one of these bars first: then the key refuses the
        // copy, the savepoint undoes it, and the upsert below takes over.
        let mut savepoint = t.begin().await?;
        match copy_bars_into(&mut savepoint, "historical_bars", symbol, timeframe, &bars).await {
            Ok(written) => {
                savepoint.commit().await?;
                return Ok(written);
            }
            Err(err) if err.is_unique_violation() => savepoint.rollback().await?,
            Err(err) => return Err(err),
        }
    }
    (&mut **t)
        .execute(
            "CREATE TEMP TABLE IF NOT EXISTS raptor_bar_staging (LIKE historical_bars) \
             ON COMMIT DROP",
        )
        .await?;
    copy_bars_into(t, "raptor_bar_staging", symbol, timeframe, &bars).await?;
    let written = (&mut **t)
        .execute(
            "INSERT INTO historical_bars SELECT * FROM raptor_bar_staging \
             ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET open = excluded.open, \
             high = excluded.high, low = excluded.low, close = excluded.close, \
             volume = excluded.volume, trade_count = excluded.trade_count, vwap = excluded.vwap",
        )
        .await?
        .rows_affected();
    (&mut **t).execute("TRUNCATE raptor_bar_staging").await?;
    Ok(written)
}

async fn upsert_bars_sqlite(
    tx: &mut Tx,
    symbol: &str,
    timeframe: &str,
    bars: &[StoredBar],
) -> Result<u64, StoreError> {
    let mut written = 0;
    // SQLite looks a `$N` parameter's name up by a linear scan, and the driver asks for every
    // name: thousands of `$N` per statement make binding quadratic (a 1000-row statement took
    // ~200 ms). Anonymous `?` placeholders bind by position.
    for chunk in bars.chunks(ROWS_PER_STATEMENT) {
        let mut sql = String::from(
            "INSERT INTO historical_bars (symbol, timeframe, ts, open, high, low, close, volume, \
             trade_count, vwap) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str("(?,?,?,?,?,?,?,?,?,?)");
        }
        sql.push_str(
            " ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET open = excluded.open, \
             high = excluded.high, low = excluded.low, close = excluded.close, \
             volume = excluded.volume, trade_count = excluded.trade_count, vwap = excluded.vwap",
        );
        written += on_tx!(tx, t => {
            let mut query = sqlx::query(&sql);
            for bar in chunk {
                query = query
                    .bind(symbol)
                    .bind(timeframe)
                    .bind(bar.ts)
                    .bind(bar.open)
                    .bind(bar.high)
                    .bind(bar.low)
                    .bind(bar.close)
                    .bind(bar.volume)
                    .bind(bar.trade_count)
                    .bind(bar.vwap);
            }
            query.execute(&mut **t).await?.rows_affected()
        });
    }
    Ok(written)
}

const BAR_COLUMNS: &str = "ts, open, high, low, close, volume, trade_count, vwap";

/// Bars of a symbol and timeframe with `start <= ts < end` and `ts > after`, oldest first.
pub async fn bars(
    db: &Db,
    symbol: &str,
    timeframe: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    after: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<StoredBar>, StoreError> {
    let sql = format!(
        "SELECT {BAR_COLUMNS} FROM historical_bars WHERE symbol = $1 AND timeframe = $2 \
         AND ts >= $3 AND ts < $4 AND ($5 IS NULL OR ts > $5) ORDER BY ts LIMIT $6"
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as(&sql)
            .bind(symbol)
            .bind(timeframe)
            .bind(start)
            .bind(end)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
    }))
}

/// The most recent bar of a symbol in any timeframe: its close is the latest price.
pub async fn latest_bar(db: &Db, symbol: &str) -> Result<Option<StoredBar>, StoreError> {
    // The newest bar start across timeframes, preferring the finer timeframe on ties.
    let sql = format!(
        "SELECT {BAR_COLUMNS} FROM historical_bars WHERE symbol = $1 \
         ORDER BY ts DESC, CASE timeframe WHEN '1Min' THEN 0 WHEN '5Min' THEN 1 \
         WHEN '15Min' THEN 2 WHEN '1Hour' THEN 3 ELSE 4 END LIMIT 1"
    );
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(symbol).fetch_optional(pool).await?))
}

/// How many bars a symbol has in a timeframe (operators' checks, tests).
pub async fn count_bars(db: &Db, symbol: &str, timeframe: &str) -> Result<i64, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar("SELECT count(*) FROM historical_bars WHERE symbol = $1 AND timeframe = $2")
            .bind(symbol)
            .bind(timeframe)
            .fetch_one(pool)
            .await?
    }))
}
