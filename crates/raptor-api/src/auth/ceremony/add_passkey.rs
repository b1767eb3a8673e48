//! Adding another passkey to a signed-in account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use raptor_app::passkeys;
use raptor_domain::DisplayName;
use raptor_store::passkeys::StoredPasskey;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use webauthn_rs::prelude::{
    CreationChallengeResponse, PasskeyRegistration, RegisterPublicKeyCredential, Uuid,
};

use crate::extract::{ApiJson, ClientInfo};
use crate::limits;
use crate::session::CurrentSession;
use crate::{AppState, Problem, ProblemCode};

use super::{discoverable, internal, store_ceremony, take_ceremony, Options, Registered};
use raptor_app::ceremonies::Kind;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddPasskeyRequest {
    ceremony_id: String,
    credential: RegisterPublicKeyCredential,
    #[serde(default)]
    name: Option<String>,
}

pub(crate) async fn add_passkey_options(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
) -> Result<Json<Options<CreationChallengeResponse>>, Problem> {
    limits::check(&state, limits::OPTIONS_PER_IP, client.ip_key()).await?;
    let user = &current.user;
    let handle = Uuid::from_slice(&user.user_handle).map_err(internal)?;
    let existing = passkeys::list(&state, user.id)
        .await?
        .into_iter()
        .map(|k| k.credential_id)
        .collect();
    let (options, registration) = state
        .config
        .webauthn
        .start_passkey_registration(handle, &user.email, &user.display_name, Some(existing))
        .map_err(internal)?;
    let registration = serde_json::to_value(&registration).map_err(internal)?;
    let context = json!({ "purpose": "add_passkey" });
    let ceremony_id = store_ceremony(
        &state,
        Kind::Registration,
        Some(user.id),
        registration,
        Some(context),
    )
    .await?;
    Ok(Json(Options {
        ceremony_id,
        options: discoverable(options),
    }))
}

#[derive(Serialize)]
pub(crate) struct PasskeyView {
    pub id: i64,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub backup_eligible: bool,
    pub backup_state: bool,
}

impl From<&StoredPasskey> for PasskeyView {
    fn from(k: &StoredPasskey) -> Self {
        Self {
            id: k.id,
            name: k.name.clone(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            backup_eligible: k.backup_eligible,
            backup_state: k.backup_state,
        }
    }
}

pub(crate) async fn add_passkey(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
    ApiJson(req): ApiJson<AddPasskeyRequest>,
) -> Result<impl IntoResponse, Problem> {
    let name = DisplayName::parse("name", req.name.as_deref().unwrap_or("Passkey"))
        .map_err(Problem::invalid)?;
    let ceremony = take_ceremony(&state, Kind::Registration, &req.ceremony_id, &client).await?;
    if ceremony.user_id != Some(current.user.id) {
        return Err(Problem::new(
            ProblemCode::WrongCeremony,
            "this ceremony was not started by you",
        ));
    }
    let registration: PasskeyRegistration =
        serde_json::from_value(ceremony.state.0).map_err(internal)?;
    let passkey = state
        .config
        .webauthn
        .finish_passkey_registration(&req.credential, &registration)
        .map_err(|e| {
            Problem::new(
                ProblemCode::PasskeyRejected,
                format!("the passkey was rejected: {e}"),
            )
        })?;
    let registered = Registered::new(&passkey)?;
    let entry = current.own_action(&client, "passkey.add", Value::Null);
    let added = passkeys::add(
        &state,
        &registered.row(current.user.id, name.as_str()),
        &entry,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(PasskeyView::from(&added))))
}
