//! Workflow traces of the API's long operations (backtests), and the staff view of them.
//! Recording a trace never fails the operation it describes: a failed write is logged.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use raptor_store::traces::{self, TraceEvent};
use raptor_store::{clock, Db};
use serde_json::{json, Value};

use crate::guard::{Authorized, SupportRole};
use crate::{AppState, Problem};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/admin/traces/{workflow_id}", get(one))
}

/// One traced workflow in progress.
pub(crate) struct Workflow<'a> {
    db: &'a Db,
    /// The id callers can look the trace up by.
    pub(crate) id: String,
    last: DateTime<Utc>,
}

impl<'a> Workflow<'a> {
    /// Starts a workflow named `name` (`backtest`) with free-form attributes.
    pub(crate) async fn start(db: &'a Db, name: &str, attributes: Value) -> Workflow<'a> {
        let id = format!("{name}-{}", uuid::Uuid::new_v4());
        let now = clock::now();
        if let Err(err) = traces::start_workflow(db, &id, name, now, Some(&attributes)).await {
            tracing::warn!(%err, workflow_id = %id, "recording a trace failed");
        }
        Workflow { db, id, last: now }
    }

    /// Records a step, timed from the previous one.
    pub(crate) async fn step(&mut self, name: &str, status: &str, attributes: Value) {
        let now = clock::now();
        let event = TraceEvent {
            workflow_id: self.id.clone(),
            name: name.to_owned(),
            status: Some(status.to_owned()),
            duration_ms: Some((now - self.last).num_milliseconds()),
            created_at: now,
            attributes: Some(attributes),
        };
        self.last = now;
        if let Err(err) = traces::record_event(self.db, &event).await {
            tracing::warn!(%err, workflow_id = %self.id, "recording a trace step failed");
        }
    }

    /// Records a step that refused or failed with `problem`, ends the workflow as failed, and
    /// hands the problem back for the caller to return.
    pub(crate) async fn fail(mut self, step: &str, problem: Problem) -> Problem {
        self.step(step, "failed", json!({ "code": problem.code }))
            .await;
        self.finish("failed").await;
        problem
    }

    /// Records how the workflow ended.
    pub(crate) async fn finish(self, status: &str) {
        if let Err(err) = traces::finish_workflow(self.db, &self.id, status, clock::now()).await {
            tracing::warn!(%err, workflow_id = %self.id, "finishing a trace failed");
        }
    }
}

async fn one(
    State(state): State<AppState>,
    _staff: Authorized<SupportRole>,
    Path(workflow_id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let Some(flow) = traces::workflow(&state.db, &workflow_id).await? else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no trace '{workflow_id}'"),
        ));
    };
    let events = traces::events(&state.db, &workflow_id).await?;
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
