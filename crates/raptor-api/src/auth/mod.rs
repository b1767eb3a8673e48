//! Accounts: passkey sign-up and sign-in, sessions, passkey management, backup codes,
//! bootstrap admin and email sign-in links.

mod backup_codes;
mod ceremony;
mod email_link;
mod manage;

use axum::http::{HeaderName, HeaderValue};
use axum::routing::{delete, get, patch, post};
use axum::Json;
use raptor_app::accounts::{self};
use utoipa_axum::router::OpenApiRouter;

use crate::session;
use crate::AppState;
use ceremony::{SignedIn, UserView};

/// What a successful sign-in answers: the session cookie, the user and their roles.
pub(crate) type SignInAnswer = ([(HeaderName, HeaderValue); 1], Json<SignedIn>);

/// The answer to a finished sign-in or sign-up.
pub(crate) fn signed_in_answer(state: &AppState, signed_in: &accounts::SignedIn) -> SignInAnswer {
    (
        [session::session_cookie(state, &signed_in.session)],
        Json(SignedIn {
            user: UserView::from(&signed_in.user),
            roles: signed_in.roles.clone(),
        }),
    )
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
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
pub(crate) use accounts::auth_event as event;
