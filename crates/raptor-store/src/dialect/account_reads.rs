//! Reading an account's book ([`crate::valuation`]): sqlx on PostgreSQL and in-memory SQLite,
//! the row reader ([`super::sqlite_rows`]) on a SQLite file: on the calling thread while the
//! book is small, one blocking hop for the lot when it is not (a busy account's book holds a
//! row per fill of the day).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::Row;

use super::sqlite_rows::{optional_time, Columns, SqliteTime};
use crate::decimal::DbDecimal;
use crate::engine::Db;
use crate::error::StoreError;
use crate::valuation::{BookRow, INLINE_ROWS};

/// Runs `sql` (binding `$1` the user and `$2` the moment) and reads every row by column name.
pub(crate) async fn rows(
    db: &Db,
    sql: &'static str,
    user_id: i64,
    since: DateTime<Utc>,
) -> Result<Vec<BookRow>, StoreError> {
    if let Some(reader) = &db.sqlite_rows {
        let small = move |conn: &rusqlite::Connection| {
            sqlite_rows(conn, sql, user_id, since, Some(INLINE_ROWS))
        };
        if let Some(rows) = reader.read_point(small).await? {
            return Ok(rows);
        }
        let all = move |conn: &rusqlite::Connection| sqlite_rows(conn, sql, user_id, since, None);
        return Ok(reader.read(all).await?.unwrap_or_default());
    }
    let rows = on_point_read!(db, conn => {
        async {
            let found = sqlx::query(sql).bind(user_id).bind(since).fetch_all(conn).await?;
            let mut rows = Vec::with_capacity(found.len());
            for row in &found {
                let decimal = |name: &str| -> Result<Option<Decimal>, sqlx::Error> {
                    Ok(row.try_get::<Option<DbDecimal>, _>(name)?.map(|d| d.0))
                };
                rows.push(BookRow {
                    part: row.try_get("part")?,
                    account_id: row.try_get("account_id")?,
                    currency: row.try_get("currency")?,
                    cash: decimal("cash")?,
                    starting_cash: decimal("starting_cash")?,
                    kill_switch: row.try_get("kill_switch")?,
                    kill_switch_reason: row.try_get("kill_switch_reason")?,
                    kill_switch_set_at: row.try_get("kill_switch_set_at")?,
                    symbol: row.try_get("symbol")?,
                    side: row.try_get("side")?,
                    qty: decimal("qty")?,
                    price: decimal("price")?,
                    cost_basis: decimal("cost_basis")?,
                    stop_price: decimal("stop_price")?,
                    bars_version: row.try_get("bars_version")?,
                    filled_at: row.try_get("filled_at")?,
                    fill_id: row.try_get("fill_id")?,
                });
            }
            Ok::<_, sqlx::Error>(rows)
        }
        .await
    })?;
    Ok(rows)
}

/// The book's columns, by name (a union's columns are named by its first part).
static BOOK_COLUMNS: Columns<17> = Columns::new([
    "part",
    "account_id",
    "currency",
    "cash",
    "starting_cash",
    "kill_switch",
    "kill_switch_reason",
    "kill_switch_set_at",
    "symbol",
    "side",
    "qty",
    "price",
    "cost_basis",
    "stop_price",
    "bars_version",
    "filled_at",
    "fill_id",
]);

/// The book's rows on a SQLite file; `None` once there are more than `limit`.
fn sqlite_rows(
    conn: &rusqlite::Connection,
    sql: &'static str,
    user_id: i64,
    since: DateTime<Utc>,
    limit: Option<usize>,
) -> rusqlite::Result<Option<Vec<BookRow>>> {
    let (mut statement, columns) = BOOK_COLUMNS.prepare(conn, sql)?;
    let binds: [(&str, &dyn rusqlite::ToSql); 2] = [("$1", &user_id), ("$2", &SqliteTime(since))];
    let found = statement.query_map(&binds[..], |row| {
        let at = |name: &str| columns.at(name);
        let decimal = |name: &str| -> rusqlite::Result<Option<Decimal>> {
            let text: Option<String> = row.get(at(name)?)?;
            text.map(|t| {
                t.parse().map_err(|err| {
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Text,
                        Box::new(err),
                    )
                })
            })
            .transpose()
        };
        let moment = |name: &str| optional_time(row.get_ref(at(name)?)?);
        Ok(BookRow {
            part: row.get(at("part")?)?,
            account_id: row.get(at("account_id")?)?,
            currency: row.get(at("currency")?)?,
            cash: decimal("cash")?,
            starting_cash: decimal("starting_cash")?,
            kill_switch: row.get(at("kill_switch")?)?,
            kill_switch_reason: row.get(at("kill_switch_reason")?)?,
            kill_switch_set_at: moment("kill_switch_set_at")?,
            symbol: row.get(at("symbol")?)?,
            side: row.get(at("side")?)?,
            qty: decimal("qty")?,
            price: decimal("price")?,
            cost_basis: decimal("cost_basis")?,
            stop_price: decimal("stop_price")?,
            bars_version: row.get(at("bars_version")?)?,
            filled_at: moment("filled_at")?,
            fill_id: row.get(at("fill_id")?)?,
        })
    })?;
    let mut rows = Vec::new();
    for row in found {
        if limit.is_some_and(|limit| rows.len() == limit) {
            return Ok(None);
        }
        rows.push(row?);
    }
    Ok(Some(rows))
}
