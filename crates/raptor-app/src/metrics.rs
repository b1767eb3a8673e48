//! What the use cases count for `/metrics`: orders placed, fills, sign-ins and job runs, plus
//! the gauges read from the database when scraped (queue depth, the oldest ready job, the
//! connection pool). Each [`App`] holds its own [`Metrics`], shared by its clones (the API and
//! the worker of one process), so two apps in one test process never mix their counts.
//!
//! Every label takes its value from a short fixed list (an enum's wire name, a handler's
//! kind), never from what a client sent, so no request can make a new series.

use prometheus_client::encoding::{text, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use raptor_domain::orders::{OrderType, Side};
use raptor_domain::JobState;
use raptor_store::waits::WaitHistogram;
use raptor_store::{jobs, StoreError};

use crate::jobs::JobError;
use crate::App;

/// How an attempt ended, as the counters label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did what was asked.
    Success,
    /// It was refused or failed.
    Failure,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// How a job's attempt ended, as `raptor_job_runs_total` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// The handler finished the job.
    Succeeded,
    /// The handler failed in a way worth another attempt (timeouts and panics too).
    Retryable,
    /// The handler failed for good, or no handler knows the kind.
    Permanent,
}

impl JobOutcome {
    /// How a handler's result counts.
    pub fn of(result: &Result<(), JobError>) -> Self {
        match result {
            Ok(()) => JobOutcome::Succeeded,
            Err(JobError::Retry(_)) => JobOutcome::Retryable,
            Err(JobError::Permanent(_)) => JobOutcome::Permanent,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Succeeded => "succeeded",
            JobOutcome::Retryable => "retryable_error",
            JobOutcome::Permanent => "permanent_error",
        }
    }
}

/// Where a fill came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillTrigger {
    /// A marketable order filled when it was placed.
    Submission,
    /// A resting order filled when a later bar crossed it.
    Bar,
}

impl FillTrigger {
    fn as_str(self) -> &'static str {
        match self {
            FillTrigger::Submission => "submission",
            FillTrigger::Bar => "bar",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OrderLabels {
    side: &'static str,
    order_type: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FillLabels {
    trigger: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SignInLabels {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct JobRunLabels {
    kind: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

/// The use cases' counters, registered once; cheap to share behind an `Arc`.
pub struct Metrics {
    orders: Family<OrderLabels, Counter>,
    fills: Family<FillLabels, Counter>,
    sign_ins: Family<SignInLabels, Counter>,
    sign_ups: Counter,
    job_runs: Family<JobRunLabels, Counter>,
    registry: Registry,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let orders = Family::default();
        let fills = Family::default();
        let sign_ins = Family::default();
        let sign_ups = Counter::default();
        let job_runs = Family::default();
        let mut registry = Registry::default();
        registry.register(
            "raptor_orders_placed",
            "Orders accepted, by side and type (a repeated client_order_id is not counted again)",
            Family::clone(&orders),
        );
        registry.register(
            "raptor_order_fills",
            "Orders filled, at submission or by a later bar",
            Family::clone(&fills),
        );
        registry.register(
            "raptor_sign_ins",
            "Sign-ins by method (passkey, backup_code, email_link) and outcome",
            Family::clone(&sign_ins),
        );
        registry.register(
            "raptor_sign_ups",
            "Accounts opened (each with a passkey and a first session)",
            sign_ups.clone(),
        );
        registry.register(
            "raptor_job_runs",
            "Job attempts finished by this process, by kind and outcome",
            Family::clone(&job_runs),
        );
        Self {
            orders,
            fills,
            sign_ins,
            sign_ups,
            job_runs,
            registry,
        }
    }
}

impl Metrics {
    /// Counts an order that was accepted.
    pub fn order_placed(&self, side: Side, order_type: OrderType) {
        self.orders
            .get_or_create(&OrderLabels {
                side: side.as_str(),
                order_type: order_type.as_str(),
            })
            .inc();
    }

    /// Counts `count` fills.
    pub fn filled(&self, trigger: FillTrigger, count: u64) {
        if count > 0 {
            self.fills
                .get_or_create(&FillLabels {
                    trigger: trigger.as_str(),
                })
                .inc_by(count);
        }
    }

    /// Counts a sign-in by `method` (`passkey`, `backup_code`, `email_link`).
    pub fn sign_in(&self, method: &'static str, outcome: Outcome) {
        self.sign_ins
            .get_or_create(&SignInLabels {
                method,
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// Counts an account opened.
    pub fn signed_up(&self) {
        self.sign_ups.inc();
    }

    /// Counts a finished job attempt of `kind` (a registered handler's kind).
    pub fn job_run(&self, kind: &'static str, outcome: JobOutcome) {
        self.job_runs
            .get_or_create(&JobRunLabels {
                kind,
                outcome: outcome.as_str(),
            })
            .inc();
    }
}

/// A copy of the store's begin-wait histogram, encoded as a Prometheus histogram.
#[derive(Debug)]
struct BeginWaitMetric(WaitHistogram);

impl EncodeMetric for BeginWaitMetric {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(
            self.0.sum_seconds,
            self.0.count,
            &self.0.buckets,
            None,
        )
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Reads the gauges (queue depth by queue and state, the oldest ready job's age, the pool and
/// its waits) and writes them with the counters in the OpenMetrics text format, without the
/// closing `# EOF`, so that the front door can add its own families after them.
pub async fn render(app: &App, out: &mut String) -> Result<(), StoreError> {
    let stats = jobs::stats(&app.db, app.now()).await?;
    let pool = app.db.pool_status();
    let mut scraped = Registry::default();

    let depth = Family::<QueueLabels, Gauge>::default();
    // Every state of every queue that has jobs, zeros included: a state that empties shows 0
    // rather than vanishing.
    let mut queues: Vec<&str> = stats.counts.iter().map(|c| c.queue.as_str()).collect();
    queues.dedup();
    for queue in queues {
        for state in JobState::ALL {
            depth
                .get_or_create(&QueueLabels {
                    queue: queue.to_owned(),
                    state: state.as_str(),
                })
                .set(stats.count(queue, *state));
        }
    }
    scraped.register(
        "raptor_queue_jobs",
        "Jobs in the queue by queue and state (the mail outbox excluded)",
        depth,
    );
    let oldest = Gauge::<i64>::default();
    oldest.set(stats.oldest_ready_age_secs.unwrap_or(0));
    scraped.register(
        "raptor_queue_oldest_ready_age_seconds",
        "How long the oldest due job has waited to be claimed (0 when none is due)",
        oldest,
    );

    let connections = Family::<PoolLabels, Gauge>::default();
    connections
        .get_or_create(&PoolLabels { state: "idle" })
        .set(i64::from(pool.idle));
    connections
        .get_or_create(&PoolLabels { state: "in_use" })
        .set(i64::from(pool.open.saturating_sub(pool.idle)));
    scraped.register(
        "raptor_db_pool_connections",
        "Open database connections of this process, idle or in use",
        connections,
    );
    let max = Gauge::<i64>::default();
    max.set(i64::from(pool.max));
    scraped.register(
        "raptor_db_pool_max_connections",
        "The most connections the pools open; requests wait for one beyond that",
        max,
    );
    scraped.register(
        "raptor_db_begin_wait_seconds",
        "Time write transactions waited to begin: on PostgreSQL for a free pooled connection, \
         on SQLite for the process's turn, the writer's connection and the write lock",
        BeginWaitMetric(app.db.begin_waits()),
    );
    let waiting = Gauge::<i64>::default();
    waiting.set(i64::try_from(app.db.writers_waiting()).unwrap_or(i64::MAX));
    scraped.register(
        "raptor_db_writers_waiting",
        "SQLite writers of this process waiting for their turn to write (0 on PostgreSQL)",
        waiting,
    );

    let written = text::encode_registry(out, &app.metrics.registry)
        .and_then(|()| text::encode_registry(out, &scraped));
    // Writing into a String cannot fail; a label that could not be encoded would be a bug.
    if written.is_err() {
        tracing::error!("encoding metrics failed");
    }
    Ok(())
}
