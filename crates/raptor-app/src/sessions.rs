//! Sessions: issuing one at sign-in and finding the live one behind a token. Only a token's
//! hash is stored; the token itself goes to the client once.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use raptor_domain::{Permission, Role, STEP_UP_WINDOW};
use raptor_store::audit::{self, AuditEvent};
use raptor_store::sessions::{self, NewSession, Session};
use raptor_store::users::User;
use raptor_store::{StoreError, Tx};

use crate::roles;
use crate::secrets::{new_token, token_hash};
use crate::{App, Client};

/// A session ends this long after sign-in, whatever happens.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::days(14);
/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::hours(24);
/// `last_seen_at` is written at most this often, not on every request.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// The sign-in method a passkey proved.
pub const PASSKEY: &str = "passkey";

/// A freshly issued session: the token goes to the client, never into storage.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The session row id.
    pub id: i64,
    /// The secret the client presents from now on.
    pub token: String,
    /// When it ends, whatever happens.
    pub expires_at: DateTime<Utc>,
}

/// Opens a session inside the sign-in transaction. A passkey sign-in also counts as the
/// session's passkey proof (`authenticated_at`), which staff actions need.
pub async fn issue(
    tx: &mut Tx,
    user_id: i64,
    auth_method: &'static str,
    client: &Client,
    now: DateTime<Utc>,
) -> Result<Issued, StoreError> {
    let token = new_token();
    let expires_at = now + ABSOLUTE_TIMEOUT;
    let id = sessions::create(
        tx,
        &NewSession {
            token_hash: &token_hash(&token),
            user_id,
            auth_method,
            authenticated_at: (auth_method == PASSKEY).then_some(now),
            ip: client.ip.as_deref(),
            user_agent: client.user_agent.as_deref(),
            expires_at,
        },
        now,
    )
    .await?;
    Ok(Issued {
        id,
        token,
        expires_at,
    })
}

/// A live session and who it belongs to.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The session row.
    pub session: Session,
    /// Its user.
    pub user: User,
    /// The user's live roles.
    pub roles: Vec<Role>,
    /// The permissions those roles carry now.
    pub permissions: BTreeSet<Permission>,
}

impl Authenticated {
    /// Whether this session proved a passkey within [`STEP_UP_WINDOW`] of `now`.
    pub fn recently_proved_passkey(&self, now: DateTime<Utc>) -> bool {
        self.session
            .authenticated_at
            .is_some_and(|at| now - at <= STEP_UP_WINDOW)
    }
}

/// Whether `session` proved who its user is within [`STEP_UP_WINDOW`] of `now`: it was signed
/// in then, by any method (a passkey, a backup code, an email link), or it proved a passkey
/// then (a step-up). Changing how the account signs in needs such a session.
pub fn proved_identity_recently(session: &Session, now: DateTime<Utc>) -> bool {
    let last_proof = session
        .authenticated_at
        .map_or(session.created_at, |at| at.max(session.created_at));
    now - last_proof <= STEP_UP_WINDOW
}

/// Whether `token` still names a live session, without using it: a long-lived stream checks
/// this, and must not keep an idle session alive.
pub async fn is_live(app: &App, token: &str) -> Result<bool, StoreError> {
    let now = app.now();
    Ok(
        sessions::signed_in(&app.db, &token_hash(token), now, now - IDLE_TIMEOUT)
            .await?
            .is_some(),
    )
}

/// The live session behind `token`: not revoked, not past its absolute end, used within the
/// idle timeout. Using it keeps it alive (written at most once a minute).
pub async fn authenticate(app: &App, token: &str) -> Result<Option<Authenticated>, StoreError> {
    let now = app.now();
    let Some(found) =
        sessions::signed_in(&app.db, &token_hash(token), now, now - IDLE_TIMEOUT).await?
    else {
        return Ok(None);
    };
    let session = found.session;
    if now - session.last_seen_at > TOUCH_EVERY {
        sessions::touch(&app.db, session.id, now).await?;
    }
    let mut roles: Vec<Role> = found.roles.iter().filter_map(|n| n.parse().ok()).collect();
    roles.sort();
    let permissions = roles::known_permissions(&found.permissions);
    Ok(Some(Authenticated {
        session,
        user: found.user,
        roles,
        permissions,
    }))
}

/// Why a session could not be ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The user has no live session of that id.
    #[error("you have no live session {0}")]
    Unknown(i64),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The user's live sessions, newest first.
pub async fn live(app: &App, user_id: i64) -> Result<Vec<Session>, StoreError> {
    let now = app.now();
    sessions::of_user(&app.db, user_id, now, now - IDLE_TIMEOUT).await
}

/// Signs out: ends the user's own session at once and audits it, also when another request
/// ended it a moment earlier.
pub async fn sign_out(
    app: &App,
    user_id: i64,
    session_id: i64,
    audit_event: &AuditEvent,
) -> Result<(), StoreError> {
    let now = app.now();
    let mut tx = app.db.begin().await?;
    sessions::revoke(&mut tx, user_id, session_id, now).await?;
    audit::record(&mut tx, audit_event, now).await?;
    tx.commit().await
}

/// Ends another of the user's sessions at once (a lost device), audited with `audit_event` in
/// the same transaction.
pub async fn revoke(
    app: &App,
    user_id: i64,
    session_id: i64,
    audit_event: &AuditEvent,
) -> Result<(), SessionError> {
    let now = app.now();
    let mut tx = app.db.begin().await?;
    if !sessions::revoke(&mut tx, user_id, session_id, now).await? {
        return Err(SessionError::Unknown(session_id));
    }
    audit::record(&mut tx, audit_event, now).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(created: i64, proved: Option<i64>) -> Session {
        let at = |minutes| DateTime::UNIX_EPOCH + Duration::minutes(minutes);
        Session {
            id: 1,
            user_id: 1,
            auth_method: "email_link".to_owned(),
            created_at: at(created),
            authenticated_at: proved.map(at),
            last_seen_at: at(created),
            expires_at: at(created) + ABSOLUTE_TIMEOUT,
            ip: None,
            user_agent: None,
        }
    }

    #[test]
    fn a_session_is_fresh_for_ten_minutes_after_its_sign_in_or_its_last_step_up() {
        let now = DateTime::UNIX_EPOCH + Duration::minutes(100);
        assert!(proved_identity_recently(&session(90, None), now));
        assert!(!proved_identity_recently(&session(89, None), now));
        assert!(proved_identity_recently(&session(0, Some(95)), now));
        assert!(!proved_identity_recently(&session(0, Some(80)), now));
    }
}
