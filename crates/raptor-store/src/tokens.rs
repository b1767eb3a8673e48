//! Single-use tokens sent out of band: bootstrap-admin tokens and emailed links (sign-in,
//! address proof).
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
    on_write!(db, pool => {
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

/// What an emailed link is for; a link works only for its own purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Signs the user in (recovery).
    Login,
    /// Proves the user receives mail at their address (sent at sign-up).
    Verify,
}

impl LinkPurpose {
    /// The stored spelling (the baseline schema calls address proof at sign-up `signup`).
    fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Login => "login",
            LinkPurpose::Verify => "signup",
        }
    }

    /// Whether a new link retires the user's earlier ones. Sign-in links do: only the newest
    /// may open a session. Any verification link mailed proves the same inbox, so each works
    /// until one is used.
    fn newest_only(self) -> bool {
        self == LinkPurpose::Login
    }
}

/// An emailed link to store: its token's hash, whom it is for, and when it stops working.
#[derive(Debug, Clone, Copy)]
pub struct NewLink<'a> {
    /// What it is for.
    pub purpose: LinkPurpose,
    /// The token's hash.
    pub token_hash: &'a [u8],
    /// The address it is mailed to.
    pub email: &'a str,
    /// The user it is for.
    pub user_id: i64,
    /// The client that asked for it.
    pub ip: Option<&'a str>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Stores an emailed link; a sign-in link retires the user's earlier unused ones in the same
/// transaction, so only the newest works.
pub async fn issue_link(db: &Db, link: &NewLink<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    if link.purpose.newest_only() {
        retire_links(&mut tx, link.purpose, link.user_id, now).await?;
    }
    on_tx!(tx, t => {
        sqlx::query(
            "INSERT INTO email_login_tokens (token_hash, email, user_id, purpose, created_at, \
             expires_at, ip) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(link.token_hash)
        .bind(link.email)
        .bind(link.user_id)
        .bind(link.purpose.as_str())
        .bind(now)
        .bind(link.expires_at)
        .bind(link.ip)
        .execute(&mut **t)
        .await?;
    });
    tx.commit().await
}

/// The user an emailed link of `purpose` is for, without using it: None when unknown, used,
/// expired or made for another purpose, as [`use_link`] would find it.
pub async fn link_user(
    db: &Db,
    purpose: LinkPurpose,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let user: Option<Option<i64>> = on_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT user_id FROM email_login_tokens WHERE token_hash = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(pool)
        .await?
    });
    Ok(user.flatten())
}

/// Uses an emailed link of `purpose`; the user it is for, or None when unknown, used, expired
/// or made for another purpose. Using one retires the user's other unused links of that purpose.
pub async fn use_link(
    tx: &mut Tx,
    purpose: LinkPurpose,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let user: Option<Option<i64>> = on_tx!(tx, t => {
        sqlx::query_scalar(
            "UPDATE email_login_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 \
             AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
        )
        .bind(now)
        .bind(token_hash)
        .bind(purpose.as_str())
        .fetch_optional(&mut **t)
        .await?
    });
    let user = user.flatten();
    if let Some(user_id) = user {
        retire_links(tx, purpose, user_id, now).await?;
    }
    Ok(user)
}

/// Ends the user's unused, unexpired links of `purpose` by expiring them now (the row stays,
/// for the record, until [`purge_expired`]).
async fn retire_links(
    tx: &mut Tx,
    purpose: LinkPurpose,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query(
            "UPDATE email_login_tokens SET expires_at = $1 WHERE user_id = $2 AND purpose = $3 \
             AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(user_id)
        .bind(purpose.as_str())
        .execute(&mut **t)
        .await?;
    });
    Ok(())
}

/// Deletes sign-in links and bootstrap tokens that expired before `cutoff` (used or not:
/// either way they can no longer be used); returns how many.
pub async fn purge_expired(db: &Db, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(on_write!(db, pool => {
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
