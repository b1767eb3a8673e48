//! One-time backup codes, stored as password hashes (the codes are short).

use chrono::{DateTime, Utc};

use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// An unused code's row id and hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnusedCode {
    /// Row id.
    pub id: i64,
    /// The PHC-format hash.
    pub code_hash: String,
}

/// Replaces a user's codes with a new set of hashes.
pub async fn replace(
    tx: &mut Tx,
    user_id: i64,
    hashes: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query("DELETE FROM backup_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut **t)
            .await?;
        for hash in hashes {
            sqlx::query("INSERT INTO backup_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)")
                .bind(user_id)
                .bind(hash)
                .bind(now)
                .execute(&mut **t)
                .await?;
        }
    });
    Ok(())
}

/// A user's unused codes.
pub async fn unused(db: &Db, user_id: i64) -> Result<Vec<UnusedCode>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as("SELECT id, code_hash FROM backup_codes WHERE user_id = $1 AND used_at IS NULL ORDER BY id")
            .bind(user_id)
            .fetch_all(pool)
            .await?
    }))
}

/// Marks a code used; false when another request used it first.
pub async fn mark_used(tx: &mut Tx, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let changed = on_tx!(tx, t => {
        sqlx::query("UPDATE backup_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut **t)
            .await?
            .rows_affected()
    });
    Ok(changed == 1)
}
