//! Fixed-window counters shared by every server process through the database.

use chrono::{DateTime, Utc};

use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

const HIT: &str = "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1) \
                   ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1 \
                   RETURNING count";

/// Counts one hit on `key` in the window starting at `window_start`; returns the new count.
pub async fn hit(db: &Db, key: &str, window_start: DateTime<Utc>) -> Result<i64, StoreError> {
    Ok(on_write!(db, pool => {
        sqlx::query_scalar(HIT).bind(key).bind(window_start).fetch_one(pool).await?
    }))
}

/// [`hit`] inside a write transaction: the hit stands only if the transaction commits.
pub async fn hit_in(
    tx: &mut Tx,
    key: &str,
    window_start: DateTime<Utc>,
) -> Result<i64, StoreError> {
    Ok(on_tx!(tx, t => {
        sqlx::query_scalar(HIT).bind(key).bind(window_start).fetch_one(&mut **t).await?
    }))
}

/// Takes back one hit on `key` in the window starting at `window_start` (never below zero).
pub async fn unhit(db: &Db, key: &str, window_start: DateTime<Utc>) -> Result<(), StoreError> {
    on_write!(db, pool => {
        sqlx::query(
            "UPDATE rate_limits SET count = count - 1 \
             WHERE key = $1 AND window_start = $2 AND count > 0",
        )
        .bind(key)
        .bind(window_start)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Drops windows that started before `cutoff`; returns how many.
pub async fn purge(db: &Db, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(on_write!(db, pool => {
        sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}
