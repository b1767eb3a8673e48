//! The signed-in user's own session and passkeys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_domain::DisplayName;
use raptor_store::passkeys::{self, Removal};
use raptor_store::{audit, sessions};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ceremony::{PasskeyView, SignedIn, UserView};
use crate::extract::{ApiJson, ClientInfo};
use crate::session::{self, CurrentSession};
use crate::{AppState, Problem};
use raptor_app::sessions::IDLE_TIMEOUT;

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

fn view(s: &sessions::Session, current_id: i64) -> SessionView {
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
    let now = state.now();
    let mut tx = state.db.begin().await?;
    sessions::revoke(&mut tx, current.user.id, current.session.id, now).await?;
    let entry = current.own_action(&client, "auth.logout", Value::Null);
    audit::record(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok((
        [session::clearing_cookie(&state)],
        Json(json!({ "status": "signed_out" })),
    ))
}

pub(crate) async fn sessions(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Vec<SessionView>>, Problem> {
    let now = state.now();
    let list = sessions::of_user(&state.db, current.user.id, now, now - IDLE_TIMEOUT).await?;
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
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if !sessions::revoke(&mut tx, current.user.id, id, now).await? {
        return Err(Problem::not_found(format!("you have no live session {id}")));
    }
    let entry = current.own_action(
        &client,
        "session.revoke",
        json!({ "revoked_session_id": id }),
    );
    audit::record(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn passkeys(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Vec<PasskeyView>>, Problem> {
    let keys = passkeys::of_user(&state.db, current.user.id).await?;
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
    let name = DisplayName::parse("name", &req.name).map_err(Problem::invalid)?;
    if !passkeys::rename(&state.db, current.user.id, id, name.as_str()).await? {
        return Err(Problem::not_found(format!("you have no passkey {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn delete_passkey(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    match passkeys::delete(&mut tx, current.user.id, id).await? {
        Removal::NotFound => Err(Problem::not_found(format!("you have no passkey {id}"))),
        Removal::LastOne => Err(Problem::conflict(
            "last_passkey",
            "this is your only passkey; add another before deleting it",
        )),
        Removal::Deleted => {
            let entry = current.own_action(&client, "passkey.delete", json!({ "passkey_id": id }));
            audit::record(&mut tx, &entry, now).await?;
            tx.commit().await?;
            Ok(StatusCode::NO_CONTENT)
        }
    }
}
