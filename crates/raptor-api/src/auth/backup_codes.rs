//! Backup codes over HTTP: how many are left, a new set (shown once), and signing in with one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use raptor_app::backup_codes::{self, BackupCodeError};
use raptor_domain::Email;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{signed_in_answer, SignInAnswer};
use crate::extract::{ApiJson, ClientInfo};
use crate::limits;
use crate::session::CurrentSession;
use crate::{AppState, Problem, ProblemCode};

impl From<BackupCodeError> for Problem {
    fn from(err: BackupCodeError) -> Self {
        match err {
            BackupCodeError::NoMatch => {
                Problem::new(ProblemCode::InvalidBackupCode, err.to_string())
            }
            BackupCodeError::Suspended => {
                Problem::new(ProblemCode::AccountSuspended, err.to_string())
            }
            BackupCodeError::Hashing(_) => Problem::internal(&err),
            BackupCodeError::Store(err) => err.into(),
        }
    }
}

pub(crate) async fn remaining(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Value>, Problem> {
    let left = backup_codes::remaining(&state, current.user.id).await?;
    Ok(Json(json!({ "remaining": left })))
}

pub(crate) async fn regenerate(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
) -> Result<impl IntoResponse, Problem> {
    let entry = current.own_action(&client, "backup_codes.generate", Value::Null);
    let codes = backup_codes::regenerate(&state, current.user.id, &entry).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "codes": codes,
            "detail": "Store these now: they are shown only once, and each works once. Generating a new set invalidates this one."
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackupLoginRequest {
    email: String,
    code: String,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<BackupLoginRequest>,
) -> Result<SignInAnswer, Problem> {
    limits::check(&state, limits::LOGIN_PER_IP, client.ip_key()).await?;
    let email = Email::parse(&req.email).map_err(Problem::invalid)?;
    limits::check(&state, limits::BACKUP_CODE_PER_ACCOUNT, email.as_str()).await?;
    let signed_in = backup_codes::sign_in(&state, &email, &req.code, &client).await?;
    Ok(signed_in_answer(&state, &signed_in))
}
