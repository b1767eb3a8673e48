//! `raptor db …`: the schema commands of the runbook, alembic-compatible in spirit.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use raptor_store::migrate::Migrator;
use raptor_store::DatabaseUrl;

use super::{connect, CliError};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Upgrade the schema to a revision (default: head).
    Upgrade(UpgradeArgs),
    /// Downgrade the schema to a revision (`base`, an id, or -N).
    Downgrade(DowngradeArgs),
    /// Record a revision as current without running any SQL.
    Stamp {
        /// Revision id, unique prefix, `head` or `base`.
        revision: String,
    },
    /// Show the current revision, and warn about edited migrations.
    Current,
    /// List every revision, newest first.
    History,
    /// The runbook's pre-checks: dialect, TLS, revision, tables, customer rows, connections.
    Check(super::check::CheckArgs),
    /// Copy every row to another database (either dialect), then verify counts and checksums.
    Copy(super::copy::CopyArgs),
    /// Separate the application's role: print, apply or verify its grants (PostgreSQL).
    Roles(super::roles::RolesArgs),
    /// The trace tables' monthly partitions (PostgreSQL) and retention.
    #[command(subcommand)]
    Traces(super::traces::TracesCommand),
    /// Whether the server offers TimescaleDB for the trace tables.
    Timescale,
    /// Accept the embedded SQL of an applied revision after reviewing an edit.
    AcceptChecksum {
        /// The applied revision whose checksum to accept.
        revision: String,
    },
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Target: `head`, an id, a unique prefix or +N. With --sql, FROM:TO (FROM defaults to base).
    #[arg(default_value = "head", allow_hyphen_values = true)]
    revision: String,
    /// Print the SQL that would run instead of running it (offline; no connection).
    #[arg(long)]
    sql: bool,
}

#[derive(Debug, Args)]
pub struct DowngradeArgs {
    /// Target: `base`, an id, a unique prefix or -N. With --sql, FROM:TO (FROM defaults to head).
    #[arg(allow_hyphen_values = true)]
    revision: String,
    /// Print the SQL that would run instead of running it (offline; no connection).
    #[arg(long)]
    sql: bool,
}

impl DbCommand {
    pub async fn run(self, url: &DatabaseUrl) -> Result<ExitCode, CliError> {
        let migrator = Migrator::embedded();
        match self {
            DbCommand::Upgrade(args) => {
                let target = args.revision.as_str();
                if args.sql {
                    return print_offline(&migrator, url, target, "base");
                }
                migrator.validate_target(target)?;
                let db = connect(url).await?;
                let steps = migrator.upgrade(&db, target).await;
                db.close().await;
                if steps?.is_empty() {
                    out!("Already at {target}; nothing to do.");
                }
                Ok(ExitCode::SUCCESS)
            }
            DbCommand::Downgrade(args) => {
                let target = args.revision.as_str();
                if args.sql {
                    return print_offline(&migrator, url, target, "head");
                }
                migrator.validate_target(target)?;
                let db = connect(url).await?;
                let steps = migrator.downgrade(&db, target).await;
                db.close().await;
                if steps?.is_empty() {
                    out!("Already at {target}; nothing to do.");
                }
                Ok(ExitCode::SUCCESS)
            }
            DbCommand::Stamp { revision } => {
                migrator.validate_target(&revision)?;
                let db = connect(url).await?;
                let stamped = migrator.stamp(&db, &revision).await;
                db.close().await;
                out!("Stamped {}", stamped?.as_deref().unwrap_or("<base>"));
                Ok(ExitCode::SUCCESS)
            }
            DbCommand::Current => {
                let db = connect(url).await?;
                let status = migrator.status(&db).await;
                db.close().await;
                let status = status?;
                out!("{status}");
                Ok(if status.drift.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            DbCommand::Check(args) => super::check::run(url, args).await,
            DbCommand::Roles(args) => super::roles::run(url, args).await,
            DbCommand::Copy(args) => super::copy::run(args).await,
            DbCommand::Traces(command) => command.run(url).await,
            DbCommand::Timescale => super::traces::timescale(url).await,
            DbCommand::History => {
                for line in migrator.history() {
                    out!("{line}");
                }
                Ok(ExitCode::SUCCESS)
            }
            DbCommand::AcceptChecksum { revision } => {
                let db = connect(url).await?;
                let accepted = migrator.accept_checksum(&db, &revision).await;
                db.close().await;
                out!("Accepted the embedded SQL of {} as applied.", accepted?);
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// `--sql`: `TO` alone starts from `default_from`; `FROM:TO` names both ends.
fn print_offline(
    migrator: &Migrator,
    url: &DatabaseUrl,
    spec: &str,
    default_from: &str,
) -> Result<ExitCode, CliError> {
    let (from, to) = spec.split_once(':').unwrap_or((default_from, spec));
    crate::output::write(format_args!(
        "{}",
        migrator.offline_sql(url.dialect(), from, to)?
    ));
    Ok(ExitCode::SUCCESS)
}
