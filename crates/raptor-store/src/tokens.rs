//! Single-use tokens sent out of band: bootstrap-admin tokens and email sign-in links.
//! Only hashes are stored; using one is a single conditional `UPDATE`, so it works once.

use chrono::{DateTime, Utc};

use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// Stores a bootstrap token for the first admin.
pub async fn issue_bootstrap(
    db: &Db,
    token_hash: &[u8],
    created_by: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO bootstrap_tokens (token_hash, purpose, created_by, created_at, expires_at) \
             VALUES ($1, 'first_admin', $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(created_by)
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Whether a bootstrap token is unused and unexpired (a pre-check; [`use_bootstrap`] decides).
pub async fn bootstrap_is_valid(
    db: &Db,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM bootstrap_tokens WHERE token_hash = $1 \
             AND used_at IS NULL AND expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_one(pool)
        .await?
    }))
}

/// Uses a bootstrap token for `user_id`; false when it is unknown, used or expired.
pub async fn use_bootstrap(
    tx: &mut Tx,
    token_hash: &[u8],
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let used = on_tx!(tx, t => {
        sqlx::query(
            "UPDATE bootstrap_tokens SET used_at = $1, user_id = $2 WHERE token_hash = $3 \
             AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(user_id)
        .bind(token_hash)
        .execute(&mut **t)
        .await?
        .rows_affected()
    });
    Ok(used == 1)
}

/// Stores an email sign-in token for a user, retiring the user's earlier unused ones in the
/// same transaction: only the newest link works.
pub async fn issue_email_login(
    db: &Db,
    token_hash: &[u8],
    email: &str,
    user_id: i64,
    ip: Option<&str>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    retire_email_logins(&mut tx, user_id, now).await?;
    on_tx!(tx, t => {
        sqlx::query(
            "INSERT INTO email_login_tokens (token_hash, email, user_id, purpose, created_at, \
             expires_at, ip) VALUES ($1, $2, $3, 'login', $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(email)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .bind(ip)
        .execute(&mut **t)
        .await?;
    });
    tx.commit().await
}

/// The user an email sign-in token would sign in, without using it: None when unknown, used
/// or expired, as [`use_email_login`] would find it.
pub async fn email_login_user(
    db: &Db,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let user: Option<Option<i64>> = on_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT user_id FROM email_login_tokens WHERE token_hash = $1 \
             AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(pool)
        .await?
    });
    Ok(user.flatten())
}

/// Uses an email sign-in token; the user it signs in, or None when unknown, used or expired.
/// Using one retires every other unused link of that user.
pub async fn use_email_login(
    tx: &mut Tx,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let user: Option<Option<i64>> = on_tx!(tx, t => {
        sqlx::query_scalar(
            "UPDATE email_login_tokens SET used_at = $1 WHERE token_hash = $2 \
             AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
        )
        .bind(now)
        .bind(token_hash)
        .fetch_optional(&mut **t)
        .await?
    });
    let user = user.flatten();
    if let Some(user_id) = user {
        retire_email_logins(tx, user_id, now).await?;
    }
    Ok(user)
}

/// Ends the user's unused, unexpired sign-in links by expiring them now (the row stays, for
/// the record, until [`purge_expired`]).
async fn retire_email_logins(
    tx: &mut Tx,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query(
            "UPDATE email_login_tokens SET expires_at = $1 WHERE user_id = $2 \
             AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(user_id)
        .execute(&mut **t)
        .await?;
    });
    Ok(())
}

/// Deletes sign-in links and bootstrap tokens that expired before `cutoff` (used or not:
/// either way they can no longer be used); returns how many.
pub async fn purge_expired(db: &Db, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(on_pool!(db, pool => {
        let links = sqlx::query("DELETE FROM email_login_tokens WHERE expires_at < $1")
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected();
        let bootstrap = sqlx::query("DELETE FROM bootstrap_tokens WHERE expires_at < $1")
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected();
        links + bootstrap
    }))
}
