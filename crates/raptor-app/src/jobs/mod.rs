//! Background work on the database's job queue: handlers by kind, retries with backoff, and
//! recurring work that runs once per tick however many processes serve.
//!
//! A job is enqueued inside the transaction of the work that asks for it, so it exists exactly
//! when that work committed. [`Worker`]s in every `raptor serve` (and in `raptor worker`) claim
//! ready jobs, run their handler, and record the outcome; a job whose worker died is rescued
//! when its lease runs out.

mod builtin;
mod schedule;
mod worker;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use raptor_store::jobs::{self, Enqueued, NewJob};
use raptor_store::{StoreError, Tx};
use serde_json::Value;

pub use builtin::standard;
pub use schedule::{enqueue_due, Recurring, RECURRING};
pub use worker::{Worker, WorkerConfig};

use crate::App;

/// The queue jobs go to unless they say otherwise.
pub const DEFAULT_QUEUE: &str = "default";

/// The queue of queued backtests and sweeps: long, CPU-bound work kept apart so that it never
/// holds up order matching or mail.
pub const BACKTEST_QUEUE: &str = "backtests";

/// Attempts a job gets unless it says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: i64 = 5;

/// Why a handler did not finish its job.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt later (a timeout, a provider's 5xx, the database away).
    #[error("{0}")]
    Retry(String),
    /// No attempt will ever succeed (a malformed payload, a refused address).
    #[error("{0}")]
    Permanent(String),
}

impl From<StoreError> for JobError {
    fn from(err: StoreError) -> Self {
        JobError::Retry(err.to_string())
    }
}

/// What a handler's future resolves to.
pub type JobFuture<'a> = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send + 'a>>;

/// Runs jobs of one kind.
pub trait Handler: Send + Sync {
    /// Does the work `payload` describes.
    fn run<'a>(&'a self, app: &'a App, payload: &'a Value) -> JobFuture<'a>;
}

/// Handlers by kind.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Arc<dyn Handler>>,
}

impl Registry {
    /// Runs jobs of `kind` with `handler`.
    pub fn with(mut self, kind: &'static str, handler: impl Handler + 'static) -> Self {
        self.handlers.insert(kind, Arc::new(handler));
        self
    }

    fn get(&self, kind: &str) -> Option<Arc<dyn Handler>> {
        self.handlers.get(kind).cloned()
    }

    /// The kinds it has handlers for: the only ones its worker claims.
    fn kinds(&self) -> Vec<&'static str> {
        self.handlers.keys().copied().collect()
    }

    /// `kind` as metrics label it: a registered kind, or `unknown` for any other text a row
    /// may hold, so the label's values stay a short fixed list.
    fn label(&self, kind: &str) -> &'static str {
        self.handlers
            .get_key_value(kind)
            .map_or("unknown", |(known, _)| *known)
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kinds: Vec<_> = self.handlers.keys().collect();
        kinds.sort();
        f.debug_struct("Registry").field("kinds", &kinds).finish()
    }
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct Job {
    /// Which handler runs it.
    pub kind: &'static str,
    /// What it needs to know.
    pub payload: Value,
    /// The queue it waits in.
    pub queue: &'static str,
    /// Attempts before it is given up as failed.
    pub max_attempts: i64,
    /// Not before this time (None: at once).
    pub run_at: Option<DateTime<Utc>>,
    /// At most one job with this key exists until it is pruned or canceled.
    pub unique_key: Option<String>,
}

impl Job {
    /// A job of `kind` with `payload`, on the default queue, at once.
    pub fn new(kind: &'static str, payload: Value) -> Self {
        Self {
            kind,
            payload,
            queue: DEFAULT_QUEUE,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            run_at: None,
            unique_key: None,
        }
    }

    /// The same job, deduplicated by `key`.
    pub fn unique(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    /// The same job, in `queue`.
    pub fn on(mut self, queue: &'static str) -> Self {
        self.queue = queue;
        self
    }

    /// The same job, not before `at`.
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    fn as_new(&self, now: DateTime<Utc>) -> NewJob<'_> {
        NewJob {
            queue: self.queue,
            kind: self.kind,
            payload: &self.payload,
            max_attempts: self.max_attempts,
            run_at: self.run_at.unwrap_or(now),
            unique_key: self.unique_key.as_deref(),
        }
    }
}

/// Enqueues `job` inside `tx`: it exists if and only if the transaction commits.
pub async fn enqueue(app: &App, tx: &mut Tx, job: &Job) -> Result<Enqueued, StoreError> {
    let now = app.now();
    jobs::enqueue(tx, &job.as_new(now), now).await
}

/// Enqueues `job` on its own.
pub async fn enqueue_alone(app: &App, job: &Job) -> Result<Enqueued, StoreError> {
    let now = app.now();
    jobs::enqueue_alone(&app.db, &job.as_new(now), now).await
}

/// Why a look at the queue was refused.
#[derive(Debug, thiserror::Error)]
pub enum OverviewError {
    /// A filter is not acceptable.
    #[error(transparent)]
    Invalid(#[from] raptor_domain::InvalidInput),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The queue as an operator sees it: the newest jobs (optionally of one state and queue),
/// counts by queue and state, and how long the oldest ready job has waited.
pub async fn overview(
    app: &App,
    state: Option<&str>,
    queue: Option<&str>,
    limit: i64,
) -> Result<(Vec<jobs::Job>, jobs::QueueStats), OverviewError> {
    use raptor_domain::InvalidInput;
    if !(1..=500).contains(&limit) {
        return Err(InvalidInput::new("limit", "must be between 1 and 500").into());
    }
    let state = state
        .map(|s| {
            raptor_domain::JobState::parse(s).map_err(|_| {
                InvalidInput::new(
                    "state",
                    "must be one of queued, running, succeeded, failed (or dead), canceled",
                )
            })
        })
        .transpose()?;
    let queue = crate::text::optional_line("queue", queue, 64)?;
    let found = jobs::list(&app.db, state, queue, limit).await?;
    let stats = jobs::stats(&app.db, app.now()).await?;
    Ok((found, stats))
}

/// How long to wait before attempt `attempts + 1`: 15 s doubling per attempt, at most an
/// hour, spread ±20 % so jobs that failed together do not retry together.
pub fn backoff(attempts: i64) -> Duration {
    let exponent = attempts.clamp(1, 20) - 1;
    let base = (15_i64 << exponent).min(3600) * 1000;
    let mut byte = [0_u8; 2];
    let spread = match getrandom::fill(&mut byte) {
        Ok(()) => f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX) * 0.4 - 0.2,
        Err(_) => 0.0,
    };
    Duration::milliseconds(base + (base as f64 * spread) as i64)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod backoff_tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_with_jitter() {
        for (attempts, seconds) in [(1, 15), (2, 30), (3, 60), (4, 120), (12, 3600)] {
            let wait = backoff(attempts).num_milliseconds() as f64 / 1000.0;
            let expected = seconds as f64;
            assert!(
                (expected * 0.8..=expected * 1.2).contains(&wait),
                "attempt {attempts}: {wait} s"
            );
        }
    }
}
