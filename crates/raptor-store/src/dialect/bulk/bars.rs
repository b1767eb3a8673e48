//! Bulk upsert of price bars: binary `COPY` on PostgreSQL, multi-row upserts on SQLite.

use super::binary_copy::BinaryCopy;
use crate::dialect::TxInner;
use crate::error::StoreError;
use crate::market::StoredBar;

/// Inserts or replaces bars of one symbol and timeframe (keyed on their start time). On
/// PostgreSQL the rows stream in with binary `COPY` (through a staging upsert when some are
/// already stored); on SQLite they go in as multi-row upserts. A bar repeated in one call: the
/// last one wins on both.
pub(crate) async fn upsert_bars(
    tx: &mut TxInner,
    symbol: &str,
    timeframe: &str,
    bars: &[StoredBar],
) -> Result<u64, StoreError> {
    match tx {
        TxInner::Postgres(t) => copy_bars_postgres(t, symbol, timeframe, bars).await,
        TxInner::Sqlite(t) => upsert_bars_sqlite(t, symbol, timeframe, bars).await,
    }
}

/// Rows per SQLite `INSERT`: 8 parameters each and 2 more stay under SQLite's 32,766.
const ROWS_PER_STATEMENT: usize = 1000;

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

/// The SQLite upsert of `rows` bars: each row's eight values, then the symbol and timeframe
/// once, as the last two parameters.
///
/// The rows take anonymous `?` placeholders: SQLite looks a named one up by a linear scan, so
/// thousands of them make a statement quadratic to prepare (a 1000-row statement took ~200 ms).
/// The symbol and timeframe come after every row, so SQLite numbers them as sqlx counts them.
fn sqlite_upsert(rows: usize) -> String {
    const ROW_VALUES: usize = 8;
    let mut sql = String::from("WITH v AS (VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?,?,?)");
    }
    let symbol = rows * ROW_VALUES + 1;
    let timeframe = symbol + 1;
    sql.push_str(&format!(
        ") INSERT INTO historical_bars ({STORED_COLUMNS}) \
         SELECT ?{symbol}, ?{timeframe}, column1, column2, column3, column4, column5, column6, \
         column7, column8 FROM v WHERE true \
         ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET open = excluded.open, \
         high = excluded.high, low = excluded.low, close = excluded.close, \
         volume = excluded.volume, trade_count = excluded.trade_count, vwap = excluded.vwap"
    ));
    sql
}

async fn upsert_bars_sqlite(
    t: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    symbol: &str,
    timeframe: &str,
    bars: &[StoredBar],
) -> Result<u64, StoreError> {
    let mut written = 0;
    for chunk in bars.chunks(ROWS_PER_STATEMENT) {
        let sql = sqlite_upsert(chunk.len());
        let mut query = sqlx::query(&sql);
        for bar in chunk {
            query = query
                .bind(bar.ts)
                .bind(bar.open)
                .bind(bar.high)
                .bind(bar.low)
                .bind(bar.close)
                .bind(bar.volume)
                .bind(bar.trade_count)
                .bind(bar.vwap);
        }
        written += query
            .bind(symbol)
            .bind(timeframe)
            .execute(&mut **t)
            .await?
            .rows_affected();
    }
    Ok(written)
}
