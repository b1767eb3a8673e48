//! The WebAuthn ceremonies: sign-up, sign-in and adding a passkey.
//!
//! Each ceremony is two requests. The first stores the library's state under the hash of a
//! random ceremony id and returns the options; the second takes that state back, atomically
//! and once, and verifies the authenticator's answer against it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::Duration;
use raptor_domain::{DisplayName, Email, Role};
use raptor_store::passkeys::{self, NewPasskey};
use raptor_store::{audit, tokens, users};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Uuid, WebauthnError,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use super::{complete_sign_in, event};
use crate::extract::{ApiJson, ClientInfo};
use crate::limits;
use crate::secrets::{new_token, token_hash};
use crate::session::CurrentSession;
use crate::{AppState, Problem};

/// How long a ceremony may take from options to answer.
const CEREMONY_TTL: Duration = Duration::minutes(5);
/// Paper cash every new account opens with.
const OPENING_CASH: Decimal = Decimal::from_parts(100_000, 0, 0, false, 0);

/// The options answer: the ceremony handle and the browser's `publicKey` options.
#[derive(Serialize)]
pub(crate) struct Options<T: Serialize> {
    ceremony_id: String,
    #[serde(flatten)]
    options: T,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterOptionsRequest {
    email: String,
    display_name: String,
    #[serde(default)]
    bootstrap_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterRequest {
    ceremony_id: String,
    credential: RegisterPublicKeyCredential,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddPasskeyRequest {
    ceremony_id: String,
    credential: RegisterPublicKeyCredential,
    #[serde(default)]
    name: Option<String>,
}

/// Who signed in, as answered by sign-up, sign-in and `GET /api/auth/session`.
#[derive(Serialize)]
pub(crate) struct SignedIn {
    pub user: UserView,
    pub roles: Vec<Role>,
}

#[derive(Serialize)]
pub(crate) struct UserView {
    pub id: i64,
    pub email: String,
    pub display_name: String,
}

impl From<&users::User> for UserView {
    fn from(user: &users::User) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            display_name: user.display_name.clone(),
        }
    }
}

/// The ceremony state stored for a sign-in: with an allow-list, or discoverable.
#[derive(Serialize, Deserialize)]
#[serde(tag = "mode", content = "state", rename_all = "snake_case")]
enum SignInState {
    Passkey(PasskeyAuthentication),
    Discoverable(DiscoverableAuthentication),
}

/// Prefers a discoverable credential, so people can sign in without typing their email. The
/// library asks for none; browsers create one whenever the authenticator can, and
/// authenticators that cannot still register (sign-in then names the account).
fn discoverable(mut options: CreationChallengeResponse) -> CreationChallengeResponse {
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Preferred);
        selection.require_resident_key = false;
    }
    options
}

fn internal(err: impl std::fmt::Display) -> Problem {
    Problem::internal(&err)
}

fn rejected(err: &WebauthnError) -> Problem {
    match err {
        WebauthnError::CredentialPossibleCompromise => Problem::unauthorized(
            "counter_regressed",
            "this passkey's signature counter went backwards; it may have been cloned",
        ),
        other => Problem::unauthorized(
            "passkey_rejected",
            format!("the passkey answer was rejected: {other}"),
        ),
    }
}

async fn store_ceremony(
    state: &AppState,
    kind: &str,
    user_id: Option<i64>,
    ceremony_state: Value,
    context: Option<Value>,
) -> Result<String, Problem> {
    let ceremony_id = new_token();
    let now = raptor_store::clock::now();
    passkeys::begin_ceremony(
        &state.db,
        &token_hash(&ceremony_id),
        kind,
        user_id,
        &ceremony_state,
        context.as_ref(),
        now,
        now + CEREMONY_TTL,
    )
    .await?;
    Ok(ceremony_id)
}

/// Takes a ceremony once; unknown, replayed and expired handles are refused (and audited).
async fn take_ceremony(
    state: &AppState,
    kind: &str,
    ceremony_id: &str,
    client: &ClientInfo,
) -> Result<passkeys::Ceremony, Problem> {
    let taken = passkeys::take_ceremony(&state.db, &token_hash(ceremony_id), kind).await?;
    let now = raptor_store::clock::now();
    let refusal = match &taken {
        None => Some(Problem::bad_request(
            "unknown_ceremony",
            "this ceremony is unknown or was already used; start again",
        )),
        Some(c) if c.expires_at <= now => Some(Problem::bad_request(
            "ceremony_expired",
            "this ceremony expired; start again",
        )),
        Some(_) => None,
    };
    match (taken, refusal) {
        (Some(ceremony), None) => Ok(ceremony),
        (taken, refusal) => {
            let refusal = refusal.unwrap_or_else(|| internal("ceremony state"));
            let mut entry = event(
                if kind == "registration" {
                    "auth.register"
                } else {
                    "auth.login"
                },
                "failure",
                None,
                client,
            );
            entry.actor_user_id = taken.and_then(|c| c.user_id);
            entry.details = Some(json!({ "reason": refusal.code }));
            audit::record_alone(&state.db, &entry, now).await?;
            Err(refusal)
        }
    }
}

/// Values stored beside a passkey: counter and backup flags, read from the credential.
fn passkey_row(passkey: &Passkey) -> Result<(Value, i64, bool, bool), Problem> {
    let value = serde_json::to_value(passkey).map_err(internal)?;
    let cred = &value["cred"];
    Ok((
        cred["counter"].as_i64().unwrap_or(0),
        cred["backup_eligible"].as_bool().unwrap_or(false),
        cred["backup_state"].as_bool().unwrap_or(false),
    ))
    .map(|(counter, eligible, state)| (value, counter, eligible, state))
}

pub(crate) async fn register_options(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<RegisterOptionsRequest>,
) -> Result<Json<Options<CreationChallengeResponse>>, Problem> {
    limits::check(&state, limits::OPTIONS_PER_IP, client.ip_key()).await?;
    let email = Email::parse(&req.email).map_err(Problem::invalid)?;
    let display_name =
        DisplayName::parse("display_name", &req.display_name).map_err(Problem::invalid)?;
    if users::by_email(&state.db, email.as_str()).await?.is_some() {
        return Err(Problem::conflict(
            "email_taken",
            "an account with this email already exists; sign in instead",
        ));
    }
    let now = raptor_store::clock::now();
    if let Some(token) = &req.bootstrap_token {
        if !tokens::bootstrap_is_valid(&state.db, &token_hash(token), now).await? {
            return Err(Problem::bad_request(
                "invalid_bootstrap_token",
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
        "bootstrap_token": req.bootstrap_token,
    });
    let registration = serde_json::to_value(&registration).map_err(internal)?;
    let ceremony_id =
        store_ceremony(&state, "registration", None, registration, Some(context)).await?;
    Ok(Json(Options {
        ceremony_id,
        options: discoverable(options),
    }))
}

#[derive(Deserialize)]
struct SignUpContext {
    purpose: String,
    email: String,
    display_name: String,
    user_handle: Uuid,
    bootstrap_token: Option<String>,
}

pub(crate) async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<impl IntoResponse, Problem> {
    let ceremony = take_ceremony(&state, "registration", &req.ceremony_id, &client).await?;
    let context: SignUpContext = ceremony
        .context
        .map(|c| serde_json::from_value(c.0))
        .transpose()
        .map_err(internal)?
        .filter(|c: &SignUpContext| c.purpose == "sign_up" && ceremony.user_id.is_none())
        .ok_or_else(|| Problem::bad_request("wrong_ceremony", "this ceremony is not a sign-up"))?;
    let registration: PasskeyRegistration =
        serde_json::from_value(ceremony.state.0).map_err(internal)?;
    let now = raptor_store::clock::now();
    let passkey = match state
        .config
        .webauthn
        .finish_passkey_registration(&req.credential, &registration)
    {
        Ok(passkey) => passkey,
        Err(err) => {
            let mut entry = event("auth.register", "failure", None, &client);
            entry.details = Some(json!({ "reason": err.to_string(), "email": context.email }));
            audit::record_alone(&state.db, &entry, now).await?;
            return Err(Problem::bad_request(
                "passkey_rejected",
                format!("the passkey was rejected: {err}"),
            ));
        }
    };
    let (passkey_value, counter, eligible, backed_up) = passkey_row(&passkey)?;

    let mut tx = state.db.begin().await?;
    let user = match users::create(
        &mut tx,
        &context.email,
        &context.display_name,
        context.user_handle.as_bytes(),
        now,
    )
    .await
    {
        Ok(user) => user,
        Err(err) if err.is_unique_violation() => {
            return Err(Problem::conflict(
                "email_taken",
                "an account with this email already exists",
            ))
        }
        Err(err) => return Err(err.into()),
    };
    users::open_paper_account(&mut tx, user.id, OPENING_CASH, "USD", now).await?;
    let inserted = passkeys::insert(
        &mut tx,
        &NewPasskey {
            user_id: user.id,
            credential_id: passkey.cred_id().as_ref(),
            passkey: &passkey_value,
            sign_count: counter,
            backup_eligible: eligible,
            backup_state: backed_up,
            name: "Passkey",
        },
        now,
    )
    .await;
    match inserted {
        Err(err) if err.is_unique_violation() => {
            return Err(Problem::conflict(
                "credential_registered",
                "this passkey is already registered",
            ))
        }
        other => other?,
    };
    users::grant_role(&mut tx, user.id, Role::Customer, None, now).await?;
    if let Some(token) = &context.bootstrap_token {
        if !tokens::use_bootstrap(&mut tx, &token_hash(token), user.id, now).await? {
            return Err(Problem::bad_request(
                "invalid_bootstrap_token",
                "the bootstrap token was used or expired before sign-up finished",
            ));
        }
        users::grant_role(&mut tx, user.id, Role::Admin, None, now).await?;
        let mut entry = event(
            "role.grant",
            "success",
            Some((user.id, &user.email)),
            &client,
        );
        entry.details = Some(json!({ "role": "admin", "via": "bootstrap_token" }));
        audit::record(&mut tx, &entry, now).await?;
    }
    complete_sign_in(
        &state,
        tx,
        &user,
        "passkey",
        "auth.register",
        None,
        &client,
        now,
    )
    .await
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
        Some(email) => users::by_email(&state.db, email.as_str()).await?,
        None => None,
    };
    let keys = match &user {
        Some(user) => passkeys::of_user(&state.db, user.id).await?,
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
    let ceremony_id = store_ceremony(&state, "authentication", user_id, sign_in, None).await?;
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
    let ceremony = take_ceremony(&state, "authentication", &req.ceremony_id, &client).await?;
    let sign_in: SignInState = serde_json::from_value(ceremony.state.0).map_err(internal)?;
    let webauthn = &state.config.webauthn;
    let unknown =
        || Problem::unauthorized("unknown_credential", "this passkey is not registered here");

    let user = match (&sign_in, ceremony.user_id) {
        (SignInState::Passkey(_), Some(user_id)) => users::by_id(&state.db, user_id).await?,
        (SignInState::Discoverable(_), _) => {
            let (handle, _) = webauthn
                .identify_discoverable_authentication(&req.credential)
                .map_err(|e| rejected(&e))?;
            users::by_handle(&state.db, handle.as_bytes()).await?
        }
        (SignInState::Passkey(_), None) => None,
    };
    let now = raptor_store::clock::now();
    let Some(user) = user else {
        let mut entry = event("auth.login", "failure", None, &client);
        entry.details = Some(json!({ "reason": "unknown_credential" }));
        audit::record_alone(&state.db, &entry, now).await?;
        return Err(unknown());
    };
    limits::check(&state, limits::LOGIN_PER_ACCOUNT, &user.id.to_string()).await?;
    let stored = passkeys::of_user(&state.db, user.id).await?;
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
            audit::record_alone(&state.db, &entry, now).await?;
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
        audit::record_alone(&state.db, &entry, now).await?;
        return Err(Problem::forbidden(
            "account_suspended",
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

    let mut tx = state.db.begin().await?;
    passkeys::record_use(
        &mut tx,
        row.id,
        &key_value,
        i64::from(result.counter()),
        result.backup_state(),
        now,
    )
    .await?;
    let details = json!({ "passkey_id": row.id, "counter": result.counter() });
    complete_sign_in(
        &state,
        tx,
        &user,
        "passkey",
        "auth.login",
        Some(details),
        &client,
        now,
    )
    .await
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
    let (value, counter, eligible, backed_up) = passkey_row(&passkey)?;
    let now = raptor_store::clock::now();
    let mut tx = state.db.begin().await?;
    let new = NewPasskey {
        user_id: current.user.id,
        credential_id: passkey.cred_id().as_ref(),
        passkey: &value,
        sign_count: counter,
        backup_eligible: eligible,
        backup_state: backed_up,
        name: name.as_str(),
    };
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
