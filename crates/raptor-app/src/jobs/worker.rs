//! The worker: claims ready jobs up to its concurrency, runs them, records each outcome, keeps
//! its leases alive, and on shutdown stops claiming, lets running jobs finish within a deadline
//! and puts the rest back.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use futures_util::FutureExt;
use raptor_store::jobs::{self, ClaimedJob};
use raptor_store::StoreError;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::schedule::{enqueue_due, RECURRING};
use super::{backoff, JobError, Registry, DEFAULT_QUEUE};
use crate::App;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The queue it claims from.
    pub queue: &'static str,
    /// Jobs run at once (0: this process runs none).
    pub concurrency: usize,
    /// How often it looks for ready jobs when the queue seemed empty.
    pub poll_every: StdDuration,
    /// How long a claimed job stays this worker's without a heartbeat.
    pub lease: Duration,
    /// How long running jobs may take to finish after shutdown is asked for.
    pub drain_deadline: StdDuration,
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
        }
    }

    /// The id recorded in `locked_by` of the jobs it runs.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Claims and runs every job that is ready now, batch after batch, until none is; returns
    /// how many ran. What `run` does between polls, for tests and one-off commands.
    pub async fn drain(&self) -> Result<usize, StoreError> {
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
                if let Ok(Err(err)) = done {
                    tracing::warn!(%err, "recording a job's outcome failed");
                }
            }
        }
    }

    /// Runs until `shutdown` turns true: enqueues recurring ticks, claims what it has room
    /// for, heartbeats its leases; then drains within the deadline and releases the rest.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        if self.config.concurrency == 0 {
            return;
        }
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        let mut running = JoinSet::new();
        let heartbeat = tokio::spawn(self.clone().heartbeat());
        tracing::info!(worker = %self.id, queue = self.config.queue, concurrency = self.config.concurrency, "job worker started");
        while !*shutdown.borrow() {
            if self.config.schedule {
                if let Err(err) = enqueue_due(&self.app, RECURRING).await {
                    tracing::warn!(%err, "enqueueing recurring jobs failed");
                }
            }
            let free = slots.available_permits();
            let mut claimed = 0;
            if free > 0 {
                match self.claim(free).await {
                    Ok(batch) => {
                        claimed = batch.len();
                        for job in batch {
                            let Ok(permit) = slots.clone().try_acquire_owned() else {
                                break;
                            };
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
                if let Ok(Err(err)) = done {
                    tracing::warn!(%err, "recording a job's outcome failed");
                }
            }
            if claimed == free && free > 0 {
                continue; // there may be more ready at once
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll_every) => {}
                _ = shutdown.changed() => {}
                Some(_) = running.join_next() => {}
            }
        }
        let drained = tokio::time::timeout(self.config.drain_deadline, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            running.abort_all();
        }
        heartbeat.abort();
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
        jobs::claim(
            &self.app.db,
            self.config.queue,
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
            let until = self.app.now() + self.config.lease;
            if let Err(err) = jobs::heartbeat(&self.app.db, &self.id, until).await {
                tracing::warn!(%err, "renewing job leases failed");
            }
        }
    }

    /// Runs one claimed job and records how it ended.
    async fn execute(&self, job: ClaimedJob) -> Result<(), StoreError> {
        let outcome = match self.registry.get(&job.kind) {
            None => Err(JobError::Permanent(format!(
                "no handler for jobs of kind {}",
                job.kind
            ))),
            Some(handler) => AssertUnwindSafe(handler.run(&self.app, &job.payload))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(JobError::Retry("the handler panicked".to_owned()))),
        };
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
