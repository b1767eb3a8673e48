//! `GET /healthz`: is this process able to serve, and on which database.

use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Json;
use raptor_app::health;
use serde::Serialize;

use crate::AppState;

/// A health check that cannot answer in this time reports the database as unreachable.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The `/healthz` body, as the runbook's smoke checks read it.
#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    db: &'static str,
    version: &'static str,
    revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'static str>,
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().route("/healthz", get(healthz))
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let db = state.db.dialect().name();
    let version = env!("CARGO_PKG_VERSION");
    let check = tokio::time::timeout(
        CHECK_TIMEOUT,
        health::check(&state, state.fixed_revision.as_deref()),
    )
    .await;
    match check {
        Ok(Ok(revision)) => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                db,
                version,
                revision,
                detail: None,
            }),
        ),
        failure => {
            match failure {
                Ok(Err(err)) => tracing::warn!(%err, "health check: database query failed"),
                _ => tracing::warn!("health check: database did not answer in time"),
            }
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
