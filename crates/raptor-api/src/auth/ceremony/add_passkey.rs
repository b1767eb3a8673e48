//! Adding another passkey to a signed-in account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::{credentials, passkeys};
use raptor_domain::DisplayName;
use raptor_store::passkeys::{Ceremony, StoredPasskey};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use webauthn_rs::prelude::{PasskeyRegistration, RegisterPublicKeyCredential, Uuid};

use super::super::{changer, TAG};
use crate::extract::{ApiJson, ClientInfo};
use crate::limits;
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::session::CurrentSession;
use crate::{AppState, Problem, ProblemCode};

use super::{internal, open_ceremony, settle, store_ceremony, CreationOptions, Registered};
use raptor_app::ceremonies::Kind;

/// The second half of adding a passkey: the new credential and its name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddPasskeyRequest {
    /// The handle from `/api/auth/passkeys/options`.
    ceremony_id: String,
    /// WebAuthn's `RegistrationResponseJSON`, as `navigator.credentials.create()` made it.
    #[schema(value_type = Object)]
    credential: RegisterPublicKeyCredential,
    /// What to call it (default `Passkey`).
    #[serde(default)]
    name: Option<String>,
}

/// Starts adding a passkey to the signed-in account; the account's passkeys are excluded. Needs
/// a session that signed in or proved a passkey within the last 10 minutes.
#[utoipa::path(post, path = "/api/auth/passkeys/options", tag = TAG,
    responses(
        (status = 200, description = "Options for the new passkey", body = CreationOptions),
        (status = 403, description = "The session neither signed in nor proved a passkey within \
            the last 10 minutes, or it is a staff account's that never proved a passkey \
            (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "Too many ceremonies from this address",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
pub(crate) async fn add_passkey_options(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
) -> Result<Json<CreationOptions>, Problem> {
    limits::check(&state, limits::OPTIONS_PER_IP, client.ip_key()).await?;
    refuse_unproven_staff(&current)?;
    credentials::require_fresh::<Problem>(&state, &current.session).await?;
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
    Ok(Json(CreationOptions::new(ceremony_id, options)))
}

/// Refuses a staff account adding a passkey from a session that never proved one (an email
/// link, a backup code): the new passkey would then pass step-up, and a mailbox alone would
/// carry staff powers. Customers recover this way; staff who lost every passkey have an
/// operator revoke their role, recover as a customer, and get the role again.
fn refuse_unproven_staff(current: &CurrentSession) -> Result<(), Problem> {
    if current.permissions.is_empty() || current.session.authenticated_at.is_some() {
        return Ok(());
    }
    Err(Problem::new(
        ProblemCode::StepUpRequired,
        "a staff account adds passkeys only from a session that proved a passkey; if every \
         passkey is lost, an operator revokes the staff role (`raptor admin revoke-role`), you \
         recover with an email link, and the role is granted again",
    ))
}

/// One of the user's passkeys.
#[derive(Serialize, ToSchema)]
#[schema(as = Passkey)]
pub(crate) struct PasskeyView {
    /// Passkey id.
    pub id: i64,
    /// What the user calls it.
    pub name: String,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last signed in; null if never.
    #[schema(required = true)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Whether it may be synced to other devices.
    pub backup_eligible: bool,
    /// Whether it is synced.
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

/// Finishes adding a passkey to the signed-in account. Needs a session that signed in or proved
/// a passkey within the last 10 minutes; the user's other sessions end and the user is emailed
/// (audited as `passkey.add` with `revoked_sessions`).
#[utoipa::path(post, path = "/api/auth/passkeys", tag = TAG,
    request_body = AddPasskeyRequest,
    responses(
        (status = 201, description = "The passkey was added", body = PasskeyView),
        (status = 400, description = "The ceremony is unknown, expired or someone else's, or \
            the passkey was rejected", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session neither signed in nor proved a passkey within \
            the last 10 minutes, or it is a staff account's that never proved a passkey \
            (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 409, description = "The passkey is already registered",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The name or the body is invalid",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
pub(crate) async fn add_passkey(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
    ApiJson(req): ApiJson<AddPasskeyRequest>,
) -> Result<(StatusCode, Json<PasskeyView>), Problem> {
    refuse_unproven_staff(&current)?;
    // Refused before the ceremony is used up, so it can be finished after a step-up.
    credentials::require_fresh::<Problem>(&state, &current.session).await?;
    let name = DisplayName::parse("name", req.name.as_deref().unwrap_or("Passkey"))
        .map_err(Problem::invalid)?;
    let ceremony = open_ceremony(&state, Kind::Registration, &req.ceremony_id, &client).await?;
    let answer = add_with(&state, &current, &client, &ceremony, &req.credential, &name).await;
    settle(&state, &ceremony, answer).await
}

/// Verifies the new passkey of an add-passkey ceremony and stores it as `name`.
async fn add_with(
    state: &AppState,
    current: &CurrentSession,
    client: &ClientInfo,
    ceremony: &Ceremony,
    credential: &RegisterPublicKeyCredential,
    name: &DisplayName,
) -> Result<(StatusCode, Json<PasskeyView>), Problem> {
    if ceremony.user_id != Some(current.user.id) {
        return Err(Problem::new(
            ProblemCode::WrongCeremony,
            "this ceremony was not started by you",
        ));
    }
    let registration: PasskeyRegistration =
        serde_json::from_value(ceremony.state.0.clone()).map_err(internal)?;
    let passkey = state
        .config
        .webauthn
        .finish_passkey_registration(credential, &registration)
        .map_err(|e| {
            Problem::new(
                ProblemCode::PasskeyRejected,
                format!("the passkey was rejected: {e}"),
            )
        })?;
    let registered = Registered::new(&passkey)?;
    let by = changer(state, current, client, "passkey.add");
    let added = passkeys::add(
        state,
        &by,
        ceremony,
        &registered.row(current.user.id, name.as_str()),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(PasskeyView::from(&added))))
}
