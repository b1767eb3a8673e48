//! Marketing contacts with double opt-in.

use chrono::{DateTime, Utc};

use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// What a subscribe request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    /// A confirmation is needed (new, pending, or previously unsubscribed): send one.
    NeedsConfirmation,
    /// Already confirmed: nothing to send.
    AlreadyConfirmed,
}

/// Subscribes an address (one row per address), storing fresh token hashes unless the
/// address is already confirmed.
pub async fn subscribe(
    tx: &mut Tx,
    email: &str,
    source: Option<&str>,
    confirm_hash: &[u8],
    unsubscribe_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Subscribed, StoreError> {
    let status: Option<String> = on_tx!(tx, t => {
        sqlx::query_scalar("SELECT status FROM marketing_contacts WHERE email = $1")
            .bind(email)
            .fetch_optional(&mut **t)
            .await?
    });
    if status.as_deref() == Some("confirmed") {
        return Ok(Subscribed::AlreadyConfirmed);
    }
    on_tx!(tx, t => {
        sqlx::query(
            "INSERT INTO marketing_contacts (email, status, source, confirm_token_hash, \
             unsubscribe_token_hash, created_at, updated_at) VALUES ($1, 'pending', $2, $3, $4, $5, $5) \
             ON CONFLICT (email) DO UPDATE SET status = 'pending', \
             confirm_token_hash = excluded.confirm_token_hash, \
             unsubscribe_token_hash = excluded.unsubscribe_token_hash, \
             unsubscribed_at = NULL, updated_at = excluded.updated_at",
        )
        .bind(email)
        .bind(source)
        .bind(confirm_hash)
        .bind(unsubscribe_hash)
        .bind(now)
        .execute(&mut **t)
        .await?;
    });
    Ok(Subscribed::NeedsConfirmation)
}

/// Confirms the address holding this confirmation token; its email, or None.
pub async fn confirm(
    db: &Db,
    confirm_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    Ok(on_write!(db, pool => {
        sqlx::query_scalar(
            "UPDATE marketing_contacts SET status = 'confirmed', confirmed_at = $1, updated_at = $1 \
             WHERE confirm_token_hash = $2 AND status = 'pending' RETURNING email",
        )
        .bind(now)
        .bind(confirm_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// Unsubscribes the address holding this token; its email, or None.
pub async fn unsubscribe(
    db: &Db,
    unsubscribe_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    Ok(on_write!(db, pool => {
        sqlx::query_scalar(
            "UPDATE marketing_contacts SET status = 'unsubscribed', unsubscribed_at = $1, updated_at = $1 \
             WHERE unsubscribe_token_hash = $2 RETURNING email",
        )
        .bind(now)
        .bind(unsubscribe_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// Gives a pending subscription new token hashes, for the confirmation email about to be
/// sent (earlier links stop working); false, changing nothing, unless the address is pending.
pub async fn reissue_tokens(
    db: &Db,
    email: &str,
    confirm_hash: &[u8],
    unsubscribe_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = on_write!(db, pool => {
        sqlx::query(
            "UPDATE marketing_contacts SET confirm_token_hash = $1, unsubscribe_token_hash = $2, \
             updated_at = $3 WHERE email = $4 AND status = 'pending'",
        )
        .bind(confirm_hash)
        .bind(unsubscribe_hash)
        .bind(now)
        .bind(email)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(done == 1)
}

/// An address's status, if known.
pub async fn status(db: &Db, email: &str) -> Result<Option<String>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar("SELECT status FROM marketing_contacts WHERE email = $1")
            .bind(email)
            .fetch_optional(pool)
            .await?
    }))
}
