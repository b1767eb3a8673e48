//! Workflow traces of long operations (backtests). Recording a trace never fails the
//! operation it describes: a failed write is logged.

use chrono::{DateTime, Utc};
use raptor_store::traces::{self, TraceEvent, TraceWorkflow};
use raptor_store::StoreError;
use serde_json::{json, Value};

use crate::App;

/// One traced workflow in progress.
pub struct Workflow<'a> {
    app: &'a App,
    /// The id callers can look the trace up by.
    pub id: String,
    last: DateTime<Utc>,
}

impl<'a> Workflow<'a> {
    /// Starts a workflow named `name` (`backtest`) with free-form attributes.
    pub async fn start(app: &'a App, name: &str, attributes: Value) -> Workflow<'a> {
        let id = format!("{name}-{}", uuid::Uuid::new_v4());
        let now = app.now();
        let attributes = keepable(attributes);
        if let Err(err) = traces::start_workflow(&app.db, &id, name, now, Some(&attributes)).await {
            tracing::warn!(%err, workflow_id = %id, "recording a trace failed");
        }
        Workflow { app, id, last: now }
    }

    /// Records a step, timed from the previous one.
    pub async fn step(&mut self, name: &str, status: &str, attributes: Value) {
        let now = self.app.now();
        let event = TraceEvent {
            workflow_id: self.id.clone(),
            name: name.to_owned(),
            status: Some(status.to_owned()),
            duration_ms: Some((now - self.last).num_milliseconds()),
            created_at: now,
            attributes: Some(keepable(attributes)),
        };
        self.last = now;
        if let Err(err) = traces::record_event(&self.app.db, &event).await {
            tracing::warn!(%err, workflow_id = %self.id, "recording a trace step failed");
        }
    }

    /// Records a step that refused or failed with the problem code `code`, and ends the
    /// workflow as failed.
    pub async fn fail(mut self, step: &str, code: &str) {
        self.step(step, "failed", json!({ "code": code })).await;
        self.finish("failed").await;
    }

    /// Records how the workflow ended.
    pub async fn finish(self, status: &str) {
        let now = self.app.now();
        if let Err(err) = traces::finish_workflow(&self.app.db, &self.id, status, now).await {
            tracing::warn!(%err, workflow_id = %self.id, "finishing a trace failed");
        }
    }
}

/// The longest text a trace keeps of one attribute.
const MAX_ATTRIBUTE_CHARS: usize = 200;

/// `attributes` as a trace keeps them. They may hold what a client sent, refused or not: each
/// text is cut to [`MAX_ATTRIBUTE_CHARS`], with control characters (a NUL, which PostgreSQL's
/// JSON refuses) shown as U+FFFD.
fn keepable(attributes: Value) -> Value {
    match attributes {
        Value::String(text) => Value::String(
            text.chars()
                .take(MAX_ATTRIBUTE_CHARS)
                .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(keepable).collect()),
        Value::Object(fields) => {
            Value::Object(fields.into_iter().map(|(k, v)| (k, keepable(v))).collect())
        }
        other => other,
    }
}

/// A recorded workflow and its steps, oldest first; None when there is no such trace.
pub async fn read(
    app: &App,
    workflow_id: &str,
) -> Result<Option<(TraceWorkflow, Vec<TraceEvent>)>, StoreError> {
    // No trace has an id with control characters (and PostgreSQL could not even compare one).
    if crate::text::single_line("workflow_id", workflow_id, 200).is_err() {
        return Ok(None);
    }
    let Some(flow) = traces::workflow(&app.db, workflow_id).await? else {
        return Ok(None);
    };
    let events = traces::events(&app.db, workflow_id).await?;
    Ok(Some((flow, events)))
}
