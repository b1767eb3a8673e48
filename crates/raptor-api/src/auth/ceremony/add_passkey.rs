//! Adding another passkey to a signed-in account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use raptor_domain::DisplayName;
use raptor_store::audit;
use raptor_store::passkeys::{self};
use serde::{Deserialize, Serialize};
use serde_json::json;
use webauthn_rs::prelude::{
    CreationChallengeResponse, PasskeyRegistration, RegisterPublicKeyCredential, Uuid,
};

use crate::extract::{ApiJson, ClientInfo};
use crate::limits;
use crate::session::CurrentSession;
use crate::{AppState, Problem};

use super::{discoverable, internal, store_ceremony, take_ceremony, Options, Registered};

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
    let existing = passkeys::of_user(&state.db, user.id)
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
        "registration",
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

impl From<&passkeys::StoredPasskey> for PasskeyView {
    fn from(k: &passkeys::StoredPasskey) -> Self {
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
    let ceremony = take_ceremony(&state, "registration", &req.ceremony_id, &client).await?;
    if ceremony.user_id != Some(current.user.id) {
        return Err(Problem::bad_request(
            "wrong_ceremony",
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
            Problem::bad_request("passkey_rejected", format!("the passkey was rejected: {e}"))
        })?;
    let registered = Registered::new(&passkey)?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let new = registered.row(current.user.id, name.as_str());
    let id = match passkeys::insert(&mut tx, &new, now).await {
        Err(err) if err.is_unique_violation() => {
            return Err(Problem::conflict(
                "credential_registered",
                "this passkey is already registered",
            ))
        }
        other => other?,
    };
    let entry = current.own_action(&client, "passkey.add", json!({ "passkey_id": id }));
    audit::record(&mut tx, &entry, now).await?;
    tx.commit().await?;
    let added = passkeys::of_user(&state.db, current.user.id)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| internal("the new passkey vanished"))?;
    Ok((StatusCode::CREATED, Json(PasskeyView::from(&added))))
}
