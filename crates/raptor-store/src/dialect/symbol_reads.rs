//! Reading one listed symbol by ticker (the listing an order or a bars page is for): on a
//! SQLite file through the row reader ([`super::sqlite_rows`]) on the calling thread, on
//! PostgreSQL on a point connection ([`super::pg_points`]), as each reads one row by index.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::engine::Db;
use crate::error::StoreError;
use crate::market::{BarsVersion, Symbol};

/// Runs `sql` (selecting a symbol's `listing` and `version`, binding the ticker as `$1`).
pub(crate) async fn bars_version(
    db: &Db,
    sql: &'static str,
    ticker: &str,
) -> Result<Option<BarsVersion>, StoreError> {
    by_ticker(db, sql, ticker, |row| {
        Ok(BarsVersion {
            listing: row.get(0)?,
            version: row.get(1)?,
        })
    })
    .await
}

/// Runs `sql` (selecting a [`Symbol`]'s columns in the order of its fields, binding the ticker
/// as `$1`).
pub(crate) async fn symbol(
    db: &Db,
    sql: &'static str,
    ticker: &str,
) -> Result<Option<Symbol>, StoreError> {
    by_ticker(db, sql, ticker, |row| {
        Ok(Symbol {
            id: row.get(0)?,
            ticker: row.get(1)?,
            name: row.get(2)?,
            exchange: row.get(3)?,
            asset_class: row.get(4)?,
            tradable: row.get(5)?,
            fractionable: row.get(6)?,
            bars_version: row.get(7)?,
        })
    })
    .await
}

/// The one row `sql` finds binding `ticker` as `$1`: read by `sqlite_row` on a SQLite file,
/// by name through sqlx elsewhere.
async fn by_ticker<T>(
    db: &Db,
    sql: &'static str,
    ticker: &str,
    sqlite_row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, StoreError>
where
    T: Send + Unpin + 'static,
    T: for<'r> sqlx::FromRow<'r, PgRow> + for<'r> sqlx::FromRow<'r, SqliteRow>,
{
    if let Some(reader) = &db.sqlite_rows {
        let ticker = ticker.to_owned();
        return reader
            .read_point(move |conn| {
                let mut statement = conn.prepare_cached(sql)?;
                let mut found = statement.query_map([&ticker], sqlite_row)?;
                found.next().transpose()
            })
            .await;
    }
    Ok(on_point_read!(db, conn => {
        sqlx::query_as(sql).bind(ticker).fetch_optional(conn).await
    })?)
}
