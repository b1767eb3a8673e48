//! Pending WebAuthn ceremonies, kept in the database so any process can finish what another
//! began. Each is stored under the hash of a random handle and is used up by the
//! transaction that completes it, before it expires.

use chrono::Duration;
use raptor_store::audit;
use raptor_store::passkeys::{self, Ceremony};
use raptor_store::{StoreError, Tx};
use serde_json::{json, Value};

use crate::accounts::auth_event;
use crate::secrets::{new_token, token_hash};
use crate::{App, Client};

/// How long a ceremony may take from options to answer.
pub const CEREMONY_TTL: Duration = Duration::minutes(5);

/// What a ceremony proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Registering a passkey (sign-up, or adding one).
    Registration,
    /// Signing in with one.
    Authentication,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Registration => "registration",
            Kind::Authentication => "authentication",
        }
    }

    /// The audit action a refused ceremony of this kind is recorded under.
    fn audit_action(self) -> &'static str {
        match self {
            Kind::Registration => "auth.register",
            Kind::Authentication => "auth.login",
        }
    }
}

/// Why a ceremony could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    /// Unknown, or already used.
    #[error("this ceremony is unknown or was already used; start again")]
    Unknown,
    /// Past its deadline.
    #[error("this ceremony expired; start again")]
    Expired,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CeremonyError {
    /// The stable code, also recorded in the audit entry.
    pub fn code(&self) -> &'static str {
        match self {
            CeremonyError::Unknown => "unknown_ceremony",
            CeremonyError::Expired => "ceremony_expired",
            CeremonyError::Store(_) => "internal_error",
        }
    }
}

/// Stores the library's ceremony `state` (and what the finish needs to know, `context`); the
/// handle to give the client.
pub async fn begin(
    app: &App,
    kind: Kind,
    user_id: Option<i64>,
    state: &Value,
    context: Option<&Value>,
) -> Result<String, StoreError> {
    let ceremony_id = new_token();
    let now = app.now();
    passkeys::begin_ceremony(
        &app.db,
        &token_hash(&ceremony_id),
        kind.as_str(),
        user_id,
        state,
        context,
        now,
        now + CEREMONY_TTL,
    )
    .await?;
    Ok(ceremony_id)
}

/// Opens a ceremony to answer it; unknown, used and expired handles are refused and audited.
/// It stays stored until [`finish`] deletes it in the transaction that acts on it (or
/// [`abandon`] drops a refused answer), so an answer whose commit fails can be sent again.
pub async fn open(
    app: &App,
    kind: Kind,
    ceremony_id: &str,
    client: &Client,
) -> Result<Ceremony, CeremonyError> {
    let found = passkeys::ceremony(&app.db, &token_hash(ceremony_id), kind.as_str()).await?;
    let now = app.now();
    let (user_id, refusal) = match found {
        Some(c) if c.expires_at > now => return Ok(c),
        Some(c) => {
            passkeys::drop_ceremony(&app.db, &c.token_hash).await?;
            (c.user_id, CeremonyError::Expired)
        }
        None => (None, CeremonyError::Unknown),
    };
    let mut entry = auth_event(kind.audit_action(), "failure", None, client);
    entry.actor_user_id = user_id;
    entry.details = Some(json!({ "reason": refusal.code() }));
    audit::record_alone(&app.db, &entry, now).await?;
    Err(refusal)
}

/// Uses up `ceremony` inside the transaction that completes it. When a concurrent answer to
/// the same ceremony finished first this is [`CeremonyError::Unknown`], and the caller's
/// transaction must be dropped uncommitted.
pub async fn finish(tx: &mut Tx, ceremony: &Ceremony) -> Result<(), CeremonyError> {
    if passkeys::finish_ceremony(tx, &ceremony.token_hash).await? {
        Ok(())
    } else {
        Err(CeremonyError::Unknown)
    }
}

/// Drops a ceremony whose answer was refused: it cannot be answered again.
pub async fn abandon(app: &App, ceremony: &Ceremony) -> Result<(), StoreError> {
    passkeys::drop_ceremony(&app.db, &ceremony.token_hash).await
}
