//! The WebAuthn ceremonies, one module each: sign-up, sign-in and adding a passkey.
//!
//! Each ceremony is two requests. The first stores the library's state under the hash of a
//! random ceremony id and returns the options; the second reads that state back, verifies the
//! authenticator's answer against it and uses the ceremony up in the transaction that acts on
//! the answer. A refused answer drops the ceremony; a server failure leaves it, so the same
//! answer can be sent again (to any process) and still succeed once.

pub(super) mod add_passkey;
pub(super) mod sign_in;
pub(super) mod sign_up;
pub(super) mod step_up;

use raptor_app::ceremonies::{self, CeremonyError, Kind};
use raptor_domain::Role;
use raptor_store::passkeys::{Ceremony, NewPasskey};
use raptor_store::users;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::schema::{Array, ArrayBuilder, ObjectBuilder, Type};
use utoipa::ToSchema;
use webauthn_rs::prelude::{CreationChallengeResponse, Credential, Passkey, WebauthnError};
use webauthn_rs_proto::{PublicKeyCredentialCreationOptions, ResidentKeyRequirement};

use crate::extract::ClientInfo;
use crate::{AppState, Problem, ProblemCode};

pub(crate) use add_passkey::PasskeyView;

/// The first half of a registration ceremony: its handle and the browser's options.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreationOptions {
    /// The ceremony's handle; send it back with the new credential.
    ceremony_id: String,
    /// WebAuthn's `PublicKeyCredentialCreationOptions`, for
    /// `navigator.credentials.create({ publicKey })`.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    public_key: PublicKeyCredentialCreationOptions,
}

impl CreationOptions {
    /// The options under `ceremony_id`, preferring a discoverable credential.
    fn new(ceremony_id: String, options: CreationChallengeResponse) -> Self {
        Self {
            ceremony_id,
            public_key: discoverable(options).public_key,
        }
    }
}

/// Who signed in, as answered by sign-up, sign-in and `GET /api/auth/session`.
#[derive(Serialize, ToSchema)]
pub(crate) struct SignedIn {
    /// The user.
    pub user: UserView,
    /// Their roles.
    #[schema(schema_with = roles_schema)]
    pub roles: Vec<Role>,
}

/// A signed-in user.
#[derive(Serialize, ToSchema)]
#[schema(as = SessionUser)]
pub(crate) struct UserView {
    /// User id.
    pub id: i64,
    /// Sign-in email, lower-cased.
    pub email: String,
    /// What to call them.
    pub display_name: String,
    /// Whether they proved they receive mail at `email` (the link mailed at sign-up, or an
    /// emailed sign-in link). Until then support mail from the address is not filed under the
    /// account and no staff role can be granted to it.
    pub email_verified: bool,
}

/// A list of role names (raptor-domain's `Role` has no schema of its own).
fn roles_schema() -> Array {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(Role::ALL.iter().map(|r| r.as_str()))),
        )
        .description(Some(
            "The user's roles: `customer`, and `support` or `admin` for staff.",
        ))
        .build()
}

impl From<&users::User> for UserView {
    fn from(user: &users::User) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            email_verified: user.email_verified(),
        }
    }
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
        WebauthnError::CredentialPossibleCompromise => Problem::new(
            ProblemCode::CounterRegressed,
            "this passkey's signature counter went backwards; it may have been cloned",
        ),
        other => Problem::new(
            ProblemCode::AssertionRejected,
            format!("the passkey answer was rejected: {other}"),
        ),
    }
}

/// Stores a ceremony's state; the handle for the client.
async fn store_ceremony(
    state: &AppState,
    kind: Kind,
    user_id: Option<i64>,
    ceremony_state: Value,
    context: Option<Value>,
) -> Result<String, Problem> {
    Ok(ceremonies::begin(state, kind, user_id, &ceremony_state, context.as_ref()).await?)
}

impl From<CeremonyError> for Problem {
    fn from(err: CeremonyError) -> Self {
        match err {
            CeremonyError::Store(err) => err.into(),
            CeremonyError::Unknown => Problem::new(ProblemCode::UnknownCeremony, err.to_string()),
            CeremonyError::Expired => Problem::new(ProblemCode::CeremonyExpired, err.to_string()),
        }
    }
}

/// Opens a ceremony to answer; unknown, used and expired handles are refused (and audited).
async fn open_ceremony(
    state: &AppState,
    kind: Kind,
    ceremony_id: &str,
    client: &ClientInfo,
) -> Result<Ceremony, Problem> {
    Ok(ceremonies::open(state, kind, ceremony_id, client).await?)
}

/// Passes on the answer to `ceremony`. A refused answer (4xx) drops the ceremony so it cannot
/// be tried again; a server failure leaves it for the client to retry.
async fn settle<T>(
    state: &AppState,
    ceremony: &Ceremony,
    answer: Result<T, Problem>,
) -> Result<T, Problem> {
    if let Err(problem) = &answer {
        if problem.status().is_client_error() {
            if let Err(err) = ceremonies::abandon(state, ceremony).await {
                tracing::warn!(error = %err, "could not drop a refused ceremony; it expires on its own");
            }
        }
    }
    answer
}

/// A newly registered passkey as it is stored. The counter and backup flags are read through
/// the library's credential type, so a change in webauthn-rs's serialised form cannot silently
/// zero a counter.
struct Registered {
    credential: Credential,
    /// The passkey as the library serialises it.
    value: Value,
}

impl Registered {
    fn new(passkey: &Passkey) -> Result<Self, Problem> {
        Ok(Self {
            credential: Credential::from(passkey.clone()),
            value: serde_json::to_value(passkey).map_err(internal)?,
        })
    }

    /// The row to insert for `user_id`.
    fn row<'a>(&'a self, user_id: i64, name: &'a str) -> NewPasskey<'a> {
        NewPasskey {
            user_id,
            credential_id: self.credential.cred_id.as_ref(),
            passkey: &self.value,
            sign_count: i64::from(self.credential.counter),
            backup_eligible: self.credential.backup_eligible,
            backup_state: self.credential.backup_state,
            name,
        }
    }
}
