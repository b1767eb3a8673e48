//! Step-up: a signed-in user proves one of their passkeys again. The session's passkey proof
//! time moves to now, without a new session, so staff actions that change money or access
//! pass for the next few minutes, and a session opened by an email link or a backup code
//! gains staff permissions.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::accounts::{self, PasskeyUse};
use raptor_app::ceremonies::Kind;
use raptor_app::passkeys;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use webauthn_rs::prelude::{Passkey, PublicKeyCredential};

use super::super::{event, TAG};
use super::sign_in::{RequestOptions, SignInState};
use super::{internal, open_ceremony, rejected, settle, store_ceremony};
use crate::extract::{ApiJson, ClientInfo};
use crate::limits;
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::session::CurrentSession;
use crate::{AppState, Problem, ProblemCode};
use raptor_store::passkeys::Ceremony;

/// The passkey's answer to a step-up.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepUpRequest {
    /// The handle from `/api/auth/step-up/options`.
    ceremony_id: String,
    /// WebAuthn's `AuthenticationResponseJSON`, as `navigator.credentials.get()` made it.
    #[schema(value_type = Object)]
    credential: PublicKeyCredential,
}

/// A finished step-up.
#[derive(Serialize, ToSchema)]
pub(crate) struct SteppedUp {
    /// When this session proved a passkey: now.
    passkey_proved_at: DateTime<Utc>,
}

/// The signed-in user's passkeys, as the library reads them.
async fn passkeys_of(state: &AppState, user_id: i64) -> Result<Vec<(i64, Passkey)>, Problem> {
    passkeys::list(state, user_id)
        .await?
        .into_iter()
        .map(|k| Ok((k.id, serde_json::from_value(k.passkey.0).map_err(internal)?)))
        .collect()
}

/// Starts a step-up: options asking for one of the signed-in user's passkeys.
#[utoipa::path(post, path = "/api/auth/step-up/options", tag = TAG,
    responses(
        (status = 200, description = "Options for the passkey", body = RequestOptions),
        (status = 429, description = "Too many ceremonies from this address",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
pub(crate) async fn step_up_options(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
) -> Result<Json<RequestOptions>, Problem> {
    limits::check(&state, limits::OPTIONS_PER_IP, client.ip_key()).await?;
    let keys: Vec<Passkey> = passkeys_of(&state, current.user.id)
        .await?
        .into_iter()
        .map(|(_, key)| key)
        .collect();
    let (options, auth) = state
        .config
        .webauthn
        .start_passkey_authentication(&keys)
        .map_err(internal)?;
    let ceremony = serde_json::to_value(SignInState::Passkey(auth)).map_err(internal)?;
    let ceremony_id = store_ceremony(
        &state,
        Kind::Authentication,
        Some(current.user.id),
        ceremony,
        None,
    )
    .await?;
    Ok(Json(RequestOptions::new(ceremony_id, options)))
}

/// Finishes a step-up: the passkey's answer refreshes this session's passkey proof (audited as
/// `auth.step_up`).
#[utoipa::path(post, path = "/api/auth/step-up", tag = TAG,
    request_body = StepUpRequest,
    responses(
        (status = 200, description = "The session proved a passkey now", body = SteppedUp),
        (status = 400, description = "The ceremony is unknown, used, expired or another user's",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 401, description = "The passkey's answer or counter was refused",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The body has the wrong shape",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "Too many sign-in attempts",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
pub(crate) async fn step_up(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
    ApiJson(req): ApiJson<StepUpRequest>,
) -> Result<Json<SteppedUp>, Problem> {
    limits::check(&state, limits::LOGIN_PER_IP, client.ip_key()).await?;
    let user = &current.user;
    limits::check(&state, limits::LOGIN_PER_ACCOUNT, &user.id.to_string()).await?;
    let ceremony = open_ceremony(&state, Kind::Authentication, &req.ceremony_id, &client).await?;
    let answer = step_up_with(&state, &current, &client, &ceremony, &req).await;
    settle(&state, &ceremony, answer).await
}

/// Verifies the answer to a step-up ceremony and records the proof on the session.
async fn step_up_with(
    state: &AppState,
    current: &CurrentSession,
    client: &ClientInfo,
    ceremony: &Ceremony,
    req: &StepUpRequest,
) -> Result<Json<SteppedUp>, Problem> {
    let user = &current.user;
    let sign_in: SignInState =
        serde_json::from_value(ceremony.state.0.clone()).map_err(internal)?;
    let (SignInState::Passkey(auth), Some(owner)) = (sign_in, ceremony.user_id) else {
        return Err(not_yours());
    };
    if owner != user.id {
        return Err(not_yours());
    }
    let verified = match state
        .config
        .webauthn
        .finish_passkey_authentication(&req.credential, &auth)
    {
        Ok(result) => result,
        Err(err) => {
            let problem = rejected(&err);
            let mut entry = event(
                "auth.step_up",
                "failure",
                Some((user.id, &user.email)),
                client,
            );
            entry.session_id = Some(current.session.id);
            entry.details = Some(json!({ "reason": problem.code, "error": err.to_string() }));
            accounts::record_refusal(state, &entry).await?;
            return Err(problem);
        }
    };
    let Some((passkey_id, mut key)) = passkeys_of(state, user.id)
        .await?
        .into_iter()
        .find(|(_, key)| key.cred_id() == verified.cred_id())
    else {
        return Err(Problem::new(
            ProblemCode::UnknownCredential,
            "this passkey is not registered to your account",
        ));
    };
    key.update_credential(&verified);
    let key_value = serde_json::to_value(&key).map_err(internal)?;
    let used = PasskeyUse {
        passkey_id,
        passkey: &key_value,
        counter: verified.counter(),
        backup_state: verified.backup_state(),
    };
    let proved = accounts::step_up(state, ceremony, user, current.session.id, used, client)
        .await?
        .ok_or_else(|| Problem::new(ProblemCode::NotSignedIn, "this session has ended"))?;
    Ok(Json(SteppedUp {
        passkey_proved_at: proved,
    }))
}

fn not_yours() -> Problem {
    Problem::new(
        ProblemCode::WrongCeremony,
        "this ceremony was not started by /api/auth/step-up/options for your account",
    )
}
