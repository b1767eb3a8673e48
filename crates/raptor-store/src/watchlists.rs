//! Watchlists: named lists of symbols per paper account, in the order they were added.

use chrono::{DateTime, Utc};

use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// A watchlist without its symbols.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Watchlist {
    /// Row id.
    pub id: i64,
    /// The account it belongs to.
    pub account_id: i64,
    /// Its name, unique in the account.
    pub name: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Its last change.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, account_id, name, created_at, updated_at";

/// Makes an empty watchlist; a name the account already uses is a unique violation.
pub async fn create(
    tx: &mut Tx,
    account_id: i64,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Watchlist, StoreError> {
    let sql = format!(
        "INSERT INTO watchlists (account_id, name, created_at, updated_at) \
         VALUES ($1, $2, $3, $3) RETURNING {COLUMNS}"
    );
    Ok(on_tx!(tx, t => {
        sqlx::query_as(&sql).bind(account_id).bind(name).bind(now).fetch_one(&mut **t).await?
    }))
}

/// How many watchlists an account has, inside the transaction that adds one (the account's
/// row is locked first on PostgreSQL, so concurrent additions cannot overshoot a cap).
pub async fn count_in(tx: &mut Tx, account_id: i64) -> Result<i64, StoreError> {
    let lock = format!(
        "SELECT id FROM paper_accounts WHERE id = $1{}",
        tx.dialect().row_lock()
    );
    Ok(on_tx!(tx, t => {
        sqlx::query(&lock).bind(account_id).fetch_optional(&mut **t).await?;
        sqlx::query_scalar("SELECT count(*) FROM watchlists WHERE account_id = $1")
            .bind(account_id)
            .fetch_one(&mut **t)
            .await?
    }))
}

/// An account's watchlists, oldest first.
pub async fn of_account(db: &Db, account_id: i64) -> Result<Vec<Watchlist>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM watchlists WHERE account_id = $1 ORDER BY id");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(account_id).fetch_all(pool).await?))
}

/// Which of an account's watchlists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which<'a> {
    /// By row id.
    Id(i64),
    /// By name.
    Name(&'a str),
}

impl Which<'_> {
    fn condition(self) -> &'static str {
        match self {
            Which::Id(_) => "id = $2",
            Which::Name(_) => "name = $2",
        }
    }
}

/// One of an account's watchlists.
pub async fn find(
    db: &Db,
    account_id: i64,
    which: Which<'_>,
) -> Result<Option<Watchlist>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM watchlists WHERE account_id = $1 AND {}",
        which.condition()
    );
    Ok(on_pool!(db, pool => {
        let q = sqlx::query_as(&sql).bind(account_id);
        match which {
            Which::Id(id) => q.bind(id),
            Which::Name(name) => q.bind(name.to_owned()),
        }
        .fetch_optional(pool)
        .await?
    }))
}

/// One of an account's watchlists, locked for a change on PostgreSQL (SQLite's write
/// transaction already excludes other writers).
pub async fn find_in(
    tx: &mut Tx,
    account_id: i64,
    which: Which<'_>,
) -> Result<Option<Watchlist>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM watchlists WHERE account_id = $1 AND {}{}",
        which.condition(),
        tx.dialect().row_lock()
    );
    Ok(on_tx!(tx, t => {
        let q = sqlx::query_as(&sql).bind(account_id);
        match which {
            Which::Id(id) => q.bind(id),
            Which::Name(name) => q.bind(name.to_owned()),
        }
        .fetch_optional(&mut **t)
        .await?
    }))
}

const SYMBOLS: &str =
    "SELECT symbol FROM watchlist_symbols WHERE watchlist_id = $1 ORDER BY position";

/// A watchlist's symbols, in the order they were added.
pub async fn symbols(db: &Db, watchlist_id: i64) -> Result<Vec<String>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar(SYMBOLS).bind(watchlist_id).fetch_all(pool).await?
    }))
}

/// A watchlist's symbols, in the order they were added.
pub async fn symbols_in(tx: &mut Tx, watchlist_id: i64) -> Result<Vec<String>, StoreError> {
    Ok(on_tx!(tx, t => {
        sqlx::query_scalar(SYMBOLS).bind(watchlist_id).fetch_all(&mut **t).await?
    }))
}

/// Adds a symbol at the end; false when it was already there.
pub async fn add_symbol(tx: &mut Tx, watchlist_id: i64, symbol: &str) -> Result<bool, StoreError> {
    let added = on_tx!(tx, t => {
        sqlx::query(
            "INSERT INTO watchlist_symbols (watchlist_id, symbol, position) \
             SELECT $1, $2, COALESCE(MAX(position), 0) + 1 FROM watchlist_symbols \
             WHERE watchlist_id = $1 ON CONFLICT (watchlist_id, symbol) DO NOTHING",
        )
        .bind(watchlist_id)
        .bind(symbol)
        .execute(&mut **t)
        .await?
        .rows_affected()
    });
    Ok(added == 1)
}

/// Removes a symbol; false when it was not there.
pub async fn remove_symbol(
    tx: &mut Tx,
    watchlist_id: i64,
    symbol: &str,
) -> Result<bool, StoreError> {
    let removed = on_tx!(tx, t => {
        sqlx::query("DELETE FROM watchlist_symbols WHERE watchlist_id = $1 AND symbol = $2")
            .bind(watchlist_id)
            .bind(symbol)
            .execute(&mut **t)
            .await?
            .rows_affected()
    });
    Ok(removed == 1)
}

/// Removes every symbol.
pub async fn clear(tx: &mut Tx, watchlist_id: i64) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query("DELETE FROM watchlist_symbols WHERE watchlist_id = $1")
            .bind(watchlist_id)
            .execute(&mut **t)
            .await?;
    });
    Ok(())
}

/// Renames a watchlist and marks it changed (a name in use is a unique violation).
pub async fn save(
    tx: &mut Tx,
    watchlist_id: i64,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Watchlist, StoreError> {
    let sql = format!(
        "UPDATE watchlists SET name = $1, updated_at = $2 WHERE id = $3 RETURNING {COLUMNS}"
    );
    Ok(on_tx!(tx, t => {
        sqlx::query_as(&sql).bind(name).bind(now).bind(watchlist_id).fetch_one(&mut **t).await?
    }))
}

/// Deletes a watchlist and its symbols.
pub async fn delete(tx: &mut Tx, watchlist_id: i64) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query("DELETE FROM watchlist_symbols WHERE watchlist_id = $1")
            .bind(watchlist_id)
            .execute(&mut **t)
            .await?;
        sqlx::query("DELETE FROM watchlists WHERE id = $1")
            .bind(watchlist_id)
            .execute(&mut **t)
            .await?;
    });
    Ok(())
}
