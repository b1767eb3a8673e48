//! The signed-in user's own session and passkeys.

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::passkeys::{self, PasskeyError};
use raptor_app::sessions::{self, SessionError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::ceremony::{PasskeyView, SignedIn, UserView};
use super::{changer, TAG};
use crate::extract::{ApiJson, ApiPath, ClientInfo};
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::session::{self, CurrentSession};
use crate::{AppState, Problem, ProblemCode};

impl From<SessionError> for Problem {
    fn from(err: SessionError) -> Self {
        match err {
            SessionError::Unknown(_) => Problem::not_found(err.to_string()),
            SessionError::Store(err) => err.into(),
        }
    }
}

impl From<PasskeyError> for Problem {
    fn from(err: PasskeyError) -> Self {
        match err {
            PasskeyError::Invalid(input) => Problem::invalid(input),
            PasskeyError::Unknown(_) => Problem::not_found(err.to_string()),
            PasskeyError::StepUpRequired(err) => err.into(),
            PasskeyError::LastOne => Problem::new(ProblemCode::LastPasskey, err.to_string()),
            PasskeyError::AlreadyRegistered => {
                Problem::new(ProblemCode::CredentialRegistered, err.to_string())
            }
            PasskeyError::Vanished(_) => Problem::internal(&err),
            PasskeyError::Ceremony(err) => err.into(),
            PasskeyError::Store(err) => err.into(),
        }
    }
}

/// The signed-in user, their roles and this session.
#[derive(Serialize, ToSchema)]
#[schema(as = CurrentSession)]
pub(crate) struct SessionAnswer {
    #[serde(flatten)]
    signed_in: SignedIn,
    /// The permissions the user's live roles carry (`customers.read`, `roles.grant`, …).
    permissions: Vec<String>,
    /// The session this request used.
    session: SessionView,
}

/// A live session of the user's.
#[derive(Serialize, ToSchema)]
#[schema(as = Session)]
pub(crate) struct SessionView {
    /// Session id.
    id: i64,
    /// How it was signed in: `passkey`, `backup_code` or `email_link`.
    auth_method: String,
    /// When it was signed in.
    created_at: DateTime<Utc>,
    /// When it last proved a passkey; null when it never did (an email link or backup code).
    /// Staff actions need one, and those changing money or access one within 10 minutes.
    #[schema(required = true)]
    passkey_proved_at: Option<DateTime<Utc>>,
    /// When it was last used.
    last_seen_at: DateTime<Utc>,
    /// When it ends unless it idles out first.
    expires_at: DateTime<Utc>,
    /// The address it was signed in from; null if unknown.
    #[schema(required = true)]
    ip: Option<String>,
    /// The browser it was signed in from; null if unknown.
    #[schema(required = true)]
    user_agent: Option<String>,
    /// Whether it is the session making this request.
    current: bool,
}

fn view(s: &raptor_store::sessions::Session, current_id: i64) -> SessionView {
    SessionView {
        id: s.id,
        auth_method: s.auth_method.clone(),
        created_at: s.created_at,
        passkey_proved_at: s.authenticated_at,
        last_seen_at: s.last_seen_at,
        expires_at: s.expires_at,
        ip: s.ip.clone(),
        user_agent: s.user_agent.clone(),
        current: s.id == current_id,
    }
}

/// Who is signed in, with which roles, through which session.
#[utoipa::path(get, path = "/api/auth/session", tag = TAG,
    responses(
        (status = 200, description = "The current session", body = SessionAnswer),
    ),
    security(("session" = [])))]
pub(crate) async fn session(current: CurrentSession) -> Json<SessionAnswer> {
    Json(SessionAnswer {
        session: view(&current.session, current.session.id),
        signed_in: SignedIn {
            user: UserView::from(&current.user),
            roles: current.roles,
        },
        permissions: current
            .permissions
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
    })
}

/// The answer to signing out.
#[derive(Serialize, ToSchema)]
pub(crate) struct SignedOut {
    /// Always `signed_out`.
    status: &'static str,
}

/// Ends this session and clears its cookie.
#[utoipa::path(post, path = "/api/auth/logout", tag = TAG,
    responses(
        (status = 200, description = "Signed out", body = SignedOut,
            headers(("set-cookie" = String, description = "Clears the session cookie"))),
    ),
    security(("session" = [])))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
) -> Result<([(HeaderName, HeaderValue); 1], Json<SignedOut>), Problem> {
    let entry = current.own_action(&client, "auth.logout", Value::Null);
    sessions::sign_out(&state, current.user.id, current.session.id, &entry).await?;
    Ok((
        [session::clearing_cookie(&state)],
        Json(SignedOut {
            status: "signed_out",
        }),
    ))
}

/// The user's live sessions, this one marked `current`.
#[utoipa::path(get, path = "/api/auth/sessions", tag = TAG,
    responses(
        (status = 200, description = "Live sessions", body = Vec<SessionView>),
    ),
    security(("session" = [])))]
pub(crate) async fn sessions(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Vec<SessionView>>, Problem> {
    let list = sessions::live(&state, current.user.id).await?;
    Ok(Json(
        list.iter().map(|s| view(s, current.session.id)).collect(),
    ))
}

/// Signs one of the user's sessions out (another device, say).
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = TAG,
    params(("id" = i64, Path, description = "Session id")),
    responses(
        (status = 204, description = "The session is revoked"),
        (status = 400, description = "The id is not a number",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The user has no live session with this id",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
pub(crate) async fn revoke_session(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, Problem> {
    let entry = current.own_action(
        &client,
        "session.revoke",
        json!({ "revoked_session_id": id }),
    );
    sessions::revoke(&state, current.user.id, id, &entry).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user's passkeys.
#[utoipa::path(get, path = "/api/auth/passkeys", tag = TAG,
    responses(
        (status = 200, description = "The passkeys, oldest first", body = Vec<PasskeyView>),
    ),
    security(("session" = [])))]
pub(crate) async fn passkeys(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Vec<PasskeyView>>, Problem> {
    let keys = passkeys::list(&state, current.user.id).await?;
    Ok(Json(keys.iter().map(PasskeyView::from).collect()))
}

/// A passkey's new name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasskeyRename)]
pub(crate) struct RenameRequest {
    /// What to call it.
    name: String,
}

/// Renames one of the user's passkeys.
#[utoipa::path(patch, path = "/api/auth/passkeys/{id}", tag = TAG,
    params(("id" = i64, Path, description = "Passkey id")),
    request_body = RenameRequest,
    responses(
        (status = 204, description = "Renamed"),
        (status = 400, description = "The id is not a number",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The user has no passkey with this id",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The name or the body is invalid",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
pub(crate) async fn rename_passkey(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<RenameRequest>,
) -> Result<StatusCode, Problem> {
    passkeys::rename(&state, current.user.id, id, &req.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes one of the user's passkeys; never the last. Needs a session that signed in or proved
/// a passkey within the last 10 minutes; the user's other sessions end and the user is emailed
/// (audited as `passkey.delete` with `revoked_sessions`).
#[utoipa::path(delete, path = "/api/auth/passkeys/{id}", tag = TAG,
    params(("id" = i64, Path, description = "Passkey id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "The id is not a number",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session neither signed in nor proved a passkey within \
            the last 10 minutes (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The user has no passkey with this id",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 409, description = "It is the account's last passkey",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
pub(crate) async fn delete_passkey(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, Problem> {
    let by = changer(&state, &current, &client, "passkey.delete");
    passkeys::delete(&state, &by, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
