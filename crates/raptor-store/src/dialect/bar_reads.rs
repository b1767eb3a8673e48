//! Reading bars, the store's largest reads: sqlx on PostgreSQL and in-memory SQLite, the row
//! reader ([`super::sqlite_rows`]) on a SQLite file. The version checked before each page is
//! read in [`super::symbol_reads`].

use chrono::{DateTime, Utc};
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
/// the backtest engine: no more columns than it reads, straight into its bars.
pub(crate) async fn engine_bars(
    db: &Db,
    sql: &'static str,
    q: BarQuery,
) -> Result<Vec<Bar>, StoreError> {
    if let Some(rows) = &db.sqlite_rows {
        return rows
            .read(move |conn| {
                sqlite_rows(conn, sql, &q, |row| {
                    Ok(Bar {
                        t: time(row.get_ref(0)?)?,
                        open: row.get(1)?,
                        high: row.get(2)?,
                        low: row.get(3)?,
                        close: row.get(4)?,
                        volume: row.get(5)?,
                    })
                })
            })
            .await;
    }
    let found: Vec<EngineRow> = on_pool!(db, pool => {
        bind(sqlx::query_as(sql), q).fetch_all(pool).await?
    });
    Ok(found
        .into_iter()
        .map(|(t, open, high, low, close, volume)| Bar {
            t,
            open,
            high,
            low,
            close,
            volume,
        })
        .collect())
}

/// A row of [`engine_bars`] as sqlx reads it.
type EngineRow = (DateTime<Utc>, f64, f64, f64, f64, f64);

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
fn sqlite_rows<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    q: &BarQuery,
    read_row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
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
