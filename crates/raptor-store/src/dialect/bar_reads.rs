//! Reading bars, the store's largest reads, and the version checked before each page: sqlx on
//! PostgreSQL and in-memory SQLite, the row reader ([`super::sqlite_rows`]) on a SQLite file.

use chrono::{DateTime, Utc};

use super::sqlite_rows::{time, SqliteTime};
use crate::engine::Db;
use crate::error::StoreError;
use crate::market::{BarsVersion, StoredBar};

/// Which bars: the binds of the bar query, in parameter order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BarQuery<'a> {
    pub(crate) symbol: &'a str,
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
    q: BarQuery<'_>,
) -> Result<Vec<StoredBar>, StoreError> {
    if let Some(rows) = &db.sqlite_rows {
        let symbol = q.symbol.to_owned();
        return rows
            .read(move |conn| {
                let mut statement = conn.prepare_cached(sql)?;
                let binds = (
                    symbol.as_str(),
                    q.timeframe,
                    SqliteTime(q.start),
                    SqliteTime(q.end),
                    q.after.map(SqliteTime),
                    q.limit,
                );
                let found = statement.query_map(binds, |row| {
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
                })?;
                found.collect()
            })
            .await;
    }
    Ok(on_pool!(db, pool => {
        sqlx::query_as(sql)
            .bind(q.symbol)
            .bind(q.timeframe)
            .bind(q.start)
            .bind(q.end)
            .bind(q.after)
            .bind(q.limit)
            .fetch_all(pool)
            .await?
    }))
}

/// Runs `sql` (selecting a symbol's `listing` and `version`, binding the ticker as `$1`); on a
/// SQLite file on the calling thread, as it reads one row by index.
pub(crate) async fn bars_version(
    db: &Db,
    sql: &'static str,
    ticker: &str,
) -> Result<Option<BarsVersion>, StoreError> {
    if let Some(reader) = &db.sqlite_rows {
        let ticker = ticker.to_owned();
        return reader
            .read_point(move |conn| {
                let mut statement = conn.prepare_cached(sql)?;
                let mut found = statement.query_map([&ticker], |row| {
                    Ok(BarsVersion {
                        listing: row.get(0)?,
                        version: row.get(1)?,
                    })
                })?;
                found.next().transpose()
            })
            .await;
    }
    Ok(on_point_read!(db, conn => {
        sqlx::query_as(sql).bind(ticker).fetch_optional(conn).await
    })?)
}
