//! `raptor db traces` and `raptor db timescale`: the trace tables' monthly partitions on
//! PostgreSQL (SC-11), their retention, and whether TimescaleDB could take over.

use std::process::ExitCode;

use clap::Subcommand;
use raptor_app::{Clock, SystemClock};
use raptor_store::{traces, DatabaseUrl};

use super::{connect_app, duration, CliError};

#[derive(Debug, Subcommand)]
pub enum TracesCommand {
    /// List the partitions of both trace tables with their bounds and rows.
    Status,
    /// Create the partitions for this month and the months ahead (`serve` does this every few
    /// minutes), moving rows waiting in the DEFAULT partitions into theirs.
    Ensure {
        /// How many months ahead of the current one.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(0..=120))]
        months_ahead: i32,
    },
    /// Retention: remove trace rows older than a duration (e.g. 90d). PostgreSQL drops whole
    /// monthly partitions and trims the month that straddles the cutoff.
    Prune {
        /// Age beyond which rows go: 90d, 24h, 30m or 90s.
        #[arg(long)]
        older_than: String,
    },
}

impl TracesCommand {
    pub async fn run(self, url: &DatabaseUrl) -> Result<ExitCode, CliError> {
        // Parse before connecting: bad input is refused without touching the database.
        let cutoff = match &self {
            TracesCommand::Prune { older_than } => {
                let age = chrono::Duration::from_std(duration(older_than)?).map_err(|_| {
                    CliError::Refused(format!("'{older_than}' is too long a duration"))
                })?;
                Some(SystemClock.now() - age)
            }
            _ => None,
        };
        let db = connect_app(url, false).await?;
        let outcome = async {
            match (self, cutoff) {
                (TracesCommand::Status, _) => {}
                (TracesCommand::Ensure { months_ahead }, _) => {
                    let created = traces::ensure_partitions(&db, months_ahead).await?;
                    out!("created {created} partition(s)");
                }
                (TracesCommand::Prune { .. }, Some(cutoff)) => {
                    let pruned = traces::prune(&db, cutoff).await?;
                    for name in &pruned.partitions {
                        out!("dropped partition {name}");
                    }
                    out!(
                        "removed trace rows older than {}; {} rows remain",
                        cutoff.format("%Y-%m-%d %H:%M:%S UTC"),
                        pruned.rows_left
                    );
                    return Ok(());
                }
                (TracesCommand::Prune { .. }, None) => {}
            }
            print_partitions(&db).await
        }
        .await;
        db.close().await;
        outcome?;
        Ok(ExitCode::SUCCESS)
    }
}

async fn print_partitions(db: &raptor_store::Db) -> Result<(), CliError> {
    if !db.dialect().partitions_traces() {
        out!(
            "SQLite keeps trace_events and trace_workflows as plain indexed tables: no partitions."
        );
        return Ok(());
    }
    out!("{:<16} {:<28} {:>10}  bounds", "table", "partition", "rows");
    for p in traces::partitions(db).await? {
        out!(
            "{:<16} {:<28} {:>10}  {}",
            p.parent,
            p.name,
            p.rows,
            p.bounds
        );
    }
    Ok(())
}

/// `raptor db timescale`: whether the server offers TimescaleDB, and what the trace tables use.
pub async fn timescale(url: &DatabaseUrl) -> Result<ExitCode, CliError> {
    let db = connect_app(url, false).await?;
    let offered = traces::timescale(&db).await;
    db.close().await;
    match offered? {
        None => out!(
            "SQLite: no TimescaleDB. The trace tables are plain indexed tables; retention is `raptor db traces prune`."
        ),
        Some(traces::Timescale { available: None, .. }) => out!(
            "TimescaleDB is not available on this server (no `timescaledb` in pg_available_extensions).\n\
             The trace tables use native monthly partitioning: `raptor db traces status`, \
             `raptor db traces prune --older-than 90d`."
        ),
        Some(traces::Timescale {
            available: Some(version),
            installed,
        }) => out!(
            "TimescaleDB {version} is available on this server ({}).\n\
             Raptor keeps native monthly partitioning for the trace tables; converting them to \
             hypertables is not automated by this release.",
            installed.map_or("not installed in this database".to_owned(), |v| format!("installed: {v}"))
        ),
    }
    Ok(ExitCode::SUCCESS)
}
