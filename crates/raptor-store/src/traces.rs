//! Workflow traces: a workflow row per traced operation and its events, time-series data that
//! PostgreSQL keeps in monthly partitions (revision `0004_partition_traces`) and SQLite in plain
//! indexed tables. The queries are the same on both; only partition upkeep differs.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::dialect::partitions;
use crate::engine::Db;
use crate::error::StoreError;

/// One traced operation.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceWorkflow {
    /// The application's id for the workflow, shared with its events.
    pub workflow_id: String,
    /// What ran (`backtest`, say).
    pub name: String,
    /// `running`, `succeeded`, `failed` or `canceled`.
    pub status: String,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// When it ended, once it has.
    pub finished_at: Option<DateTime<Utc>>,
    /// Free-form details.
    pub attributes: Option<Value>,
}

/// One step within a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEvent {
    /// The workflow it belongs to.
    pub workflow_id: String,
    /// The step.
    pub name: String,
    /// How it ended, if it says.
    pub status: Option<String>,
    /// How long it took.
    pub duration_ms: Option<i64>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// Free-form details.
    pub attributes: Option<Value>,
}

/// Records the start of a workflow.
pub async fn start_workflow(
    db: &Db,
    workflow_id: &str,
    name: &str,
    started_at: DateTime<Utc>,
    attributes: Option<&Value>,
) -> Result<(), StoreError> {
    on_write!(db, pool => {
        sqlx::query(
            "INSERT INTO trace_workflows (started_at, workflow_id, name, status, attributes) \
             VALUES ($1, $2, $3, 'running', $4)",
        )
        .bind(started_at)
        .bind(workflow_id)
        .bind(name)
        .bind(attributes.map(Json))
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Records how a running workflow ended; false when no such running workflow exists.
pub async fn finish_workflow(
    db: &Db,
    workflow_id: &str,
    status: &str,
    finished_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = on_write!(db, pool => {
        sqlx::query(
            "UPDATE trace_workflows SET status = $1, finished_at = $2 \
             WHERE workflow_id = $3 AND status = 'running'",
        )
        .bind(status)
        .bind(finished_at)
        .bind(workflow_id)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(done > 0)
}

/// Records one event of a workflow.
pub async fn record_event(db: &Db, event: &TraceEvent) -> Result<(), StoreError> {
    on_write!(db, pool => {
        sqlx::query(
            "INSERT INTO trace_events (created_at, workflow_id, name, status, duration_ms, attributes) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(event.created_at)
        .bind(&event.workflow_id)
        .bind(&event.name)
        .bind(event.status.as_deref())
        .bind(event.duration_ms)
        .bind(event.attributes.as_ref().map(Json))
        .execute(pool)
        .await?;
    });
    Ok(())
}

type WorkflowRow = (
    String,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<Json<Value>>,
);
type EventRow = (
    String,
    String,
    Option<String>,
    Option<i64>,
    DateTime<Utc>,
    Option<Json<Value>>,
);

/// A workflow by its id.
pub async fn workflow(db: &Db, workflow_id: &str) -> Result<Option<TraceWorkflow>, StoreError> {
    let row: Option<WorkflowRow> = on_pool!(db, pool => {
        sqlx::query_as(
            "SELECT workflow_id, name, status, started_at, finished_at, attributes \
             FROM trace_workflows WHERE workflow_id = $1 ORDER BY started_at LIMIT 1",
        )
        .bind(workflow_id)
        .fetch_optional(pool)
        .await?
    });
    Ok(row.map(
        |(workflow_id, name, status, started_at, finished_at, attributes)| TraceWorkflow {
            workflow_id,
            name,
            status,
            started_at,
            finished_at,
            attributes: attributes.map(|a| a.0),
        },
    ))
}

/// A workflow's events, oldest first.
pub async fn events(db: &Db, workflow_id: &str) -> Result<Vec<TraceEvent>, StoreError> {
    let rows: Vec<EventRow> = on_pool!(db, pool => {
        sqlx::query_as(
            "SELECT workflow_id, name, status, duration_ms, created_at, attributes \
             FROM trace_events WHERE workflow_id = $1 ORDER BY created_at, id",
        )
        .bind(workflow_id)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(
            |(workflow_id, name, status, duration_ms, created_at, attributes)| TraceEvent {
                workflow_id,
                name,
                status,
                duration_ms,
                created_at,
                attributes: attributes.map(|a| a.0),
            },
        )
        .collect())
}

/// How many events were recorded in `[from, to)`.
pub async fn count_events_between(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar("SELECT count(*) FROM trace_events WHERE created_at >= $1 AND created_at < $2")
            .bind(from)
            .bind(to)
            .fetch_one(pool)
            .await?
    }))
}

/// Makes sure the monthly partitions exist from this month to `months_ahead` months on, and
/// moves rows waiting in a DEFAULT partition into theirs. Returns the partitions created; on
/// SQLite (plain tables) there is nothing to do. Callable by the application role.
pub async fn ensure_partitions(db: &Db, months_ahead: i32) -> Result<i32, StoreError> {
    Ok(partitions::ensure(&db.pool, months_ahead).await?)
}

/// What a retention run removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Whole monthly partitions dropped (PostgreSQL).
    pub partitions: Vec<String>,
    /// Trace rows left in both tables afterwards.
    pub rows_left: i64,
}

/// Retention: removes every trace row older than `cutoff`. On PostgreSQL whole monthly
/// partitions are dropped (no row-by-row delete) and the month straddling the cutoff is
/// trimmed; on SQLite the rows are deleted.
pub async fn prune(db: &Db, cutoff: DateTime<Utc>) -> Result<Pruned, StoreError> {
    let partitions = partitions::prune(&db.pool, cutoff).await?;
    let rows_left = on_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT count(*) FROM trace_events) + (SELECT count(*) FROM trace_workflows)",
        )
        .fetch_one(pool)
        .await?
    });
    Ok(Pruned {
        partitions,
        rows_left,
    })
}

/// One partition of a trace table and its rows.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Partition {
    /// The partitioned table.
    pub parent: String,
    /// The partition (`trace_events_p202611`, or `…_default`).
    pub name: String,
    /// Its bounds, as PostgreSQL states them.
    pub bounds: String,
    /// Rows in it (the planner's estimate is not used: this counts).
    pub rows: i64,
}

/// What a PostgreSQL server offers of TimescaleDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timescale {
    /// The version the server could install, if any.
    pub available: Option<String>,
    /// The version installed in this database, if any.
    pub installed: Option<String>,
}

/// The partitions of both trace tables (none on SQLite).
pub async fn partitions(db: &Db) -> Result<Vec<Partition>, StoreError> {
    Ok(partitions::list(&db.pool).await?)
}

/// Whether TimescaleDB is available and installed (`None` on SQLite).
pub async fn timescale(db: &Db) -> Result<Option<Timescale>, StoreError> {
    Ok(partitions::timescale(&db.pool).await?)
}
