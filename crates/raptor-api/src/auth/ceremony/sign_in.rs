//! Sign-in with a passkey: with an allow-list when the email is known, discoverable otherwise.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use raptor_app::accounts::{self, PasskeyUse};
use raptor_app::passkeys;
use raptor_domain::Email;
use serde::{Deserialize, Serialize};
use serde_json::json;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PublicKeyCredential,
    RequestChallengeResponse,
};

use super::super::{event, signed_in_answer};
use crate::extract::{ApiJson, ClientInfo};
use crate::limits;
use crate::{AppState, Problem, ProblemCode};

use super::{internal, rejected, store_ceremony, take_ceremony, Options};
use raptor_app::ceremonies::Kind;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginOptionsRequest {
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    ceremony_id: String,
    credential: PublicKeyCredential,
}

/// The ceremony state stored for a sign-in: with an allow-list, or discoverable.
#[derive(Serialize, Deserialize)]
#[serde(tag = "mode", content = "state", rename_all = "snake_case")]
enum SignInState {
    Passkey(PasskeyAuthentication),
    Discoverable(DiscoverableAuthentication),
}

pub(crate) async fn login_options(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<LoginOptionsRequest>,
) -> Result<Json<Options<RequestChallengeResponse>>, Problem> {
    limits::check(&state, limits::OPTIONS_PER_IP, client.ip_key()).await?;
    let email = req
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(Problem::invalid)?;
    let user = match &email {
        Some(email) => accounts::by_email(&state, email).await?,
        None => None,
    };
    let keys = match &user {
        Some(user) => passkeys::list(&state, user.id).await?,
        None => Vec::new(),
    };
    let webauthn = &state.config.webauthn;
    // An unknown address gets discoverable options, the same shape as a known one: the
    // answer does not reveal who has an account.
    let (options, sign_in, user_id) = if keys.is_empty() {
        let (options, auth) = webauthn
            .start_discoverable_authentication()
            .map_err(internal)?;
        (options, SignInState::Discoverable(auth), None)
    } else {
        let keys: Vec<Passkey> = keys
            .into_iter()
            .map(|k| serde_json::from_value(k.passkey.0))
            .collect::<Result<_, _>>()
            .map_err(internal)?;
        let (options, auth) = webauthn
            .start_passkey_authentication(&keys)
            .map_err(internal)?;
        (options, SignInState::Passkey(auth), user.map(|u| u.id))
    };
    let sign_in = serde_json::to_value(&sign_in).map_err(internal)?;
    let ceremony_id = store_ceremony(&state, Kind::Authentication, user_id, sign_in, None).await?;
    Ok(Json(Options {
        ceremony_id,
        options,
    }))
}

pub(crate) async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, Problem> {
    limits::check(&state, limits::LOGIN_PER_IP, client.ip_key()).await?;
    let ceremony = take_ceremony(&state, Kind::Authentication, &req.ceremony_id, &client).await?;
    let sign_in: SignInState = serde_json::from_value(ceremony.state.0).map_err(internal)?;
    let webauthn = &state.config.webauthn;
    let unknown = || {
        Problem::new(
            ProblemCode::UnknownCredential,
            "this passkey is not registered here",
        )
    };

    let user = match (&sign_in, ceremony.user_id) {
        (SignInState::Passkey(_), Some(user_id)) => accounts::by_id(&state, user_id).await?,
        (SignInState::Discoverable(_), _) => {
            let (handle, _) = webauthn
                .identify_discoverable_authentication(&req.credential)
                .map_err(|e| rejected(&e))?;
            accounts::by_handle(&state, handle.as_bytes()).await?
        }
        (SignInState::Passkey(_), None) => None,
    };
    let Some(user) = user else {
        let mut entry = event("auth.login", "failure", None, &client);
        entry.details = Some(json!({ "reason": "unknown_credential" }));
        accounts::record_refusal(&state, &entry).await?;
        return Err(unknown());
    };
    limits::check(&state, limits::LOGIN_PER_ACCOUNT, &user.id.to_string()).await?;
    let stored = passkeys::list(&state, user.id).await?;
    let keys: Vec<Passkey> = stored
        .iter()
        .map(|k| serde_json::from_value(k.passkey.0.clone()))
        .collect::<Result<_, _>>()
        .map_err(internal)?;
    let verified = match sign_in {
        SignInState::Passkey(auth) => {
            webauthn.finish_passkey_authentication(&req.credential, &auth)
        }
        SignInState::Discoverable(auth) => {
            let presented = req.credential.get_credential_id();
            let Some(key) = keys
                .iter()
                .find(|k| AsRef::<[u8]>::as_ref(k.cred_id()) == presented)
            else {
                return Err(unknown());
            };
            webauthn.finish_discoverable_authentication_v2(&req.credential, auth, key)
        }
    };
    let result = match verified {
        Ok(result) => result,
        Err(err) => {
            let problem = rejected(&err);
            let mut entry = event(
                "auth.login",
                "failure",
                Some((user.id, &user.email)),
                &client,
            );
            entry.details = Some(json!({ "reason": problem.code, "error": err.to_string() }));
            accounts::record_refusal(&state, &entry).await?;
            return Err(problem);
        }
    };
    if !user.is_active() {
        let mut entry = event(
            "auth.login",
            "failure",
            Some((user.id, &user.email)),
            &client,
        );
        entry.details = Some(json!({ "reason": "account_suspended" }));
        accounts::record_refusal(&state, &entry).await?;
        return Err(Problem::new(
            ProblemCode::AccountSuspended,
            "this account is suspended",
        ));
    }
    let Some((row, mut key)) = stored
        .iter()
        .zip(keys)
        .find(|(_, key)| key.cred_id() == result.cred_id())
    else {
        return Err(unknown());
    };
    key.update_credential(&result);
    let key_value = serde_json::to_value(&key).map_err(internal)?;

    let used = PasskeyUse {
        passkey_id: row.id,
        passkey: &key_value,
        counter: result.counter(),
        backup_state: result.backup_state(),
    };
    let signed_in = accounts::passkey_sign_in(&state, user, used, &client).await?;
    Ok(signed_in_answer(&state, &signed_in))
}
