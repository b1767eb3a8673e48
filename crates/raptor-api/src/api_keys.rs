//! The signed-in user's API key pairs, for bots on the `/v2` (Alpaca-compatible) API.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::api_keys::{self, ApiKeyError, MAX_KEYS_PER_USER};
use raptor_store::api_keys::ApiKey;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiPath, ClientInfo};
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::session::CurrentSession;
use crate::{AppState, Problem, ProblemCode};

const TAG: &str = "API keys";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

impl From<ApiKeyError> for Problem {
    fn from(err: ApiKeyError) -> Self {
        match err {
            ApiKeyError::Invalid(input) => Problem::invalid(input),
            ApiKeyError::TooMany { .. } => {
                Problem::new(ProblemCode::TooManyApiKeys, err.to_string())
            }
            ApiKeyError::Unknown(_) => Problem::not_found(err.to_string()),
            ApiKeyError::StepUpRequired(err) => err.into(),
            ApiKeyError::Store(err) => err.into(),
        }
    }
}

/// An API key pair, without its secret.
#[derive(Serialize, ToSchema)]
struct KeyView {
    /// The key's row id (to revoke it).
    id: i64,
    /// The public half: send it as `APCA-API-KEY-ID`.
    key_id: String,
    /// Your name for it.
    name: String,
    /// When it was made.
    created_at: DateTime<Utc>,
    /// When it was last used, to the minute.
    last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for KeyView {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id,
            key_id: key.key_id,
            name: key.name,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
        }
    }
}

/// A key pair just made: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
struct NewKeyView {
    #[serde(flatten)]
    key: KeyView,
    /// The secret half: send it as `APCA-API-SECRET-KEY`. It is not stored and cannot be
    /// shown again.
    secret: String,
}

/// A key pair to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewKeyRequest {
    /// A name for it (at most 100 characters; default "API key").
    #[serde(default)]
    name: Option<String>,
}

/// The signed-in user's live API keys, newest first.
#[utoipa::path(get, path = "/api/keys", tag = TAG,
    responses((status = 200, description = "The keys, without secrets", body = Vec<KeyView>)),
    security(("session" = [])))]
async fn list_keys(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Vec<KeyView>>, Problem> {
    let keys = api_keys::live(&state, current.user.id).await?;
    Ok(Json(keys.into_iter().map(KeyView::from).collect()))
}

/// Makes an API key pair for the `/v2` API; the secret is in this answer only. Needs a session
/// that signed in or proved a passkey within the last 10 minutes (audited as `api_key.create`).
#[utoipa::path(post, path = "/api/keys", tag = TAG,
    request_body = NewKeyRequest,
    responses(
        (status = 201, description = "Made; keep the secret now", body = NewKeyView),
        (status = 400, description = "The body is not JSON", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session neither signed in nor proved a passkey within \
            the last 10 minutes (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 409, description = "The user already has 10 live keys (`too_many_api_keys`)",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The name or the body is invalid", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn create_key(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
    ApiJson(req): ApiJson<NewKeyRequest>,
) -> Result<(StatusCode, Json<NewKeyView>), Problem> {
    let event = current.own_action(&client, "api_key.create", json!({}));
    let made = api_keys::create(
        &state,
        &current.user,
        &current.session,
        req.name.as_deref(),
        event,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewKeyView {
            key: made.key.into(),
            secret: made.secret,
        }),
    ))
}

/// Revokes one of the user's API keys; every server refuses it from the next request on
/// (audited as `api_key.revoke`).
#[utoipa::path(delete, path = "/api/keys/{id}", tag = TAG,
    params(("id" = i64, Path, description = "The key's row id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The user has no live key with this id", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn revoke_key(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, Problem> {
    let event = current.own_action(&client, "api_key.revoke", json!({}));
    api_keys::revoke(&state, current.user.id, id, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

const _: () = assert!(MAX_KEYS_PER_USER == 10, "the 409 above says 10");
