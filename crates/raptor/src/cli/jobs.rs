//! `raptor jobs` and `raptor worker`: the job queue for operators, and a process that only
//! runs jobs (a `worker:` line in the Procfile).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use raptor_app::jobs::{self, Worker, WorkerConfig};
use raptor_app::{App, Clock, SystemClock};
use raptor_domain::JobState;
use raptor_store::jobs as queue;
use raptor_store::DatabaseUrl;
use serde_json::json;

use super::mail::MailArgs;
use super::{connect_app, CliError};

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Jobs, newest first.
    List {
        /// Only jobs in this state: queued, running, succeeded, failed (dead) or canceled.
        #[arg(long)]
        state: Option<String>,
        /// Only jobs of this queue.
        #[arg(long)]
        queue: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One job in full, its payload and last error included.
    Show {
        /// The job's id.
        id: i64,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a failed (dead) or canceled job again, with one more attempt.
    Retry {
        /// The job's id.
        id: i64,
    },
    /// Cancel a job that has not started.
    Cancel {
        /// The job's id.
        id: i64,
    },
    /// Counts by queue and state, and how long the oldest ready job has waited.
    Stats {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A state as operators name it: the stored names, and `dead` for `failed`.
fn parse_state(state: &str) -> Result<JobState, CliError> {
    JobState::parse(state).map_err(|_| {
        CliError::Refused(format!(
            "unknown state '{state}'; use queued, running, succeeded, failed (or dead) or canceled"
        ))
    })
}

fn job_json(job: &queue::Job) -> serde_json::Value {
    json!({
        "id": job.id, "queue": job.queue, "kind": job.kind, "state": job.state.as_str(),
        "attempts": job.attempts, "max_attempts": job.max_attempts, "run_at": job.run_at,
        "created_at": job.created_at, "finished_at": job.finished_at,
        "locked_by": job.locked_by, "unique_key": job.unique_key,
        "last_error": job.last_error, "payload": job.payload_for_operators(),
    })
}

impl JobsCommand {
    /// Runs the command against the database at `url`.
    pub async fn run(self, url: &DatabaseUrl) -> Result<ExitCode, CliError> {
        // Parse before connecting: bad input is refused without touching the database.
        let state = match &self {
            JobsCommand::List {
                state: Some(state), ..
            } => Some(parse_state(state)?),
            _ => None,
        };
        let db = connect_app(url, false).await?;
        let now = SystemClock.now();
        let outcome = async {
            match self {
                JobsCommand::List {
                    queue: name,
                    limit,
                    json,
                    ..
                } => {
                    let found = queue::list(&db, state, name.as_deref(), limit).await?;
                    if json {
                        for job in &found {
                            out!("{}", job_json(job));
                        }
                    } else {
                        out!("{:>8}  {:<10} {:<10} {:<20} {:>8}  run at", "id", "state", "queue", "kind", "attempts");
                        for job in &found {
                            out!(
                                "{:>8}  {:<10} {:<10} {:<20} {:>4}/{:<3}  {}",
                                job.id,
                                job.state.as_str(),
                                job.queue,
                                job.kind,
                                job.attempts,
                                job.max_attempts,
                                job.run_at.format("%Y-%m-%d %H:%M:%S UTC")
                            );
                        }
                    }
                    Ok(ExitCode::SUCCESS)
                }
                JobsCommand::Show { id, json } => match queue::get(&db, id).await? {
                    Some(job) if json => {
                        out!("{}", job_json(&job));
                        Ok(ExitCode::SUCCESS)
                    }
                    Some(job) => {
                        let text = serde_json::to_string_pretty(&job_json(&job))
                            .unwrap_or_default();
                        out!("{text}");
                        Ok(ExitCode::SUCCESS)
                    }
                    None => Err(CliError::Refused(format!("no job {id}"))),
                },
                JobsCommand::Retry { id } => {
                    if queue::retry(&db, id, now).await? {
                        out!("job {id} queued again");
                        Ok(ExitCode::SUCCESS)
                    } else {
                        Err(CliError::Refused(format!(
                            "job {id} is not failed or canceled (see `raptor jobs show {id}`)"
                        )))
                    }
                }
                JobsCommand::Cancel { id } => {
                    if queue::cancel(&db, id, now).await? {
                        out!("job {id} canceled");
                        Ok(ExitCode::SUCCESS)
                    } else {
                        Err(CliError::Refused(format!(
                            "job {id} is not waiting to run (see `raptor jobs show {id}`)"
                        )))
                    }
                }
                JobsCommand::Stats { json } => {
                    let stats = queue::stats(&db, now).await?;
                    if json {
                        let counts: Vec<_> = stats
                            .counts
                            .iter()
                            .map(|c| json!({ "queue": c.queue, "state": c.state.as_str(), "count": c.count }))
                            .collect();
                        out!(
                            "{}",
                            json!({ "counts": counts, "oldest_ready_age_secs": stats.oldest_ready_age_secs })
                        );
                    } else {
                        for c in &stats.counts {
                            out!("{:<10} {:<10} {:>8}", c.queue, c.state.as_str(), c.count);
                        }
                        match stats.oldest_ready_age_secs {
                            Some(age) => out!("oldest ready job waited {age} s"),
                            None => out!("no job is waiting"),
                        }
                    }
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        .await;
        db.close().await;
        outcome
    }
}

/// `raptor worker`: runs jobs, and schedules the recurring ones, until SIGTERM.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Jobs run at once.
    #[arg(long, env = "RAPTOR_WORKER_CONCURRENCY", default_value_t = 4)]
    concurrency: usize,
    /// How long a job stays this worker's without a heartbeat.
    #[command(flatten)]
    lease: LeaseArg,
    /// Queued backtests and sweeps run at once, and the bar series kept.
    #[command(flatten)]
    backtests: BacktestWorkerArgs,
    /// Where outgoing email goes (mail jobs run here too).
    #[command(flatten)]
    mail: MailArgs,
}

/// `--job-lease`: shared by `raptor worker` and `raptor serve`.
#[derive(Debug, Clone, Copy, Args)]
pub struct LeaseArg {
    /// Seconds a running job stays its worker's without a heartbeat (renewed every quarter
    /// lease). Another worker takes it back half a lease after it lapses: a worker killed
    /// mid-job delays that job by about 1.5 leases.
    #[arg(long = "job-lease", env = "RAPTOR_JOB_LEASE", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(2..=3600))]
    seconds: u64,
}

/// `--backtest-concurrency` and `--series-cache-mb`: shared by `raptor worker` and `raptor serve`.
#[derive(Debug, Clone, Copy, Args)]
pub struct BacktestWorkerArgs {
    /// Queued backtests and sweeps this process runs at once, from a queue of their own
    /// (`backtests`), so long runs never hold up order matching or mail (0: none). Each
    /// uses every core.
    #[arg(
        long = "backtest-concurrency",
        env = "RAPTOR_BACKTEST_CONCURRENCY",
        default_value_t = 1
    )]
    jobs: usize,
    /// MiB of loaded bar series kept in memory for backtests and sweeps that read the same
    /// bars again (checked against the symbol's bars version, so a re-import anywhere is seen
    /// at once; 0: none). A million one-minute bars take about 53 MiB.
    #[arg(
        long = "series-cache-mb",
        env = "RAPTOR_SERIES_CACHE_MB",
        default_value_t = 256
    )]
    series_cache_mb: usize,
}

impl BacktestWorkerArgs {
    /// `app` keeping this many bar series.
    pub fn apply(self, app: App) -> App {
        app.with_series_cache(self.series_cache_mb.saturating_mul(1 << 20))
    }
}

/// Starts the workers of a process: `concurrency` jobs at once of the default queue, and
/// `backtests.jobs` of the backtest queue (with no recurring schedule of its own).
pub fn spawn_workers(
    app: &App,
    lease: LeaseArg,
    concurrency: usize,
    backtests: BacktestWorkerArgs,
    stopped: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut running = vec![tokio::spawn(
        Worker::new(app.clone(), jobs::standard(), lease.config(concurrency)).run(stopped.clone()),
    )];
    if backtests.jobs > 0 {
        let config = WorkerConfig {
            queue: jobs::BACKTEST_QUEUE,
            schedule: false,
            ..lease.config(backtests.jobs)
        };
        running.push(tokio::spawn(
            Worker::new(app.clone(), jobs::standard(), config).run(stopped.clone()),
        ));
    }
    running
}

impl LeaseArg {
    /// A worker configuration with this lease and `concurrency` jobs at once.
    pub fn config(self, concurrency: usize) -> WorkerConfig {
        WorkerConfig {
            concurrency,
            lease: chrono::Duration::seconds(i64::try_from(self.seconds).unwrap_or(60)),
            ..WorkerConfig::default()
        }
    }
}

/// Runs a worker over the database at `url` until SIGTERM or Ctrl-C.
pub async fn work(url: &DatabaseUrl, args: WorkerArgs) -> Result<ExitCode, CliError> {
    let db = connect_app(url, false).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let app = args.backtests.apply(args.mail.apply(App::new(db.clone()))?);
    let running = spawn_workers(
        &app,
        args.lease,
        args.concurrency.max(1),
        args.backtests,
        &stopped,
    );
    super::serve::shutdown_signal().await;
    let _ = stop.send(true);
    for worker in running {
        if let Err(err) = worker.await {
            tracing::warn!(%err, "a job worker ended abnormally");
        }
    }
    db.close().await;
    Ok(ExitCode::SUCCESS)
}
