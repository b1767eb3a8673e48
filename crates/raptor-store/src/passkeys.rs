//! Registered passkeys and pending WebAuthn ceremonies.
//!
//! Ceremony state lives in the database, so any server process can finish what another began;
//! taking it is a single `DELETE … RETURNING`, so a ceremony finishes at most once.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// A passkey as stored: the library's serialised credential plus what people see.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredPasskey {
    /// Row id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// The credential id bytes.
    pub credential_id: Vec<u8>,
    /// The serialised credential (webauthn-rs `Passkey`).
    pub passkey: Json<Value>,
    /// Last signature counter seen.
    pub sign_count: i64,
    /// Whether the authenticator may back it up (synced passkey).
    pub backup_eligible: bool,
    /// Whether it is backed up now.
    pub backup_state: bool,
    /// The user's label.
    pub name: String,
    /// When registered.
    pub created_at: DateTime<Utc>,
    /// When last used to sign in.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What a new passkey row needs.
#[derive(Debug, Clone)]
pub struct NewPasskey<'a> {
    /// Owner.
    pub user_id: i64,
    /// Credential id bytes.
    pub credential_id: &'a [u8],
    /// Serialised credential.
    pub passkey: &'a Value,
    /// Signature counter at registration.
    pub sign_count: i64,
    /// Backup eligibility.
    pub backup_eligible: bool,
    /// Backup state.
    pub backup_state: bool,
    /// Label.
    pub name: &'a str,
}

const COLUMNS: &str = "id, user_id, credential_id, passkey, sign_count, backup_eligible, \
    backup_state, name, created_at, last_used_at";

/// Stores a passkey. A credential id already registered is a unique violation.
pub async fn insert(
    tx: &mut Tx,
    new: &NewPasskey<'_>,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let id = on_tx!(tx, t => {
        sqlx::query_scalar(
            "INSERT INTO webauthn_credentials (user_id, credential_id, passkey, sign_count, \
             backup_eligible, backup_state, name, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(new.user_id)
        .bind(new.credential_id)
        .bind(Json(new.passkey))
        .bind(new.sign_count)
        .bind(new.backup_eligible)
        .bind(new.backup_state)
        .bind(new.name)
        .bind(now)
        .fetch_one(&mut **t)
        .await?
    });
    Ok(id)
}

/// A user's passkeys, oldest first.
pub async fn of_user(db: &Db, user_id: i64) -> Result<Vec<StoredPasskey>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM webauthn_credentials WHERE user_id = $1 ORDER BY id");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(user_id).fetch_all(pool).await?))
}

/// Records a sign-in: the updated credential, counter and backup state.
pub async fn record_use(
    tx: &mut Tx,
    id: i64,
    passkey: &Value,
    sign_count: i64,
    backup_state: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query(
            "UPDATE webauthn_credentials SET passkey = $1, sign_count = $2, backup_state = $3, \
             last_used_at = $4 WHERE id = $5",
        )
        .bind(Json(passkey))
        .bind(sign_count)
        .bind(backup_state)
        .bind(now)
        .bind(id)
        .execute(&mut **t)
        .await?;
    });
    Ok(())
}

/// Renames one of a user's passkeys; false when the user has no such passkey.
pub async fn rename(db: &Db, user_id: i64, id: i64, name: &str) -> Result<bool, StoreError> {
    let changed = on_write!(db, pool => {
        sqlx::query("UPDATE webauthn_credentials SET name = $1 WHERE id = $2 AND user_id = $3")
            .bind(name)
            .bind(id)
            .bind(user_id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(changed == 1)
}

/// What deleting a passkey did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Deleted.
    Deleted,
    /// The user has no such passkey.
    NotFound,
    /// Refused: it is the user's last passkey.
    LastOne,
}

/// Deletes one of a user's passkeys unless it is their last.
pub async fn delete(tx: &mut Tx, user_id: i64, id: i64) -> Result<Removal, StoreError> {
    let (owned, total): (i64, i64) = on_tx!(tx, t => {
        sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN id = $1 THEN 1 ELSE 0 END), 0), count(*) \
             FROM webauthn_credentials WHERE user_id = $2",
        )
        .bind(id)
        .bind(user_id)
        .fetch_one(&mut **t)
        .await?
    });
    if owned == 0 {
        return Ok(Removal::NotFound);
    }
    if total <= 1 {
        return Ok(Removal::LastOne);
    }
    on_tx!(tx, t => {
        sqlx::query("DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut **t)
            .await?;
    });
    Ok(Removal::Deleted)
}

/// Deletes every passkey of a user; returns how many.
pub async fn delete_all(tx: &mut Tx, user_id: i64) -> Result<u64, StoreError> {
    Ok(on_tx!(tx, t => {
        sqlx::query("DELETE FROM webauthn_credentials WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut **t)
            .await?
            .rows_affected()
    }))
}

/// A pending ceremony.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Ceremony {
    /// The hash of the client's handle (the row's key).
    pub token_hash: Vec<u8>,
    /// The user it is for (None: sign-up or discoverable sign-in).
    pub user_id: Option<i64>,
    /// The library's serialised state.
    pub state: Json<Value>,
    /// Application data bound to it (e.g. the sign-up email).
    pub context: Option<Json<Value>>,
    /// After this it is refused.
    pub expires_at: DateTime<Utc>,
}

/// Stores a pending ceremony under the hash of the handle given to the client.
#[allow(clippy::too_many_arguments)]
pub async fn begin_ceremony(
    db: &Db,
    token_hash: &[u8],
    kind: &str,
    user_id: Option<i64>,
    state: &Value,
    context: Option<&Value>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_write!(db, pool => {
        sqlx::query(
            "INSERT INTO webauthn_challenges (token_hash, kind, user_id, state, context, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token_hash)
        .bind(kind)
        .bind(user_id)
        .bind(Json(state))
        .bind(context.map(Json))
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await?;
    });
    Ok(())
}

const CEREMONY_COLUMNS: &str = "token_hash, user_id, state, context, expires_at";

/// A pending ceremony, left in place: it is deleted by [`finish_ceremony`] inside the
/// transaction that acts on it, so a finish that fails before committing can be retried.
/// Expired ceremonies are returned too, so the caller can say "expired" rather than "unknown".
pub async fn ceremony(
    db: &Db,
    token_hash: &[u8],
    kind: &str,
) -> Result<Option<Ceremony>, StoreError> {
    let sql = format!(
        "SELECT {CEREMONY_COLUMNS} FROM webauthn_challenges WHERE token_hash = $1 AND kind = $2"
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as(&sql).bind(token_hash).bind(kind).fetch_optional(pool).await?
    }))
}

/// Deletes a ceremony inside the transaction that completes it; false when another request
/// finished (or dropped) it first, and then that transaction must not commit.
pub async fn finish_ceremony(tx: &mut Tx, token_hash: &[u8]) -> Result<bool, StoreError> {
    let deleted = on_tx!(tx, t => {
        sqlx::query("DELETE FROM webauthn_challenges WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut **t)
            .await?
            .rows_affected()
    });
    Ok(deleted == 1)
}

/// Deletes a ceremony on its own (refused or expired: it cannot be answered again).
pub async fn drop_ceremony(db: &Db, token_hash: &[u8]) -> Result<(), StoreError> {
    on_write!(db, pool => {
        sqlx::query("DELETE FROM webauthn_challenges WHERE token_hash = $1")
            .bind(token_hash)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Removes ceremonies that expired before `cutoff`; returns how many.
pub async fn purge_ceremonies(db: &Db, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(on_write!(db, pool => {
        sqlx::query("DELETE FROM webauthn_challenges WHERE expires_at < $1")
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}
