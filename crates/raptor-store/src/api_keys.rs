//! API key pairs for the `/v2` API. The key id is public; only the secret's hash is stored.

use chrono::{DateTime, Utc};

use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// A key pair as stored (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKey {
    /// Row id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// The public half, sent as `APCA-API-KEY-ID`.
    pub key_id: String,
    /// The owner's name for it.
    pub name: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, user_id, key_id, name, created_at, last_used_at, revoked_at";

/// A key pair to store.
#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    /// Owner.
    pub user_id: i64,
    /// The public half.
    pub key_id: &'a str,
    /// SHA-256 of the secret.
    pub secret_hash: &'a [u8],
    /// The owner's name for it.
    pub name: &'a str,
}

/// Stores a key pair.
pub async fn insert(
    tx: &mut Tx,
    key: &NewApiKey<'_>,
    now: DateTime<Utc>,
) -> Result<ApiKey, StoreError> {
    let sql = format!(
        "INSERT INTO api_keys (user_id, key_id, secret_hash, name, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    );
    Ok(on_tx!(tx, t => {
        sqlx::query_as(&sql)
            .bind(key.user_id)
            .bind(key.key_id)
            .bind(key.secret_hash)
            .bind(key.name)
            .bind(now)
            .fetch_one(&mut **t)
            .await?
    }))
}

/// How many unrevoked keys a user has, inside the transaction that adds one. On PostgreSQL
/// the user's row is locked first, so two concurrent additions cannot both take the last place
/// (SQLite's write transaction already serialises them).
pub async fn count_live_in(tx: &mut Tx, user_id: i64) -> Result<i64, StoreError> {
    let lock = format!(
        "SELECT id FROM users WHERE id = $1{}",
        tx.dialect().row_lock()
    );
    Ok(on_tx!(tx, t => {
        sqlx::query(&lock).bind(user_id).fetch_optional(&mut **t).await?;
        sqlx::query_scalar("SELECT count(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user_id)
            .fetch_one(&mut **t)
            .await?
    }))
}

/// A user's unrevoked keys, newest first.
pub async fn live(db: &Db, user_id: i64) -> Result<Vec<ApiKey>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL \
         ORDER BY created_at DESC, id DESC"
    );
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(user_id).fetch_all(pool).await?))
}

/// Revokes one of a user's keys; None when they have no such unrevoked key.
pub async fn revoke(
    tx: &mut Tx,
    user_id: i64,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Option<ApiKey>, StoreError> {
    let sql = format!(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 \
         AND revoked_at IS NULL RETURNING {COLUMNS}"
    );
    Ok(on_tx!(tx, t => {
        sqlx::query_as(&sql).bind(now).bind(id).bind(user_id).fetch_optional(&mut **t).await?
    }))
}

/// Revokes every live key of a user (the account was suspended, signed out everywhere, or
/// changed how it signs in); how many.
pub async fn revoke_all(tx: &mut Tx, user_id: i64, now: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(on_tx!(tx, t => {
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(user_id)
            .execute(&mut **t)
            .await?
            .rows_affected()
    }))
}

/// Who a presented key pair belongs to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyHolder {
    /// The key's row id.
    pub key: i64,
    /// Its owner.
    pub user_id: i64,
    /// Whether the owner may use the service (not suspended).
    pub active: bool,
    /// When the key was last used.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The holder of an unrevoked key pair, in one read; None when the id is unknown, revoked or
/// the secret does not match.
pub async fn holder(
    db: &Db,
    key_id: &str,
    secret_hash: &[u8],
) -> Result<Option<KeyHolder>, StoreError> {
    let sql = "SELECT k.id AS key, k.user_id, u.status = 'active' AS active, k.last_used_at \
               FROM api_keys k JOIN users u ON u.id = k.user_id \
               WHERE k.key_id = $1 AND k.secret_hash = $2 AND k.revoked_at IS NULL";
    Ok(on_pool!(db, pool => {
        sqlx::query_as(sql).bind(key_id).bind(secret_hash).fetch_optional(pool).await?
    }))
}

/// Records that a key was used at `now`.
pub async fn touch(db: &Db, key: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
    on_write!(db, pool => {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(key)
            .execute(pool)
            .await?;
    });
    Ok(())
}
