//! The durable job queue in `job_queue` (#12): enqueue, claim under a lease, heartbeat,
//! complete or fail, release on shutdown, rescue of expired leases, operator cancel and retry,
//! listing, stats and pruning.
//!
//! - A claim moves due `queued` jobs of one queue to `running`, spends an attempt and stamps
//!   the worker's id and a lease. PostgreSQL skips rows another claimer has locked
//!   ([`crate::Dialect`]'s `FOR UPDATE SKIP LOCKED`); SQLite's `BEGIN IMMEDIATE` makes claims
//!   take turns. Either way no job goes to two claimers.
//! - Every outcome of an attempt is fenced by `(id, locked_by, attempts)`: a worker whose job
//!   was rescued and claimed again cannot overwrite the new attempt's result.
//! - A unique key is spent while its job exists and is not `canceled`; put any uniqueness
//!   window into the key itself (`cron:v1:prune:2026-05-10T12:00:00Z`).
//! - Queue `outbox` holds the local mail outbox ([`crate::outbox`]): finished rows that this
//!   module never claims, counts, lists unless asked for by name, or prunes.
//!
//! Times always come from the caller (the app's clock), never from the database.

use chrono::{DateTime, Utc};
use raptor_domain::JobState;
use serde_json::Value;
use sqlx::types::Json;

use crate::dialect::wakeups;
use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// The mail outbox's queue, which the job queue leaves alone.
const OUTBOX: &str = "outbox";

/// The most characters of an error message kept in `last_error`.
pub const ERROR_MAX_CHARS: usize = 2000;

/// Rows deleted per statement (and per write transaction) by [`prune`].
pub const PRUNE_BATCH: i64 = 1000;

/// A job to enqueue.
#[derive(Debug, Clone, Copy)]
pub struct NewJob<'a> {
    /// The queue whose workers run it (not `outbox`, which is never claimed).
    pub queue: &'a str,
    /// The handler's name.
    pub kind: &'a str,
    /// The handler's input (never secrets: it is stored and listed as is).
    pub payload: &'a Value,
    /// How many attempts it gets before it is `failed`; at least 1 is stored.
    pub max_attempts: i64,
    /// When it becomes due.
    pub run_at: DateTime<Utc>,
    /// Dedupe key: while a job with this key exists and is not canceled, another is not
    /// enqueued.
    pub unique_key: Option<&'a str>,
}

/// What [`enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job, with its id.
    Created(i64),
    /// A job with the same unique key exists (and is not canceled); nothing was written.
    Duplicate,
}

impl Enqueued {
    /// The new job's id; None for a duplicate.
    pub fn id(self) -> Option<i64> {
        match self {
            Enqueued::Created(id) => Some(id),
            Enqueued::Duplicate => None,
        }
    }
}

/// A job handed to a worker by [`claim`]: now `running` under the worker's lease.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClaimedJob {
    /// Row id.
    pub id: i64,
    /// Its queue.
    pub queue: String,
    /// The handler's name.
    pub kind: String,
    /// The handler's input.
    #[sqlx(json)]
    pub payload: Value,
    /// This attempt's number, from 1; pass it back to [`complete`] or [`fail`].
    pub attempts: i64,
    /// Attempts allowed before it is `failed`.
    pub max_attempts: i64,
    /// When it was due.
    pub run_at: DateTime<Utc>,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Job {
    /// Row id.
    pub id: i64,
    /// Its queue.
    pub queue: String,
    /// The handler's name.
    pub kind: String,
    /// The handler's input.
    #[sqlx(json)]
    pub payload: Value,
    /// Where it is in its life (the `status` column).
    #[sqlx(rename = "status", try_from = "String")]
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: i64,
    /// Attempts allowed before it is `failed`.
    pub max_attempts: i64,
    /// When it is (or was) due.
    pub run_at: DateTime<Utc>,
    /// When the latest attempt started.
    pub locked_at: Option<DateTime<Utc>>,
    /// The worker that ran the latest attempt (kept after it ends).
    pub locked_by: Option<String>,
    /// The latest error, truncated to [`ERROR_MAX_CHARS`].
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it succeeded, failed for good or was canceled.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its dedupe key.
    pub unique_key: Option<String>,
    /// Until when the running attempt's worker holds it; None unless `running`.
    pub lease_until: Option<DateTime<Utc>>,
}

impl Job {
    /// The payload as operators may see it. Outbox rows are emails, and emails carry sign-in
    /// links: shown, they would let whoever reads the queue sign in as the recipient.
    pub fn payload_for_operators(&self) -> serde_json::Value {
        if self.queue == OUTBOX {
            serde_json::json!({ "redacted": "outbox emails carry sign-in links" })
        } else {
            self.payload.clone()
        }
    }
}

const JOB_COLUMNS: &str = "id, queue, kind, payload, status, attempts, max_attempts, run_at, \
    locked_at, locked_by, last_error, created_at, finished_at, unique_key, lease_until";

/// How many jobs of one queue are in one state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StateCount {
    /// The queue.
    pub queue: String,
    /// The state.
    #[sqlx(rename = "status", try_from = "String")]
    pub state: JobState,
    /// How many jobs.
    pub count: i64,
}

/// The queue at a glance, for metrics and the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStats {
    /// Jobs per queue and state, ordered by queue then state; pairs with no job are left out.
    pub counts: Vec<StateCount>,
    /// How long the oldest due job (`queued`, `run_at` passed) has waited, in whole seconds;
    /// None when no job is due. A growing value means the workers are not keeping up.
    pub oldest_ready_age_secs: Option<i64>,
}

impl QueueStats {
    /// The number of jobs of `queue` in `state` (0 when none).
    pub fn count(&self, queue: &str, state: JobState) -> i64 {
        self.counts
            .iter()
            .filter(|c| c.queue == queue && c.state == state)
            .map(|c| c.count)
            .sum()
    }
}

/// The conflict target repeats the partial unique index's predicate word for word: both
/// engines use a partial index as the arbiter only when the target's `WHERE` implies it.
const ENQUEUE: &str = "INSERT INTO job_queue (queue, kind, payload, status, attempts, \
    max_attempts, run_at, created_at, unique_key) \
    VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6, $7) \
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND status <> 'canceled' DO NOTHING \
    RETURNING id";

/// Enqueues a job inside the caller's transaction, so it exists only if the work that asked
/// for it commits. A job whose unique key is taken is not written ([`Enqueued::Duplicate`]).
pub async fn enqueue(
    tx: &mut Tx,
    job: &NewJob<'_>,
    now: DateTime<Utc>,
) -> Result<Enqueued, StoreError> {
    let id: Option<i64> = on_tx!(tx, t => {
        sqlx::query_scalar(ENQUEUE)
            .bind(job.queue)
            .bind(job.kind)
            .bind(Json(job.payload))
            .bind(job.max_attempts.max(1))
            .bind(job.run_at)
            .bind(now)
            .bind(job.unique_key)
            .fetch_optional(&mut **t)
            .await?
    });
    if let (Some(_), Some(announce)) = (id, tx.dialect().notify()) {
        if job.run_at <= now {
            on_tx!(tx, t => {
                sqlx::query(announce)
                    .bind(wakeups::JOBS)
                    .bind(job.queue)
                    .execute(&mut **t)
                    .await?;
            });
        }
    }
    Ok(id.map_or(Enqueued::Duplicate, Enqueued::Created))
}

/// Wakes a worker when a job of its queue is enqueued and committed, on PostgreSQL
/// (`LISTEN`/`NOTIFY`); on SQLite it never wakes, and workers find jobs by polling. Workers
/// poll on both: a notification can be lost, and jobs due later are not announced.
pub struct Wakeups {
    listener: wakeups::Listener,
    queue: String,
}

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeups")
            .field("queue", &self.queue)
            .finish()
    }
}

impl Wakeups {
    /// Listens for jobs of `queue`, on a connection of its own taken from `db`'s pool.
    pub async fn listen(db: &Db, queue: &str) -> Result<Self, StoreError> {
        Ok(Self {
            listener: wakeups::Listener::open(&db.pool, wakeups::JOBS).await?,
            queue: queue.to_owned(),
        })
    }

    /// Resolves when a job of the queue may be ready: one was announced, or the connection
    /// was lost and re-established (announcements may have been missed meanwhile).
    pub async fn next(&mut self) {
        loop {
            match self.listener.recv().await {
                wakeups::Heard::Payload(queue) if queue != self.queue => {}
                _ => return,
            }
        }
    }
}

/// Enqueues a job in a transaction of its own.
pub async fn enqueue_alone(
    db: &Db,
    job: &NewJob<'_>,
    now: DateTime<Utc>,
) -> Result<Enqueued, StoreError> {
    let mut tx = db.begin().await?;
    let enqueued = enqueue(&mut tx, job, now).await?;
    tx.commit().await?;
    Ok(enqueued)
}

/// Claims up to `limit` due jobs of `queue` for `worker_id`, oldest due first: each becomes
/// `running`, spends an attempt, and is leased until `lease_until` (renew it with
/// [`heartbeat`]). Only jobs of `kinds` are taken (`None`: any), so a worker never claims a
/// job it has no handler for, such as a new kind enqueued by a newer release while an older
/// one still runs. Concurrent claimers get disjoint jobs. The picked ids are materialised
/// once, so PostgreSQL cannot re-run the `LIMIT` and take more rows than asked for.
pub async fn claim(
    db: &Db,
    queue: &str,
    kinds: Option<&[&str]>,
    worker_id: &str,
    limit: i64,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<ClaimedJob>, StoreError> {
    if limit <= 0 || queue == OUTBOX || kinds.is_some_and(<[&str]>::is_empty) {
        return Ok(Vec::new());
    }
    let kinds = kinds.unwrap_or_default();
    let of_kinds = if kinds.is_empty() {
        String::new()
    } else {
        let placeholders: Vec<String> = (6..6 + kinds.len()).map(|n| format!("${n}")).collect();
        format!(" AND kind IN ({})", placeholders.join(", "))
    };
    let mut tx = db.begin().await?;
    let sql = format!(
        "WITH picked AS MATERIALIZED ( \
             SELECT id FROM job_queue \
             WHERE status = 'queued' AND queue = $1 AND run_at <= $2{of_kinds} \
             ORDER BY run_at, id \
             LIMIT $3{} \
         ) \
         UPDATE job_queue \
         SET status = 'running', attempts = attempts + 1, locked_at = $2, locked_by = $4, \
             lease_until = $5 \
         WHERE id IN (SELECT id FROM picked) AND status = 'queued' \
         RETURNING id, queue, kind, payload, attempts, max_attempts, run_at",
        tx.dialect().skip_locked()
    );
    let mut jobs: Vec<ClaimedJob> = on_tx!(tx, t => {
        let mut query = sqlx::query_as(&sql)
            .bind(queue)
            .bind(now)
            .bind(limit)
            .bind(worker_id)
            .bind(lease_until);
        for kind in kinds {
            query = query.bind(*kind);
        }
        query.fetch_all(&mut **t).await?
    });
    tx.commit().await?;
    // RETURNING comes in no particular order; hand jobs out in the order they were due.
    jobs.sort_by_key(|job| (job.run_at, job.id));
    Ok(jobs)
}

/// Renews the lease on the jobs in `held` that `worker_id` still runs, and returns their ids
/// (ascending). Only jobs a task is really running are passed: a row whose outcome could not
/// be written must lapse and be rescued, not be renewed for ever. A held id missing from the
/// answer was rescued: the worker must drop its result.
pub async fn heartbeat(
    db: &Db,
    worker_id: &str,
    held: &[i64],
    lease_until: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    let mut tx = db.begin().await?;
    let mut ids = Vec::with_capacity(held.len());
    for id in held {
        let renewed: Option<i64> = on_tx!(tx, t => {
            sqlx::query_scalar(
                "UPDATE job_queue SET lease_until = $1 \
                 WHERE id = $2 AND status = 'running' AND locked_by = $3 RETURNING id",
            )
            .bind(lease_until)
            .bind(id)
            .bind(worker_id)
            .fetch_optional(&mut **t)
            .await?
        });
        ids.extend(renewed);
    }
    tx.commit().await?;
    ids.sort_unstable();
    Ok(ids)
}

/// Marks attempt `attempt` of job `id` by `worker_id` as succeeded. False when that attempt
/// no longer holds the job (it was rescued, released or retried), in which case nothing
/// changes.
pub async fn complete(
    db: &Db,
    id: i64,
    worker_id: &str,
    attempt: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let done = on_tx!(tx, t => {
        sqlx::query(
            "UPDATE job_queue \
             SET status = 'succeeded', finished_at = $1, lease_until = NULL, last_error = NULL \
             WHERE id = $2 AND status = 'running' AND locked_by = $3 AND attempts = $4",
        )
        .bind(now)
        .bind(id)
        .bind(worker_id)
        .bind(attempt)
        .execute(&mut **t)
        .await?
        .rows_affected()
    });
    tx.commit().await?;
    Ok(done == 1)
}

/// Records that attempt `attempt` of job `id` by `worker_id` failed with `error`. The job is
/// `failed` for good when it has used all its attempts or the failure is `permanent`;
/// otherwise it is queued again for `retry_at` (the caller's backoff). False, changing
/// nothing, when that attempt no longer holds the job. The error is stored without NUL
/// characters and cut to [`ERROR_MAX_CHARS`].
#[allow(clippy::too_many_arguments)]
pub async fn fail(
    db: &Db,
    id: i64,
    worker_id: &str,
    attempt: i64,
    now: DateTime<Utc>,
    error: &str,
    permanent: bool,
    retry_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let error = stored_error(error);
    let mut tx = db.begin().await?;
    let done = on_tx!(tx, t => {
        sqlx::query(
            "UPDATE job_queue SET \
                 status = CASE WHEN attempts >= max_attempts OR $5 \
                     THEN 'failed' ELSE 'queued' END, \
                 run_at = CASE WHEN attempts >= max_attempts OR $5 THEN run_at ELSE $6 END, \
                 finished_at = CASE WHEN attempts >= max_attempts OR $5 THEN $1 ELSE NULL END, \
                 lease_until = NULL, last_error = $7 \
             WHERE id = $2 AND status = 'running' AND locked_by = $3 AND attempts = $4",
        )
        .bind(now)
        .bind(id)
        .bind(worker_id)
        .bind(attempt)
        .bind(permanent)
        .bind(retry_at)
        .bind(&error)
        .execute(&mut **t)
        .await?
        .rows_affected()
    });
    tx.commit().await?;
    Ok(done == 1)
}

/// On shutdown: puts every job `worker_id` is still running back in its queue, due at `now`,
/// and gives back the attempt it spent (a deploy is not the job's fault). Returns how many.
pub async fn release(db: &Db, worker_id: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut tx = db.begin().await?;
    let released = on_tx!(tx, t => {
        sqlx::query(
            "UPDATE job_queue SET status = 'queued', run_at = $1, \
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
                 lease_until = NULL, last_error = 'interrupted by shutdown' \
             WHERE status = 'running' AND locked_by = $2",
        )
        .bind(now)
        .bind(worker_id)
        .execute(&mut **t)
        .await?
        .rows_affected()
    });
    tx.commit().await?;
    Ok(released)
}

/// Takes back running jobs whose lease ended before `expired_before` (their worker died or
/// stalled; pass `now` minus a grace for clock skew). A job with attempts left is queued again
/// at `now`; one on its final attempt is `failed`. The attempt stays spent. Returns how many.
pub async fn rescue(
    db: &Db,
    now: DateTime<Utc>,
    expired_before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut tx = db.begin().await?;
    let rescued = on_tx!(tx, t => {
        let requeued = sqlx::query(
            "UPDATE job_queue SET status = 'queued', run_at = $1, lease_until = NULL, \
                 last_error = 'lease expired: worker died or stalled' \
             WHERE status = 'running' AND (lease_until IS NULL OR lease_until < $2) AND attempts < max_attempts",
        )
        .bind(now)
        .bind(expired_before)
        .execute(&mut **t)
        .await?
        .rows_affected();
        let failed = sqlx::query(
            "UPDATE job_queue SET status = 'failed', finished_at = $1, lease_until = NULL, \
                 last_error = 'lease expired on the final attempt' \
             WHERE status = 'running' AND (lease_until IS NULL OR lease_until < $2) AND attempts >= max_attempts",
        )
        .bind(now)
        .bind(expired_before)
        .execute(&mut **t)
        .await?
        .rows_affected();
        requeued + failed
    });
    tx.commit().await?;
    Ok(rescued)
}

/// Cancels a job that has not started (`queued`), freeing its unique key. False when the job
/// is missing or not queued.
pub async fn cancel(db: &Db, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let done = on_tx!(tx, t => {
        sqlx::query(
            "UPDATE job_queue SET status = 'canceled', finished_at = $1 \
             WHERE id = $2 AND status = 'queued'",
        )
        .bind(now)
        .bind(id)
        .execute(&mut **t)
        .await?
        .rows_affected()
    });
    tx.commit().await?;
    Ok(done == 1)
}

/// Operator retry of a `failed` or `canceled` job: queued again, due at `now`, with its
/// attempt count kept and `max_attempts` raised, when needed, to allow one more attempt. The
/// row (and its unique key) is reused. False when the job is missing, in another state, or
/// canceled while a newer job took its unique key.
pub async fn retry(db: &Db, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let updated = on_tx!(tx, t => {
        sqlx::query(
            "UPDATE job_queue SET status = 'queued', run_at = $1, finished_at = NULL, \
                 lease_until = NULL, \
                 max_attempts = CASE WHEN attempts >= max_attempts \
                     THEN attempts + 1 ELSE max_attempts END \
             WHERE id = $2 AND status IN ('failed', 'canceled')",
        )
        .bind(now)
        .bind(id)
        .execute(&mut **t)
        .await
        .map(|result| result.rows_affected())
    });
    let done = match updated {
        Ok(done) => done,
        Err(err) => {
            let err = StoreError::from(err);
            // A canceled job's key was taken by a newer job: retrying would duplicate it.
            if err.is_unique_violation() {
                return Ok(false);
            }
            return Err(err);
        }
    };
    tx.commit().await?;
    Ok(done == 1)
}

/// Jobs newest first, optionally in one state and one queue. The mail outbox appears only
/// when asked for by name (`queue = Some("outbox")`).
pub async fn list(
    db: &Db,
    state: Option<JobState>,
    queue: Option<&str>,
    limit: i64,
) -> Result<Vec<Job>, StoreError> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM job_queue \
         WHERE ($1 IS NULL OR status = $1) \
           AND (queue = $2 OR ($2 IS NULL AND queue <> '{OUTBOX}')) \
         ORDER BY id DESC LIMIT $3"
    );
    let rows = on_pool!(db, pool => {
        sqlx::query_as(&sql)
            .bind(state.map(JobState::as_str))
            .bind(queue)
            .bind(limit.max(0))
            .fetch_all(pool)
            .await?
    });
    Ok(rows)
}

/// One job by id.
pub async fn get(db: &Db, id: i64) -> Result<Option<Job>, StoreError> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM job_queue WHERE id = $1");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?))
}

/// Counts per queue and state, and how long the oldest due job has waited at `now`. The mail
/// outbox is left out.
pub async fn stats(db: &Db, now: DateTime<Utc>) -> Result<QueueStats, StoreError> {
    let counts_sql = format!(
        "SELECT queue, status, count(*) AS count FROM job_queue WHERE queue <> '{OUTBOX}' \
         GROUP BY queue, status ORDER BY queue, status"
    );
    let oldest_sql = format!(
        "SELECT min(run_at) FROM job_queue \
         WHERE status = 'queued' AND run_at <= $1 AND queue <> '{OUTBOX}'"
    );
    let (counts, oldest): (Vec<StateCount>, Option<DateTime<Utc>>) = on_pool!(db, pool => {
        let counts = sqlx::query_as(&counts_sql).fetch_all(pool).await?;
        let oldest = sqlx::query_scalar(&oldest_sql).bind(now).fetch_one(pool).await?;
        (counts, oldest)
    });
    Ok(QueueStats {
        counts,
        oldest_ready_age_secs: oldest.map(|at| (now - at).num_seconds().max(0)),
    })
}

/// Deletes jobs that succeeded before `succeeded_before`, and failed or canceled jobs that
/// finished before `failed_before`, [`PRUNE_BATCH`] rows per write transaction so that no
/// write lock is held for long. The mail outbox is kept. Returns how many rows went.
pub async fn prune(
    db: &Db,
    succeeded_before: DateTime<Utc>,
    failed_before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    // DELETE … LIMIT is not portable, hence the subquery. The outer WHERE repeats the
    // conditions: under READ COMMITTED PostgreSQL re-checks only the outer predicate against
    // a row changed meanwhile (a job an operator just retried must not go).
    let sql = format!(
        "DELETE FROM job_queue WHERE id IN ( \
             SELECT id FROM job_queue \
             WHERE queue <> '{OUTBOX}' \
               AND ((status = 'succeeded' AND finished_at < $1) \
                 OR (status IN ('failed', 'canceled') AND finished_at < $2)) \
             ORDER BY id LIMIT $3) \
         AND ((status = 'succeeded' AND finished_at < $1) \
           OR (status IN ('failed', 'canceled') AND finished_at < $2))"
    );
    let mut total = 0;
    loop {
        let mut tx = db.begin().await?;
        let deleted = on_tx!(tx, t => {
            sqlx::query(&sql)
                .bind(succeeded_before)
                .bind(failed_before)
                .bind(PRUNE_BATCH)
                .execute(&mut **t)
                .await?
                .rows_affected()
        });
        tx.commit().await?;
        total += deleted;
        if deleted < PRUNE_BATCH.unsigned_abs() {
            return Ok(total);
        }
    }
}

/// An error message as stored: no NUL (PostgreSQL text refuses it), at most
/// [`ERROR_MAX_CHARS`] characters.
fn stored_error(error: &str) -> String {
    error
        .chars()
        .filter(|c| *c != '\0')
        .take(ERROR_MAX_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_errors_lose_nul_and_are_cut_to_the_limit() {
        assert_eq!(stored_error("bad\0 thing"), "bad thing");
        let long = "é".repeat(ERROR_MAX_CHARS + 10);
        let stored = stored_error(&long);
        assert_eq!(stored.chars().count(), ERROR_MAX_CHARS);
        assert_eq!(stored_error(""), "");
    }
}
