//! The worker: claims ready jobs up to its concurrency, runs them, records each outcome, keeps
//! its leases alive, and on shutdown stops claiming, lets running jobs finish within a deadline
//! and puts the rest back.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::Duration;
use futures_util::FutureExt;
use raptor_store::jobs::{self, ClaimedJob};
use raptor_store::StoreError;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

use super::schedule::{enqueue_due, next_boundary, RECURRING};
use super::{backoff, JobError, Registry, DEFAULT_QUEUE};
use crate::metrics::JobOutcome;
use crate::App;

/// How long to wait before listening for new jobs again after the connection failed.
const RELISTEN_AFTER: StdDuration = StdDuration::from_secs(30);

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The queue it claims from.
    pub queue: &'static str,
    /// Jobs run at once (0: this process runs none).
    pub concurrency: usize,
    /// How often it looks for ready jobs when the queue seemed empty.
    pub poll_every: StdDuration,
    /// How long a claimed job stays this worker's without a heartbeat. Running jobs whose
    /// lease ended more than half a lease ago are taken back (the margin covers clocks that
    /// differ between machines).
    pub lease: Duration,
    /// How long running jobs may take to finish after shutdown is asked for.
    pub drain_deadline: StdDuration,
    /// How long one attempt may run before it is abandoned and retried later.
    pub job_timeout: StdDuration,
    /// Whether it also enqueues the recurring jobs' ticks.
    pub schedule: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            queue: DEFAULT_QUEUE,
            concurrency: 4,
            poll_every: StdDuration::from_secs(1),
            lease: Duration::seconds(60),
            drain_deadline: StdDuration::from_secs(20),
            job_timeout: StdDuration::from_secs(300),
            schedule: true,
        }
    }
}

/// A worker over one queue.
#[derive(Debug, Clone)]
pub struct Worker {
    app: App,
    registry: Registry,
    config: WorkerConfig,
    id: Arc<str>,
    /// The jobs a task of this worker is running now: the only leases its heartbeat renews.
    held: Arc<Mutex<HashSet<i64>>>,
}

impl Worker {
    /// A worker with a process-unique id (`host:pid:random`).
    pub fn new(app: App, registry: Registry, config: WorkerConfig) -> Self {
        let host = std::env::var("DYNO")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "raptor".to_owned());
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let id = format!("{host}:{}:{}", std::process::id(), &suffix[..8]);
        Self {
            app,
            registry,
            config,
            id: id.into(),
            held: Arc::default(),
        }
    }

    /// The id recorded in `locked_by` of the jobs it runs.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Takes back jobs whose lease ended, then claims and runs every job that is ready now,
    /// batch after batch, until none is; returns how many ran. What `run` does between polls,
    /// for tests and one-off commands.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        self.rescue().await?;
        let mut ran = 0;
        loop {
            let batch = self.claim(self.config.concurrency.max(1)).await?;
            if batch.is_empty() {
                return Ok(ran);
            }
            ran += batch.len();
            let mut running = JoinSet::new();
            for job in batch {
                let worker = self.clone();
                running.spawn(async move { worker.execute(job).await });
            }
            while let Some(done) = running.join_next().await {
                log_outcome(done);
            }
        }
    }

    /// Runs until `shutdown` turns true (or its sender goes): enqueues recurring ticks when
    /// one is due, claims what it has room for, heartbeats the leases of the jobs it runs;
    /// then lets running jobs finish within the drain deadline, stops the rest, waits for
    /// them to stop, and puts their jobs back.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        if self.config.concurrency == 0 {
            tracing::warn!(
                "this process runs no jobs (concurrency 0): recurring work such as order \
                 matching needs a `raptor worker` or another serve process"
            );
            return;
        }
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        let mut running = JoinSet::new();
        // Dropped with `run`'s future, which aborts the heartbeat even if `run` is cancelled.
        let mut background = JoinSet::new();
        background.spawn(self.clone().heartbeat());
        background.spawn(self.clone().rescue_expired());
        // Listening starts before the first claim, so no job enqueued after it goes unheard.
        let woken = Arc::new(Notify::new());
        let wakeups = jobs::Wakeups::listen(&self.app.db, self.config.queue).await;
        background.spawn(self.clone().listen(wakeups, woken.clone()));
        let mut next_tick = self.app.now();
        tracing::info!(worker = %self.id, queue = self.config.queue, concurrency = self.config.concurrency, "job worker started");
        while !*shutdown.borrow() {
            if self.config.schedule && self.app.now() >= next_tick {
                match enqueue_due(&self.app, RECURRING).await {
                    Ok(_) => next_tick = next_boundary(self.app.now()),
                    Err(err) => tracing::warn!(%err, "enqueueing recurring jobs failed"),
                }
            }
            // Permits first, then claim exactly that many jobs: none is claimed without a slot.
            let permits: Vec<_> =
                std::iter::from_fn(|| slots.clone().try_acquire_owned().ok()).collect();
            let free = permits.len();
            let mut claimed = 0;
            if free > 0 {
                match self.claim(free).await {
                    Ok(batch) => {
                        claimed = batch.len();
                        for (job, permit) in batch.into_iter().zip(permits) {
                            let worker = self.clone();
                            running.spawn(async move {
                                let outcome = worker.execute(job).await;
                                drop(permit);
                                outcome
                            });
                        }
                    }
                    Err(err) => tracing::warn!(%err, "claiming jobs failed"),
                }
            }
            while let Some(done) = running.try_join_next() {
                log_outcome(done);
            }
            if claimed == free && free > 0 {
                continue; // there may be more ready at once
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll_every) => {}
                _ = woken.notified() => {}
                changed = shutdown.changed() => if changed.is_err() { break },
                Some(done) = running.join_next() => log_outcome(done),
            }
        }
        let drained = tokio::time::timeout(self.config.drain_deadline, async {
            while let Some(done) = running.join_next().await {
                log_outcome(done);
            }
        })
        .await;
        if drained.is_err() {
            // Stop what is left and wait until it has stopped, so no job runs here after it is
            // put back for another worker.
            running.abort_all();
            while running.join_next().await.is_some() {}
        }
        background.abort_all();
        match jobs::release(&self.app.db, &self.id, self.app.now()).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "unfinished jobs put back for another worker"),
            Err(err) => {
                tracing::warn!(%err, "putting unfinished jobs back failed; their leases will run out")
            }
        }
        tracing::info!(worker = %self.id, "job worker stopped");
    }

    async fn claim(&self, limit: usize) -> Result<Vec<ClaimedJob>, StoreError> {
        let now = self.app.now();
        let kinds = self.registry.kinds();
        jobs::claim(
            &self.app.db,
            self.config.queue,
            Some(&kinds),
            &self.id,
            i64::try_from(limit).unwrap_or(i64::MAX),
            now,
            now + self.config.lease,
        )
        .await
    }

    /// Extends this worker's leases a few times per lease period.
    async fn heartbeat(self) {
        let every = (self.config.lease / 4)
            .to_std()
            .unwrap_or(StdDuration::from_secs(15));
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            let held: Vec<i64> = self.held().iter().copied().collect();
            if held.is_empty() {
                continue;
            }
            let until = self.app.now() + self.config.lease;
            match jobs::heartbeat(&self.app.db, &self.id, &held, until).await {
                Ok(renewed) if renewed.len() < held.len() => tracing::warn!(
                    lost = held.len() - renewed.len(),
                    "jobs of this worker were given to another (lease lost); their results will be dropped"
                ),
                Ok(_) => {}
                Err(err) => tracing::warn!(%err, "renewing job leases failed"),
            }
        }
    }

    /// Wakes the claim loop when a job of its queue is announced (PostgreSQL), so it need not
    /// wait for the next poll; tries again to listen after a failure to start.
    async fn listen(self, mut wakeups: Result<jobs::Wakeups, StoreError>, woken: Arc<Notify>) {
        loop {
            match wakeups {
                Ok(mut listening) => loop {
                    listening.next().await;
                    woken.notify_one();
                },
                Err(err) => {
                    tracing::warn!(%err, "cannot listen for new jobs; finding them by polling");
                    tokio::time::sleep(RELISTEN_AFTER).await;
                    wakeups = jobs::Wakeups::listen(&self.app.db, self.config.queue).await;
                }
            }
        }
    }

    /// Takes back, every half lease, running jobs whose worker stopped renewing their lease
    /// (killed, frozen, cut off from the database): each runs again elsewhere, or fails if it
    /// was on its final attempt.
    async fn rescue_expired(self) {
        let every = (self.config.lease / 2)
            .to_std()
            .unwrap_or(StdDuration::from_secs(30));
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            if let Err(err) = self.rescue().await {
                tracing::warn!(%err, "taking back jobs with expired leases failed");
            }
        }
    }

    /// Takes back running jobs whose lease ended more than half a lease ago.
    async fn rescue(&self) -> Result<u64, StoreError> {
        let now = self.app.now();
        let rescued = jobs::rescue(&self.app.db, now, now - self.config.lease / 2).await?;
        if rescued > 0 {
            tracing::warn!(rescued, "jobs whose worker stopped answering were requeued");
        }
        Ok(rescued)
    }

    /// Runs one claimed job and records how it ended.
    async fn execute(&self, job: ClaimedJob) -> Result<(), StoreError> {
        self.held().insert(job.id);
        let recorded = self.attempt(&job).await;
        self.held().remove(&job.id);
        recorded
    }

    /// The jobs this worker's tasks are running (a poisoned lock still holds the set).
    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn attempt(&self, job: &ClaimedJob) -> Result<(), StoreError> {
        let outcome = match self.registry.get(&job.kind) {
            None => Err(JobError::Permanent(format!(
                "no handler for jobs of kind {}",
                job.kind
            ))),
            Some(handler) => {
                let run = AssertUnwindSafe(handler.run(&self.app, &job.payload)).catch_unwind();
                match tokio::time::timeout(self.config.job_timeout, run).await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(_)) => Err(JobError::Retry("the handler panicked".to_owned())),
                    Err(_) => Err(JobError::Retry(format!(
                        "the attempt took longer than {:?} and was abandoned",
                        self.config.job_timeout
                    ))),
                }
            }
        };
        let counted = JobOutcome::of(&outcome);
        self.app
            .metrics
            .job_run(self.registry.label(&job.kind), counted);
        let now = self.app.now();
        let recorded = match &outcome {
            Ok(()) => jobs::complete(&self.app.db, job.id, &self.id, job.attempts, now).await?,
            Err(err) => {
                let permanent = matches!(err, JobError::Permanent(_));
                tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, %err, permanent, "job failed");
                jobs::fail(
                    &self.app.db,
                    job.id,
                    &self.id,
                    job.attempts,
                    now,
                    &err.to_string(),
                    permanent,
                    now + backoff(job.attempts),
                )
                .await?
            }
        };
        if !recorded {
            tracing::warn!(
                job = job.id,
                "the job was no longer ours when it ended (lease lost); its outcome is dropped"
            );
        }
        Ok(())
    }
}

/// Logs a job task that failed to record its outcome (the lease then lapses and the job is
/// rescued) or that ended abnormally.
fn log_outcome(done: Result<Result<(), StoreError>, tokio::task::JoinError>) {
    match done {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            tracing::warn!(%err, "recording a job's outcome failed; its lease will lapse and it will run again")
        }
        Err(err) if err.is_cancelled() => {}
        Err(err) => tracing::warn!(%err, "a job task ended abnormally"),
    }
}
