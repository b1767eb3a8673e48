//! `GET /healthz`: is this process able to serve, and on which database.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

const TAG: &str = "health";

/// The `/healthz` body, as the runbook's smoke checks read it.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    /// `ok`, or `degraded` when the database cannot be reached.
    status: &'static str,
    /// The database dialect: `sqlite` or `postgresql`.
    db: &'static str,
    /// The server's version.
    version: &'static str,
    /// The database's schema revision; null on an empty database or when degraded.
    #[schema(required = true)]
    revision: Option<String>,
    /// What is wrong, when degraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'static str>,
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz))
}

/// Whether this process can serve, and on which database.
///
/// Answers 503 with the same body when the database fails or does not answer within
/// 0.8 s. Requests that arrive while a check runs, or within 0.1 s of its start, share its
/// answer: an outage shows within a second.
#[utoipa::path(get, path = "/healthz", tag = TAG,
    responses(
        (status = 200, description = "Serving", body = Health),
        (status = 503, description = "The database is unreachable", body = Health),
    ))]
async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let db = state.db.dialect().name();
    let version = env!("CARGO_PKG_VERSION");
    match state
        .health
        .check(&state.app, state.fixed_revision.as_deref())
        .await
    {
        Ok(revision) => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                db,
                version,
                revision,
                detail: None,
            }),
        ),
        Err(err) => {
            tracing::warn!(%err, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "degraded",
                    db,
                    version,
                    revision: None,
                    detail: Some("database unreachable"),
                }),
            )
        }
    }
}
