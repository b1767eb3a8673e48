//! The staff view of workflow traces (recorded by the use cases, see `raptor_app::traces`).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Json;
use raptor_app::traces;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;

use crate::guard::{Authorized, SupportRole};
use crate::{AppState, Problem, ProblemCode};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().route("/api/admin/traces/{workflow_id}", get(one))
}

async fn one(
    State(state): State<AppState>,
    _staff: Authorized<SupportRole>,
    Path(workflow_id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let Some((flow, events)) = traces::read(&state, &workflow_id).await? else {
        return Err(Problem::new(
            ProblemCode::NotFound,
            format!("no trace '{workflow_id}'"),
        ));
    };
    Ok(Json(json!({
        "workflow_id": flow.workflow_id,
        "name": flow.name,
        "status": flow.status,
        "started_at": flow.started_at,
        "finished_at": flow.finished_at,
        "attributes": flow.attributes,
        "events": events.into_iter().map(|e| json!({
            "name": e.name,
            "status": e.status,
            "duration_ms": e.duration_ms,
            "created_at": e.created_at,
            "attributes": e.attributes,
        })).collect::<Vec<_>>(),
    })))
}
