//! Sign-in with a passkey: with an allow-list when an email is given (the account's passkeys,
//! or decoys when it has none), discoverable otherwise.

use axum::extract::State;
use axum::Json;
use raptor_app::accounts::{self, PasskeyUse};
use raptor_app::{decoys, passkeys};
use raptor_domain::Email;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PublicKeyCredential,
    RequestChallengeResponse,
};
use webauthn_rs_proto::{AllowCredentials, Mediation, PublicKeyCredentialRequestOptions};

use super::super::{event, signed_in_answer, SignInAnswer, TAG};
use super::SignedIn;
use crate::extract::{ApiJson, ClientInfo};
use crate::limits;
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::{AppState, Problem, ProblemCode};

use super::{internal, open_ceremony, rejected, settle, store_ceremony};
use raptor_app::ceremonies::Kind;
use raptor_store::passkeys::Ceremony;

/// Who is signing in, if they said.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginOptionsRequest {
    /// Sign-in email; without it the options are for a discoverable passkey.
    #[serde(default)]
    email: Option<String>,
}

/// The first half of a sign-in ceremony: its handle and the browser's options.
#[derive(Serialize, ToSchema)]
pub(crate) struct RequestOptions {
    /// The ceremony's handle; send it back with the passkey's answer.
    ceremony_id: String,
    /// WebAuthn's `PublicKeyCredentialRequestOptions`, for
    /// `navigator.credentials.get({ publicKey })`.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    public_key: PublicKeyCredentialRequestOptions,
    /// `conditional` when the browser may offer passkeys as it autofills; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    mediation: Option<Mediation>,
}

impl RequestOptions {
    /// The options the library made, under `ceremony_id`.
    pub(super) fn new(ceremony_id: String, options: RequestChallengeResponse) -> Self {
        Self {
            ceremony_id,
            public_key: options.public_key,
            mediation: options.mediation,
        }
    }
}

/// The second half of sign-in: the passkey's answer.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    /// The handle from `/api/auth/login/options`.
    ceremony_id: String,
    /// WebAuthn's `AuthenticationResponseJSON`, as `navigator.credentials.get()` made it.
    #[schema(value_type = Object)]
    credential: PublicKeyCredential,
}

/// The ceremony state stored for a sign-in: with an allow-list, or discoverable.
#[derive(Serialize, Deserialize)]
#[serde(tag = "mode", content = "state", rename_all = "snake_case")]
pub(super) enum SignInState {
    Passkey(PasskeyAuthentication),
    Discoverable(DiscoverableAuthentication),
}

/// Starts sign-in: options for the browser to ask a passkey with.
///
/// The answer has the same shape whether or not the email has an account.
#[utoipa::path(post, path = "/api/auth/login/options", tag = TAG,
    request_body = LoginOptionsRequest,
    responses(
        (status = 200, description = "Options for the passkey", body = RequestOptions),
        (status = 422, description = "The email or the body is invalid",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "Too many ceremonies from this address",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn login_options(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<LoginOptionsRequest>,
) -> Result<Json<RequestOptions>, Problem> {
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
    let (options, sign_in, user_id) = match (&email, user) {
        (Some(_), Some(user)) if !keys.is_empty() => {
            let keys: Vec<Passkey> = keys
                .into_iter()
                .map(|k| serde_json::from_value(k.passkey.0))
                .collect::<Result<_, _>>()
                .map_err(internal)?;
            let (mut options, auth) = webauthn
                .start_passkey_authentication(&keys)
                .map_err(internal)?;
            // Transports are hints a decoy could not match; browsers find the key without them.
            for allowed in &mut options.public_key.allow_credentials {
                allowed.transports = None;
            }
            (options, SignInState::Passkey(auth), Some(user.id))
        }
        (Some(email), _) => {
            // An address without an account (or without a passkey) gets options of the same
            // shape, listing decoy ids that stay the same for the address: neither the answer
            // nor a second request tells who has an account. No authenticator holds a decoy,
            // so the ceremony can only end with a discoverable passkey, as its own user.
            let (mut options, auth) = webauthn
                .start_discoverable_authentication()
                .map_err(internal)?;
            options.mediation = None;
            options.public_key.extensions = None;
            options.public_key.allow_credentials = decoys::credential_ids(&state, email)
                .await?
                .into_iter()
                .map(|id| AllowCredentials {
                    type_: "public-key".to_owned(),
                    id,
                    transports: None,
                })
                .collect();
            (options, SignInState::Discoverable(auth), None)
        }
        (None, _) => {
            let (options, auth) = webauthn
                .start_discoverable_authentication()
                .map_err(internal)?;
            (options, SignInState::Discoverable(auth), None)
        }
    };
    let sign_in = serde_json::to_value(&sign_in).map_err(internal)?;
    let ceremony_id = store_ceremony(&state, Kind::Authentication, user_id, sign_in, None).await?;
    Ok(Json(RequestOptions::new(ceremony_id, options)))
}

/// Finishes sign-in with a passkey and starts a session.
#[utoipa::path(post, path = "/api/auth/login", tag = TAG,
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = SignedIn,
            headers(("set-cookie" = String, description = "The new session cookie"))),
        (status = 400, description = "The ceremony is unknown, used or expired",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 401, description = "The passkey is unknown, or its answer or counter was \
            refused", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The account is suspended",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The body has the wrong shape",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "Too many sign-in attempts from this client address",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<SignInAnswer, Problem> {
    limits::check(&state, limits::LOGIN_PER_IP, client.ip_key()).await?;
    let ceremony = open_ceremony(&state, Kind::Authentication, &req.ceremony_id, &client).await?;
    let answer = sign_in_with(&state, &client, &ceremony, &req).await;
    settle(&state, &ceremony, answer).await
}

/// Verifies the answer to a sign-in ceremony and signs its passkey's owner in.
async fn sign_in_with(
    state: &AppState,
    client: &ClientInfo,
    ceremony: &Ceremony,
    req: &LoginRequest,
) -> Result<SignInAnswer, Problem> {
    let sign_in: SignInState =
        serde_json::from_value(ceremony.state.0.clone()).map_err(internal)?;
    let webauthn = &state.config.webauthn;
    let unknown = || {
        Problem::new(
            ProblemCode::UnknownCredential,
            "this passkey is not registered here",
        )
    };

    let user = match (&sign_in, ceremony.user_id) {
        (SignInState::Passkey(_), Some(user_id)) => accounts::by_id(state, user_id).await?,
        (SignInState::Discoverable(_), _) => {
            let (handle, _) = webauthn
                .identify_discoverable_authentication(&req.credential)
                .map_err(|e| rejected(&e))?;
            accounts::by_handle(state, handle.as_bytes()).await?
        }
        (SignInState::Passkey(_), None) => None,
    };
    let Some(user) = user else {
        let mut entry = event("auth.login", "failure", None, client);
        entry.details = Some(json!({ "reason": "unknown_credential" }));
        accounts::record_refusal(state, &entry).await?;
        return Err(unknown());
    };
    let stored = passkeys::list(state, user.id).await?;
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
                client,
            );
            entry.details = Some(json!({ "reason": problem.code, "error": err.to_string() }));
            accounts::record_refusal(state, &entry).await?;
            return Err(problem);
        }
    };
    if !user.is_active() {
        let mut entry = event(
            "auth.login",
            "failure",
            Some((user.id, &user.email)),
            client,
        );
        entry.details = Some(json!({ "reason": "account_suspended" }));
        accounts::record_refusal(state, &entry).await?;
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
    let signed_in = accounts::passkey_sign_in(state, ceremony, user, used, client).await?;
    Ok(signed_in_answer(state, &signed_in))
}
