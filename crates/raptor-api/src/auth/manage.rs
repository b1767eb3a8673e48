//! The signed-in user's own session and passkeys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::passkeys::{self, PasskeyError};
use raptor_app::sessions::{self, SessionError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ceremony::{PasskeyView, SignedIn, UserView};
use crate::extract::{ApiJson, ClientInfo};
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
            PasskeyError::LastOne => Problem::new(ProblemCode::LastPasskey, err.to_string()),
            PasskeyError::AlreadyRegistered => {
                Problem::new(ProblemCode::CredentialRegistered, err.to_string())
            }
            PasskeyError::Vanished(_) => Problem::internal(&err),
            PasskeyError::Store(err) => err.into(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct SessionAnswer {
    #[serde(flatten)]
    signed_in: SignedIn,
    session: SessionView,
}

#[derive(Serialize)]
pub(crate) struct SessionView {
    id: i64,
    auth_method: String,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    ip: Option<String>,
    user_agent: Option<String>,
    current: bool,
}

fn view(s: &raptor_store::sessions::Session, current_id: i64) -> SessionView {
    SessionView {
        id: s.id,
        auth_method: s.auth_method.clone(),
        created_at: s.created_at,
        last_seen_at: s.last_seen_at,
        expires_at: s.expires_at,
        ip: s.ip.clone(),
        user_agent: s.user_agent.clone(),
        current: s.id == current_id,
    }
}

pub(crate) async fn session(current: CurrentSession) -> Json<SessionAnswer> {
    Json(SessionAnswer {
        session: view(&current.session, current.session.id),
        signed_in: SignedIn {
            user: UserView::from(&current.user),
            roles: current.roles,
        },
    })
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
) -> Result<impl IntoResponse, Problem> {
    let entry = current.own_action(&client, "auth.logout", Value::Null);
    sessions::sign_out(&state, current.user.id, current.session.id, &entry).await?;
    Ok((
        [session::clearing_cookie(&state)],
        Json(json!({ "status": "signed_out" })),
    ))
}

pub(crate) async fn sessions(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Vec<SessionView>>, Problem> {
    let list = sessions::live(&state, current.user.id).await?;
    Ok(Json(
        list.iter().map(|s| view(s, current.session.id)).collect(),
    ))
}

pub(crate) async fn revoke_session(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    let entry = current.own_action(
        &client,
        "session.revoke",
        json!({ "revoked_session_id": id }),
    );
    sessions::revoke(&state, current.user.id, id, &entry).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn passkeys(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Vec<PasskeyView>>, Problem> {
    let keys = passkeys::list(&state, current.user.id).await?;
    Ok(Json(keys.iter().map(PasskeyView::from).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenameRequest {
    name: String,
}

pub(crate) async fn rename_passkey(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<RenameRequest>,
) -> Result<StatusCode, Problem> {
    passkeys::rename(&state, current.user.id, id, &req.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn delete_passkey(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    let entry = current.own_action(&client, "passkey.delete", json!({ "passkey_id": id }));
    passkeys::delete(&state, current.user.id, id, &entry).await?;
    Ok(StatusCode::NO_CONTENT)
}
