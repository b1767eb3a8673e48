//! The job queue for admins: what is waiting, running, done and dead.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::jobs::{self, OverviewError};
use raptor_store::jobs::Job;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::ApiQuery;
use crate::guard::permits::JobsRead;
use crate::guard::Permitted;
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::{AppState, Problem};

const TAG: &str = "admin";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_jobs))
}

/// Which jobs to list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct JobsQuery {
    /// Only jobs in this state: `queued`, `running`, `succeeded`, `failed` (dead) or `canceled`.
    state: Option<String>,
    /// Only jobs of this queue.
    queue: Option<String>,
    /// At most this many (1–500, default 100).
    limit: Option<i64>,
}

/// A background job.
#[derive(Serialize, ToSchema)]
struct QueuedJob {
    /// The job's id.
    id: i64,
    /// The queue it waits in.
    queue: String,
    /// What it does (its handler).
    kind: String,
    /// `queued`, `running`, `succeeded`, `failed` or `canceled`.
    state: String,
    /// Attempts made.
    attempts: i64,
    /// Attempts it may make.
    max_attempts: i64,
    /// Not before this time.
    run_at: DateTime<Utc>,
    /// When it was enqueued.
    created_at: DateTime<Utc>,
    /// When it ended, if it has.
    #[schema(required)]
    finished_at: Option<DateTime<Utc>>,
    /// The worker that last ran it.
    #[schema(required)]
    locked_by: Option<String>,
    /// Why its last attempt failed.
    #[schema(required)]
    last_error: Option<String>,
    /// What it was asked to do (outbox emails are redacted: they carry sign-in links).
    #[schema(value_type = Object)]
    payload: Value,
}

impl From<Job> for QueuedJob {
    fn from(job: Job) -> Self {
        let payload = job.payload_for_operators();
        Self {
            id: job.id,
            queue: job.queue,
            kind: job.kind,
            state: job.state.as_str().to_owned(),
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            run_at: job.run_at,
            created_at: job.created_at,
            finished_at: job.finished_at,
            locked_by: job.locked_by,
            last_error: job.last_error,
            payload,
        }
    }
}

/// How many jobs of one queue are in one state.
#[derive(Serialize, ToSchema)]
struct JobCount {
    /// The queue.
    queue: String,
    /// The state.
    state: String,
    /// How many.
    count: i64,
}

/// The queue at a glance.
#[derive(Serialize, ToSchema)]
struct JobsOverview {
    /// The newest jobs first.
    jobs: Vec<QueuedJob>,
    /// Counts by queue and state.
    counts: Vec<JobCount>,
    /// Seconds the oldest ready job has waited; null when none is waiting.
    #[schema(required)]
    oldest_ready_age_secs: Option<i64>,
}

impl From<OverviewError> for Problem {
    fn from(err: OverviewError) -> Self {
        match err {
            OverviewError::Invalid(input) => Problem::invalid(input),
            OverviewError::Store(err) => err.into(),
        }
    }
}

/// Background jobs and queue depth (admins only).
#[utoipa::path(get, path = "/api/admin/jobs", tag = TAG,
    params(JobsQuery),
    responses(
        (status = 200, description = "The newest jobs and the queue's counts", body = JobsOverview),
        (status = 400, description = "An unknown or malformed parameter", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "`state`, `queue` or `limit` is not acceptable", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn list_jobs(
    State(state): State<AppState>,
    _admin: Permitted<JobsRead>,
    ApiQuery(query): ApiQuery<JobsQuery>,
) -> Result<Json<JobsOverview>, Problem> {
    let (found, stats) = jobs::overview(
        &state,
        query.state.as_deref(),
        query.queue.as_deref(),
        query.limit.unwrap_or(100),
    )
    .await?;
    Ok(Json(JobsOverview {
        jobs: found.into_iter().map(QueuedJob::from).collect(),
        counts: stats
            .counts
            .into_iter()
            .map(|c| JobCount {
                queue: c.queue,
                state: c.state.as_str().to_owned(),
                count: c.count,
            })
            .collect(),
        oldest_ready_age_secs: stats.oldest_ready_age_secs,
    }))
}
