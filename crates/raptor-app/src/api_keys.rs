//! API key pairs: how a user's bots reach the `/v2` (Alpaca-compatible) API. The key id is
//! public; the secret is shown once, at creation, and only its hash is kept. Making and
//! revoking keys is audited; making one needs a session that proved who the user is recently.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use raptor_domain::InvalidInput;
use raptor_store::api_keys::{self, ApiKey, KeyHolder, NewApiKey};
use raptor_store::audit::{self, AuditEvent};
use raptor_store::sessions::Session;
use raptor_store::users::User;
use raptor_store::StoreError;
use serde_json::json;

use crate::credentials::{self, StepUpRequired};
use crate::limits::Limit;
use crate::secrets::{random_key, token_hash};
use crate::{text, App};

/// Most unrevoked keys one user may hold.
pub const MAX_KEYS_PER_USER: i64 = 10;
/// Requests per user per minute on the `/v2` API, whichever of their keys they come with, as
/// Alpaca allows per account.
pub const REQUESTS_PER_MINUTE: Limit = Limit {
    name: "api:key",
    max: 200,
    window: Duration::minutes(1),
};
/// `last_used_at` is written at most this often.
const TOUCH_EVERY: Duration = Duration::minutes(1);
/// Key ids are `PK` and this many characters of `A-Z0-9`, as Alpaca's paper keys look.
const KEY_ID_CHARS: usize = 18;

/// Why a key could not be made or revoked.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    /// The name breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The user already holds [`MAX_KEYS_PER_USER`] keys.
    #[error("you already have {max} API keys, the most you may have; revoke one first")]
    TooMany {
        /// The cap.
        max: i64,
    },
    /// The user has no such unrevoked key.
    #[error("you have no API key {0}")]
    Unknown(i64),
    /// The session has not proved who the user is recently enough.
    #[error(transparent)]
    StepUpRequired(#[from] StepUpRequired),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key pair just made: the secret is here and nowhere else.
#[derive(Debug, Clone)]
pub struct Made {
    /// The key as stored.
    pub key: ApiKey,
    /// The secret, shown once.
    pub secret: String,
}

/// A fresh key id: `PK` and [`KEY_ID_CHARS`] uniformly drawn characters of `A-Z0-9`.
fn new_key_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut id = String::from("PK");
    while id.len() < 2 + KEY_ID_CHARS {
        for byte in random_key() {
            // 252 = 7 × 36: bytes past it are skipped, so every character is equally likely.
            if byte < 252 && id.len() < 2 + KEY_ID_CHARS {
                id.push(char::from(ALPHABET[usize::from(byte % 36)]));
            }
        }
    }
    id
}

/// A fresh secret: 240 random bits, 40 characters of base64url.
fn new_secret() -> String {
    URL_SAFE_NO_PAD.encode(&random_key()[..30])
}

/// Makes a key pair for `user`, named `name` (default "API key"). `audit` names who and from
/// where; its action and target are filled in here.
pub async fn create(
    app: &App,
    user: &User,
    session: &Session,
    name: Option<&str>,
    mut audit_event: AuditEvent,
) -> Result<Made, ApiKeyError> {
    let name = text::optional_line("name", name, 100)?.unwrap_or("API key");
    credentials::require_fresh::<ApiKeyError>(app, session).await?;
    let key_id = new_key_id();
    let secret = new_secret();
    let now = app.now();
    let mut tx = app.db.begin().await?;
    if api_keys::count_live_in(&mut tx, user.id).await? >= MAX_KEYS_PER_USER {
        return Err(ApiKeyError::TooMany {
            max: MAX_KEYS_PER_USER,
        });
    }
    let new = NewApiKey {
        user_id: user.id,
        key_id: &key_id,
        secret_hash: &token_hash(&secret),
        name,
    };
    let key = api_keys::insert(&mut tx, &new, now).await?;
    audit_event.action = "api_key.create";
    audit_event.target_type = Some("api_key");
    audit_event.target_id = Some(key.id.to_string());
    audit_event.details = Some(json!({ "key_id": key.key_id, "name": key.name }));
    audit::record(&mut tx, &audit_event, now).await?;
    tx.commit().await?;
    Ok(Made { key, secret })
}

/// The user's unrevoked keys, newest first.
pub async fn live(app: &App, user_id: i64) -> Result<Vec<ApiKey>, StoreError> {
    api_keys::live(&app.db, user_id).await
}

/// Revokes one of `user_id`'s keys at once, on every server; audited.
pub async fn revoke(
    app: &App,
    user_id: i64,
    id: i64,
    mut audit_event: AuditEvent,
) -> Result<ApiKey, ApiKeyError> {
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let key = api_keys::revoke(&mut tx, user_id, id, now)
        .await?
        .ok_or(ApiKeyError::Unknown(id))?;
    audit_event.action = "api_key.revoke";
    audit_event.target_type = Some("api_key");
    audit_event.target_id = Some(key.id.to_string());
    audit_event.details = Some(json!({ "key_id": key.key_id, "name": key.name }));
    audit::record(&mut tx, &audit_event, now).await?;
    tx.commit().await?;
    Ok(key)
}

/// The holder of a presented key pair, if it is live and the secret matches; marks the key
/// used (at most once a minute).
pub async fn authenticate(
    app: &App,
    key_id: &str,
    secret: &str,
) -> Result<Option<KeyHolder>, StoreError> {
    // No key id holds anything else; PostgreSQL would refuse a NUL in the lookup.
    let plausible =
        (1..=64).contains(&key_id.len()) && key_id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !plausible {
        return Ok(None);
    }
    let Some(holder) = api_keys::holder(&app.db, key_id, &token_hash(secret)).await? else {
        return Ok(None);
    };
    let now = app.now();
    if holder.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY) {
        // Bookkeeping: a busy or read-only database must not refuse a request for it.
        if let Err(err) = api_keys::touch(&app.db, holder.key, now).await {
            tracing::warn!(error = %err, "could not record an API key's use");
        }
    }
    Ok(Some(holder))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_look_like_alpacas_and_secrets_are_long() {
        let id = new_key_id();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("PK"));
        assert!(id[2..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        assert_ne!(id, new_key_id());
        assert_eq!(new_secret().len(), 40);
    }
}
