//! Backup codes over HTTP: how many are left, a new set (shown once), and signing in with one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use raptor_app::backup_codes::{self, BackupCodeError};
use raptor_app::credentials;
use raptor_domain::Email;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ceremony::SignedIn;
use super::{changer, signed_in_answer, SignInAnswer, TAG};
use crate::extract::{ApiJson, ClientInfo};
use crate::limits;
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::session::CurrentSession;
use crate::{AppState, Problem, ProblemCode};

impl From<BackupCodeError> for Problem {
    fn from(err: BackupCodeError) -> Self {
        match err {
            BackupCodeError::NoMatch => {
                Problem::new(ProblemCode::InvalidBackupCode, err.to_string())
            }
            BackupCodeError::StepUpRequired(err) => err.into(),
            BackupCodeError::Suspended => {
                Problem::new(ProblemCode::AccountSuspended, err.to_string())
            }
            BackupCodeError::Hashing(_) | BackupCodeError::Pool(_) => Problem::internal(&err),
            BackupCodeError::Store(err) => err.into(),
        }
    }
}

/// How many backup codes the user has left.
#[derive(Serialize, ToSchema)]
pub(crate) struct BackupCodesLeft {
    /// Unused codes.
    remaining: usize,
}

/// How many unused backup codes the user has.
#[utoipa::path(get, path = "/api/auth/backup-codes", tag = TAG,
    responses(
        (status = 200, description = "Codes left", body = BackupCodesLeft),
    ),
    security(("session" = [])))]
pub(crate) async fn remaining(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<BackupCodesLeft>, Problem> {
    let remaining = backup_codes::remaining(&state, current.user.id).await?;
    Ok(Json(BackupCodesLeft { remaining }))
}

/// A new set of backup codes, shown this once.
#[derive(Serialize, ToSchema)]
pub(crate) struct NewBackupCodes {
    /// The codes; each signs in once.
    codes: Vec<String>,
    /// What to do with them, for people.
    detail: &'static str,
}

/// Replaces the user's backup codes with a new set; the old set stops working. Needs a session
/// that signed in or proved a passkey within the last 10 minutes; the user's other sessions end
/// and the user is emailed (audited as `backup_codes.generate` with `revoked_sessions`).
#[utoipa::path(post, path = "/api/auth/backup-codes", tag = TAG,
    responses(
        (status = 201, description = "The new codes", body = NewBackupCodes),
        (status = 403, description = "The session neither signed in nor proved a passkey within \
            the last 10 minutes (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "Too many new sets for this account this hour",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
pub(crate) async fn regenerate(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
) -> Result<(StatusCode, Json<NewBackupCodes>), Problem> {
    // A stale session is refused before it spends the account's allowance of new sets.
    credentials::require_fresh::<Problem>(&state, &current.session).await?;
    let account = current.user.id.to_string();
    limits::check(
        &state,
        limits::BACKUP_CODE_REGENERATIONS_PER_ACCOUNT,
        &account,
    )
    .await?;
    let by = changer(&state, &current, &client, "backup_codes.generate");
    let codes = backup_codes::regenerate(&state, &by).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewBackupCodes {
            codes,
            detail: "Store these now: they are shown only once, and each works once. \
                Generating a new set invalidates this one.",
        }),
    ))
}

/// An email and one of its backup codes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = BackupCodeSignIn)]
pub(crate) struct BackupLoginRequest {
    /// Sign-in email.
    email: String,
    /// An unused backup code; case, spaces and dashes do not matter.
    code: String,
}

/// Signs in with a backup code, which is then used up.
#[utoipa::path(post, path = "/api/auth/backup-codes/login", tag = TAG,
    request_body = BackupLoginRequest,
    responses(
        (status = 200, description = "Signed in", body = SignedIn,
            headers(("set-cookie" = String, description = "The new session cookie"))),
        (status = 401, description = "The email and code do not match an unused code",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The account is suspended",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The email or the body is invalid",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "Too many attempts from this client address, or from it \
            on this account", 
            body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<BackupLoginRequest>,
) -> Result<SignInAnswer, Problem> {
    limits::check(&state, limits::LOGIN_PER_IP, client.ip_key()).await?;
    let email = Email::parse(&req.email).map_err(Problem::invalid)?;
    // Keyed by address and client together: a stranger's misses never refuse the owner's client.
    let pair = format!("{}|{}", email.as_str(), client.ip_key());
    limits::check_all(&state, &limits::BACKUP_CODE_PER_ACCOUNT_AND_CLIENT, &pair).await?;
    let signed_in = backup_codes::sign_in(&state, &email, &req.code, &client).await?;
    Ok(signed_in_answer(&state, &signed_in))
}
