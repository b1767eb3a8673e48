//! Parameter sweeps: what to run, how far a worker got, and the ranked results.

use chrono::{DateTime, Utc};
use raptor_domain::timeframe::Timeframe;
use serde_json::Value;
use sqlx::types::Json;

use crate::engine::Db;
use crate::error::StoreError;
use crate::queued_runs::{self, Queued};
use crate::tx::Tx;

/// A sweep to queue.
#[derive(Debug, Clone)]
pub struct NewSweep<'a> {
    /// Who asked for it.
    pub user_id: i64,
    /// Ticker.
    pub symbol: &'a str,
    /// Timeframe.
    pub timeframe: Timeframe,
    /// First bar considered.
    pub period_start: DateTime<Utc>,
    /// End of the range.
    pub period_end: DateTime<Utc>,
    /// The strategy type, its grid, the execution model, the cash and the ranking.
    pub request: &'a Value,
    /// Combinations to run.
    pub total: i64,
}

/// A stored sweep.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Sweep {
    /// Row id.
    pub id: i64,
    /// Who asked for it.
    pub user_id: i64,
    /// Ticker.
    pub symbol: String,
    /// Timeframe.
    #[sqlx(try_from = "String")]
    pub timeframe: Timeframe,
    /// Range start.
    pub period_start: DateTime<Utc>,
    /// Range end.
    pub period_end: DateTime<Utc>,
    /// What to run.
    pub request: Json<Value>,
    /// `queued`, `running`, `succeeded`, `failed` or `canceled`.
    pub status: String,
    /// Combinations to run.
    pub total: i64,
    /// Combinations run.
    pub done: i64,
    /// Ranked results, once it succeeded.
    pub results: Option<Json<Value>>,
    /// Why it failed.
    pub error: Option<String>,
    /// The job that runs it.
    pub job_id: Option<i64>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When a worker began it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, user_id, symbol, timeframe, period_start, period_end, request, status, \
    total, done, results, error, job_id, created_at, started_at, finished_at";

/// Queues a sweep; returns its id.
pub async fn insert(tx: &mut Tx, s: &NewSweep<'_>, now: DateTime<Utc>) -> Result<i64, StoreError> {
    Ok(on_tx!(tx, t => {
        sqlx::query_scalar(
            "INSERT INTO backtest_sweeps (user_id, symbol, timeframe, period_start, period_end, \
             request, status, total, done, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, 0, $8) RETURNING id",
        )
        .bind(s.user_id)
        .bind(s.symbol)
        .bind(s.timeframe.as_str())
        .bind(s.period_start)
        .bind(s.period_end)
        .bind(Json(s.request))
        .bind(s.total)
        .bind(now)
        .fetch_one(&mut **t)
        .await?
    }))
}

/// Records the job that runs sweep `id`.
pub async fn set_job(tx: &mut Tx, id: i64, job_id: i64) -> Result<(), StoreError> {
    queued_runs::set_job(tx, Queued::Sweeps, id, job_id).await
}

/// How many of a user's sweeps are queued or running, counted in the transaction that queues
/// the next: two at once take turns, so neither passes a limit the other has reached.
pub async fn active(tx: &mut Tx, user_id: i64) -> Result<i64, StoreError> {
    queued_runs::active(tx, Queued::Sweeps, user_id).await
}

/// Ends as failed every queued or running sweep whose job failed or was canceled without
/// finishing it; returns how many.
pub async fn fail_abandoned(db: &Db, now: DateTime<Utc>) -> Result<u64, StoreError> {
    queued_runs::fail_abandoned(db, Queued::Sweeps, now).await
}

/// One of a user's sweeps.
pub async fn get(db: &Db, user_id: i64, id: i64) -> Result<Option<Sweep>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM backtest_sweeps WHERE user_id = $1 AND id = $2");
    Ok(
        on_pool!(db, pool => sqlx::query_as(&sql).bind(user_id).bind(id).fetch_optional(pool).await?),
    )
}

/// A sweep, whoever asked for it (for the worker that runs it).
pub async fn load(db: &Db, id: i64) -> Result<Option<Sweep>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM backtest_sweeps WHERE id = $1");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?))
}

/// A user's sweeps, newest first.
pub async fn of_user(db: &Db, user_id: i64, limit: i64) -> Result<Vec<Sweep>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM backtest_sweeps WHERE user_id = $1 ORDER BY id DESC LIMIT $2"
    );
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(user_id).bind(limit).fetch_all(pool).await?))
}

/// Runs one update of a sweep in its own transaction; true when it changed a row.
macro_rules! update_one {
    ($db:expr, $sql:expr, $($bind:expr),+) => {{
        let mut tx = $db.begin().await?;
        let changed = on_tx!(tx, t => {
            sqlx::query($sql)$(.bind($bind))+.execute(&mut **t).await?.rows_affected()
        });
        tx.commit().await?;
        Ok(changed > 0)
    }};
}

/// A worker begins sweep `id`, or begins it again after a worker died: false when it was
/// canceled or has ended.
pub async fn start(db: &Db, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
    update_one!(
        db,
        "UPDATE backtest_sweeps SET status = 'running', done = 0, started_at = $2 \
         WHERE id = $1 AND status IN ('queued', 'running')",
        id,
        now
    )
}

/// Records that `done` combinations of running sweep `id` have run: false when it is no
/// longer running (canceled).
pub async fn progress(db: &Db, id: i64, done: i64) -> Result<bool, StoreError> {
    update_one!(
        db,
        "UPDATE backtest_sweeps SET done = $2 WHERE id = $1 AND status = 'running'",
        id,
        done
    )
}

/// Ends running sweep `id` as `succeeded` with its ranked `results`: false when it was
/// canceled meanwhile.
pub async fn succeed(
    db: &Db,
    id: i64,
    results: &Value,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    update_one!(
        db,
        "UPDATE backtest_sweeps SET status = 'succeeded', done = total, results = $2, \
         finished_at = $3 WHERE id = $1 AND status = 'running'",
        id,
        Json(results),
        now
    )
}

/// Ends sweep `id` as `failed` with the reason (a run refused by the engine, no bars).
pub async fn fail(db: &Db, id: i64, error: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    update_one!(
        db,
        "UPDATE backtest_sweeps SET status = 'failed', error = $2, finished_at = $3 \
         WHERE id = $1 AND status IN ('queued', 'running')",
        id,
        error,
        now
    )
}

/// Cancels one of a user's sweeps that has not ended: false when there is none such.
pub async fn cancel(
    db: &Db,
    user_id: i64,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    update_one!(
        db,
        "UPDATE backtest_sweeps SET status = 'canceled', finished_at = $3 \
         WHERE id = $1 AND user_id = $2 AND status IN ('queued', 'running')",
        id,
        user_id,
        now
    )
}
