//! Sign-up: a new user, paper account, passkey and session in one transaction.

use axum::extract::State;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use raptor_app::secrets::token_hash;
use raptor_domain::{DisplayName, Email};
use raptor_store::passkeys::Ceremony;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use webauthn_rs::prelude::{PasskeyRegistration, RegisterPublicKeyCredential, Uuid};

use super::super::{event, signed_in_answer, SignInAnswer, TAG};
use super::SignedIn;
use crate::auth::verify_email::{verification_mail, verification_page};
use crate::extract::{ApiJson, ClientInfo};
use crate::limits;
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::{AppState, Problem, ProblemCode};
use raptor_app::accounts::{self, NewAccount, SignUpError};

use super::{internal, open_ceremony, settle, store_ceremony, CreationOptions, Registered};
use raptor_app::ceremonies::Kind;

/// Who is signing up.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterOptionsRequest {
    /// Sign-in email.
    email: String,
    /// What to call them.
    display_name: String,
    /// The operator's one-time token that makes the first admin.
    #[serde(default)]
    bootstrap_token: Option<String>,
}

/// The second half of sign-up: the new passkey.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterRequest {
    /// The handle from `/api/auth/register/options`.
    ceremony_id: String,
    /// WebAuthn's `RegistrationResponseJSON`, as `navigator.credentials.create()` made it.
    #[schema(value_type = Object)]
    credential: RegisterPublicKeyCredential,
}

/// Starts sign-up: checks the email is free and returns passkey creation options.
#[utoipa::path(post, path = "/api/auth/register/options", tag = TAG,
    request_body = RegisterOptionsRequest,
    responses(
        (status = 200, description = "Options for the new passkey", body = CreationOptions),
        (status = 400, description = "The bootstrap token is unknown, used or expired",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 409, description = "The email already has an account",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "A field is missing or invalid",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "Too many ceremonies or sign-ups from this client address",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn register_options(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<RegisterOptionsRequest>,
) -> Result<Json<CreationOptions>, Problem> {
    limits::check_all(
        &state,
        &[limits::OPTIONS_PER_IP, limits::SIGN_UP_PER_IP],
        client.ip_key(),
    )
    .await?;
    let email = Email::parse(&req.email).map_err(Problem::invalid)?;
    let display_name =
        DisplayName::parse("display_name", &req.display_name).map_err(Problem::invalid)?;
    if accounts::by_email(&state, &email).await?.is_some() {
        return Err(Problem::new(
            ProblemCode::EmailTaken,
            "an account with this email already exists; sign in instead",
        ));
    }
    if let Some(token) = &req.bootstrap_token {
        if !accounts::bootstrap_token_is_valid(&state, token).await? {
            return Err(Problem::new(
                ProblemCode::InvalidBootstrapToken,
                "the bootstrap token is unknown, used or expired; ask the operator for a new one",
            ));
        }
    }
    let user_handle = Uuid::new_v4();
    let (options, registration) = state
        .config
        .webauthn
        .start_passkey_registration(user_handle, email.as_str(), display_name.as_str(), None)
        .map_err(internal)?;
    let context = json!({
        "purpose": "sign_up",
        "email": email.as_str(),
        "display_name": display_name.as_str(),
        "user_handle": user_handle,
        // Only the hash waits with the ceremony: the database never holds the token itself.
        "bootstrap_token_hash": req
            .bootstrap_token
            .as_deref()
            .map(|token| URL_SAFE_NO_PAD.encode(token_hash(token))),
    });
    let registration = serde_json::to_value(&registration).map_err(internal)?;
    let ceremony_id = store_ceremony(
        &state,
        Kind::Registration,
        None,
        registration,
        Some(context),
    )
    .await?;
    Ok(Json(CreationOptions::new(ceremony_id, options)))
}

#[derive(Deserialize)]
struct SignUpContext {
    purpose: String,
    email: String,
    display_name: String,
    user_handle: Uuid,
    /// base64url of the bootstrap token's hash.
    bootstrap_token_hash: Option<String>,
}

/// Finishes sign-up: creates the user, their paper account and passkey, and signs them in.
#[utoipa::path(post, path = "/api/auth/register", tag = TAG,
    request_body = RegisterRequest,
    responses(
        (status = 200, description = "Signed up and signed in", body = SignedIn,
            headers(("set-cookie" = String, description = "The new session cookie"))),
        (status = 400, description = "The ceremony is unknown, expired or not a sign-up, or the \
            passkey was rejected", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 409, description = "The email or passkey is already registered",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The body has the wrong shape",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<SignInAnswer, Problem> {
    let ceremony = open_ceremony(&state, Kind::Registration, &req.ceremony_id, &client).await?;
    let answer = sign_up_with(&state, &client, &ceremony, &req).await;
    settle(&state, &ceremony, answer).await
}

/// Verifies the new passkey of a sign-up ceremony and opens the account.
async fn sign_up_with(
    state: &AppState,
    client: &ClientInfo,
    ceremony: &Ceremony,
    req: &RegisterRequest,
) -> Result<SignInAnswer, Problem> {
    let context: SignUpContext = ceremony
        .context
        .as_ref()
        .map(|c| serde_json::from_value(c.0.clone()))
        .transpose()
        .map_err(internal)?
        .filter(|c: &SignUpContext| c.purpose == "sign_up" && ceremony.user_id.is_none())
        .ok_or_else(|| {
            Problem::new(ProblemCode::WrongCeremony, "this ceremony is not a sign-up")
        })?;
    let registration: PasskeyRegistration =
        serde_json::from_value(ceremony.state.0.clone()).map_err(internal)?;
    let passkey = match state
        .config
        .webauthn
        .finish_passkey_registration(&req.credential, &registration)
    {
        Ok(passkey) => passkey,
        Err(err) => {
            let mut entry = event("auth.register", "failure", None, client);
            entry.details = Some(json!({ "reason": err.to_string(), "email": context.email }));
            accounts::record_refusal(state, &entry).await?;
            return Err(Problem::new(
                ProblemCode::PasskeyRejected,
                format!("the passkey was rejected: {err}"),
            ));
        }
    };
    let registered = Registered::new(&passkey)?;
    let bootstrap_token_hash = context
        .bootstrap_token_hash
        .as_deref()
        .map(|hash| URL_SAFE_NO_PAD.decode(hash))
        .transpose()
        .map_err(internal)?;
    let email = Email::parse(&context.email).map_err(internal)?;
    let page = verification_page(state);
    let display_name =
        DisplayName::parse("display_name", &context.display_name).map_err(internal)?;
    let account = NewAccount {
        email: &email,
        display_name: &display_name,
        user_handle: context.user_handle.as_bytes(),
        passkey: registered.row(0, "Passkey"),
        bootstrap_token_hash: bootstrap_token_hash.as_deref(),
        verification: verification_mail(state, &page),
        ceremony,
    };
    let signed_in = accounts::sign_up(state, account, client)
        .await
        .map_err(|err| match err {
            SignUpError::EmailTaken => Problem::new(ProblemCode::EmailTaken, err.to_string()),
            SignUpError::CredentialRegistered => {
                Problem::new(ProblemCode::CredentialRegistered, err.to_string())
            }
            SignUpError::BootstrapTokenGone => {
                Problem::new(ProblemCode::InvalidBootstrapToken, err.to_string())
            }
            SignUpError::Ceremony(err) => err.into(),
            SignUpError::Store(err) => err.into(),
        })?;
    Ok(signed_in_answer(state, &signed_in))
}
