//! The staff view of workflow traces (recorded by the use cases, see `raptor_app::traces`).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::traces;
use raptor_store::traces::TraceEvent;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::ApiPath;
use crate::guard::permits::TracesRead;
use crate::guard::Permitted;
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::{AppState, Problem, ProblemCode};

const TAG: &str = "admin";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_trace))
}

/// One step of a traced workflow.
#[derive(Serialize, ToSchema)]
struct TraceStep {
    /// The step (`run`, `store`, …).
    name: String,
    /// How it ended (`ok`, or a problem code), if it says.
    status: Option<String>,
    /// How long it took, in milliseconds.
    duration_ms: Option<i64>,
    /// When it was recorded.
    created_at: DateTime<Utc>,
    /// Free-form details of the step.
    #[schema(value_type = Option<Object>)]
    attributes: Option<Value>,
}

impl From<TraceEvent> for TraceStep {
    fn from(e: TraceEvent) -> Self {
        Self {
            name: e.name,
            status: e.status,
            duration_ms: e.duration_ms,
            created_at: e.created_at,
            attributes: e.attributes,
        }
    }
}

/// A traced workflow and its steps.
#[derive(Serialize, ToSchema)]
struct Trace {
    /// The workflow's id (a backtest answers it as `trace_id`).
    workflow_id: String,
    /// What ran (`backtest`, say).
    name: String,
    /// `running`, `succeeded`, `failed` or `canceled`.
    status: String,
    /// When it began.
    started_at: DateTime<Utc>,
    /// When it ended, once it has.
    finished_at: Option<DateTime<Utc>>,
    /// Free-form details of the workflow.
    #[schema(value_type = Option<Object>)]
    attributes: Option<Value>,
    /// Its steps, in order.
    events: Vec<TraceStep>,
}

/// A workflow trace with its steps, for support staff.
#[utoipa::path(get, path = "/api/admin/traces/{workflow_id}", tag = TAG,
    params(("workflow_id" = String, Path, description = "The workflow's id.")),
    responses(
        (status = 200, description = "The trace", body = Trace),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such trace", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn get_trace(
    State(state): State<AppState>,
    _staff: Permitted<TracesRead>,
    ApiPath(workflow_id): ApiPath<String>,
) -> Result<Json<Trace>, Problem> {
    let Some((flow, events)) = traces::read(&state, &workflow_id).await? else {
        return Err(Problem::new(
            ProblemCode::NotFound,
            format!("no trace '{workflow_id}'"),
        ));
    };
    Ok(Json(Trace {
        workflow_id: flow.workflow_id,
        name: flow.name,
        status: flow.status,
        started_at: flow.started_at,
        finished_at: flow.finished_at,
        attributes: flow.attributes,
        events: events.into_iter().map(TraceStep::from).collect(),
    }))
}
