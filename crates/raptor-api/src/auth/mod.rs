//! Accounts: passkey sign-up and sign-in, sessions, passkey management, backup codes,
//! bootstrap admin and email sign-in links.

mod backup_codes;
mod ceremony;
mod email_link;
mod manage;

use axum::http::{HeaderName, HeaderValue};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use raptor_store::audit::{self, AuditEvent};
use raptor_store::users::{self, User};
use raptor_store::Tx;
use serde_json::Value;

use crate::extract::ClientInfo;
use crate::session;
use crate::{AppState, Problem};
use ceremony::{SignedIn, UserView};

/// What a successful sign-in answers: the session cookie, the user and their roles.
pub(crate) type SignInAnswer = ([(HeaderName, HeaderValue); 1], Json<SignedIn>);

/// Finishes a sign-in inside its transaction: the new session, the last-login time and the
/// audit entry commit together.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn complete_sign_in(
    state: &AppState,
    mut tx: Tx,
    user: &User,
    method: &'static str,
    action: &'static str,
    details: Option<Value>,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<SignInAnswer, Problem> {
    let issued = session::issue(&mut tx, user.id, method, client, now).await?;
    users::touch_login(&mut tx, user.id, now).await?;
    let mut entry = event(action, "success", Some((user.id, &user.email)), client);
    entry.session_id = Some(issued.id);
    entry.details = details;
    audit::record(&mut tx, &entry, now).await?;
    tx.commit().await?;
    let roles = users::roles(&state.db, user.id).await?;
    Ok((
        [issued.cookie(state)],
        Json(SignedIn {
            user: UserView::from(user),
            roles,
        }),
    ))
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/auth/register/options",
            post(ceremony::register_options),
        )
        .route("/api/auth/register", post(ceremony::register))
        .route("/api/auth/login/options", post(ceremony::login_options))
        .route("/api/auth/login", post(ceremony::login))
        .route("/api/auth/session", get(manage::session))
        .route("/api/auth/logout", post(manage::logout))
        .route("/api/auth/sessions", get(manage::sessions))
        .route("/api/auth/sessions/{id}", delete(manage::revoke_session))
        .route(
            "/api/auth/passkeys",
            get(manage::passkeys).post(ceremony::add_passkey),
        )
        .route(
            "/api/auth/passkeys/options",
            post(ceremony::add_passkey_options),
        )
        .route(
            "/api/auth/passkeys/{id}",
            patch(manage::rename_passkey).delete(manage::delete_passkey),
        )
        .route(
            "/api/auth/backup-codes",
            get(backup_codes::remaining).post(backup_codes::regenerate),
        )
        .route("/api/auth/backup-codes/login", post(backup_codes::login))
        .route("/api/auth/email-link", post(email_link::request))
        .route("/api/auth/email-link/login", post(email_link::login))
}

/// An audit event for an auth action by (or against) a user, from a client.
pub(crate) fn event(
    action: &'static str,
    outcome: &'static str,
    user: Option<(i64, &str)>,
    client: &ClientInfo,
) -> AuditEvent {
    AuditEvent {
        actor_user_id: user.map(|(id, _)| id),
        actor_email: user.map(|(_, email)| email.to_owned()),
        actor_type: "user",
        action,
        target_type: user.map(|_| "user"),
        target_id: user.map(|(id, _)| id.to_string()),
        outcome,
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        ..AuditEvent::default()
    }
}
