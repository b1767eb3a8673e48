//! Reading bars, the store's largest reads: sqlx on PostgreSQL and in-memory SQLite, the row
//! reader ([`super::sqlite_rows`]) on a SQLite file. The version checked before each page is
//! read in [`super::symbol_reads`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt as _;
use raptor_domain::backtest::Bar;

use super::sqlite_rows::{time, SqliteTime};
use crate::engine::Db;
use crate::error::StoreError;
use crate::market::StoredBar;

/// Which bars: the binds of the bar query, in parameter order.
#[derive(Debug, Clone)]
pub(crate) struct BarQuery {
    pub(crate) symbol: String,
    pub(crate) timeframe: &'static str,
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    pub(crate) after: Option<DateTime<Utc>>,
    pub(crate) limit: i64,
}

/// Runs `sql` (selecting `ts, open, high, low, close, volume, trade_count, vwap`, binding
/// `$1`…`$6` as [`BarQuery`] lists them).
pub(crate) async fn bars(
    db: &Db,
    sql: &'static str,
    q: BarQuery,
) -> Result<Vec<StoredBar>, StoreError> {
    if let Some(rows) = &db.sqlite_rows {
        return rows
            .read(move |conn| {
                sqlite_rows(conn, sql, &q, |row| {
                    Ok(StoredBar {
                        ts: time(row.get_ref(0)?)?,
                        open: row.get(1)?,
                        high: row.get(2)?,
                        low: row.get(3)?,
                        close: row.get(4)?,
                        volume: row.get(5)?,
                        trade_count: row.get(6)?,
                        vwap: row.get(7)?,
                    })
                })
            })
            .await;
    }
    Ok(on_pool!(db, pool => {
        bind(sqlx::query_as(sql), q).fetch_all(pool).await?
    }))
}

/// Runs `sql` (selecting `ts, open, high, low, close, volume`, binding as [`bars`] does) for
/// the backtest engine: no more columns than it reads, straight into its bars, returned in one
/// allocation of exactly their number.
pub(crate) async fn engine_bars(
    db: &Db,
    sql: &'static str,
    q: BarQuery,
) -> Result<Arc<[Bar]>, StoreError> {
    if let Some(rows) = &db.sqlite_rows {
        return rows
            .read(move |conn| {
                let bars: Blocks<Bar> = sqlite_rows(conn, sql, &q, |row| {
                    Ok(Bar {
                        t: time(row.get_ref(0)?)?,
                        open: row.get(1)?,
                        high: row.get(2)?,
                        low: row.get(3)?,
                        close: row.get(4)?,
                        volume: row.get(5)?,
                    })
                })?;
                Ok(bars.into_shared())
            })
            .await;
    }
    let bars: Blocks<Bar> = on_pool!(db, pool => {
        bind(sqlx::query_as::<_, EngineRow>(sql), q)
            .fetch(pool)
            .map_ok(|(t, open, high, low, close, volume)| Bar { t, open, high, low, close, volume })
            .try_collect()
            .await?
    });
    Ok(bars.into_shared())
}

/// A row of [`engine_bars`] as sqlx reads it.
type EngineRow = (DateTime<Utc>, f64, f64, f64, f64, f64);

/// Rows gathered in blocks of [`BLOCK`], then moved into one allocation of their exact number,
/// each block freed once copied. A growing vector would copy its rows at every doubling, and a
/// shared slice made from it would copy them all once more while both are held.
struct Blocks<T> {
    full: Vec<Vec<T>>,
    last: Vec<T>,
}

/// Rows in a block: 64 Ki, 3.5 MiB of bars.
const BLOCK: usize = 1 << 16;

impl<T> Default for Blocks<T> {
    fn default() -> Self {
        Self {
            full: Vec::new(),
            last: Vec::new(),
        }
    }
}

impl<T> Extend<T> for Blocks<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, rows: I) {
        for row in rows {
            if self.last.len() == BLOCK {
                let next = Vec::with_capacity(BLOCK);
                self.full.push(std::mem::replace(&mut self.last, next));
            }
            self.last.push(row);
        }
    }
}

impl<T> FromIterator<T> for Blocks<T> {
    fn from_iter<I: IntoIterator<Item = T>>(rows: I) -> Self {
        let mut blocks = Self::default();
        blocks.extend(rows);
        blocks
    }
}

impl<T: Copy> Blocks<T> {
    fn into_shared(self) -> Arc<[T]> {
        // Every block but the last holds BLOCK rows.
        let len = self.full.len() * BLOCK + self.last.len();
        let mut blocks = self.full.into_iter().chain([self.last]);
        let mut block = Vec::new();
        // A mapped range has an exact length, so the slice is allocated once, at its size.
        (0..len)
            .map(|i| {
                if i % BLOCK == 0 {
                    block = blocks.next().unwrap_or_default();
                }
                block[i % BLOCK]
            })
            .collect()
    }
}

/// `query` with the binds of `q`, in parameter order.
fn bind<'q, DB, O>(
    query: sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments<'q>>,
    q: BarQuery,
) -> sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'static str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<DateTime<Utc>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(q.symbol)
        .bind(q.timeframe)
        .bind(q.start)
        .bind(q.end)
        .bind(q.after)
        .bind(q.limit)
}

/// Every row `sql` finds for `q` on a SQLite file, read by `read_row`.
fn sqlite_rows<T, C: FromIterator<T>>(
    conn: &rusqlite::Connection,
    sql: &str,
    q: &BarQuery,
    read_row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<C> {
    let mut statement = conn.prepare_cached(sql)?;
    let binds = (
        q.symbol.as_str(),
        q.timeframe,
        SqliteTime(q.start),
        SqliteTime(q.end),
        q.after.map(SqliteTime),
        q.limit,
    );
    let found = statement.query_map(binds, read_row)?;
    found.collect()
}

#[cfg(test)]
mod tests {
    use super::{Blocks, BLOCK};

    #[test]
    fn blocks_keep_every_row_once_in_order_across_their_seams() {
        for n in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 2 * BLOCK + 1] {
            let blocks: Blocks<usize> = (0..n).collect();
            let shared = blocks.into_shared();
            assert_eq!(shared.len(), n);
            assert!(shared.iter().copied().eq(0..n), "{n} rows");
        }
    }
}
