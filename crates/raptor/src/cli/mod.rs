//! The command line: one subcommand per operator task.

mod admin;
mod assets;
mod audit;
mod backtest;
mod bars;
mod check;
mod copy;
mod db;
mod jobs;
mod mail;
mod roles;
mod serve;
mod smoke;
mod sweep;
mod traces;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use raptor_store::{DatabaseUrl, Db, StoreError};

/// The Raxx trading backend: API server and operator tooling.
#[derive(Debug, Parser)]
#[command(name = "raptor", version, about, propagate_version = true)]
pub struct Cli {
    /// Database URL (owner credential). Unset: SQLite file ./raptor.db.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Raxx API over HTTP.
    Serve(Box<serve::ServeArgs>),
    /// Manage the database schema (alembic-style migrations).
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Operator tasks on accounts: the first admin, role grants.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Fill the bar store: import a CSV file, or generate demo data.
    #[command(subcommand)]
    Bars(bars::BarsCommand),
    /// The symbol catalogue: import Alpaca's asset list.
    #[command(subcommand)]
    Assets(assets::AssetsCommand),
    /// Run a strategy over stored bars and print the result.
    Backtest(backtest::BacktestArgs),
    /// Run a parameter sweep over stored bars on every core, printing progress, then the best
    /// runs.
    Sweep(sweep::SweepArgs),
    /// The runbook's smoke suite against a running Raptor (one pass, or a soak).
    Smoke(smoke::SmokeArgs),
    /// Print the API's OpenAPI 3.1 document (what `/openapi.json` serves).
    Openapi,
    /// The job queue: list, inspect, retry, cancel, count.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// Run background jobs (and schedule the recurring ones) without serving HTTP.
    Worker(jobs::WorkerArgs),
    /// The audit log: verify its hash chain.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

/// Why a command failed; printed as `error: …` with exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database URL was refused.
    #[error(transparent)]
    Url(#[from] raptor_store::UrlError),
    /// The operating system refused something.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A safety check stopped the command; the message says what to do.
    #[error("{0}")]
    Refused(String),
}

impl Cli {
    /// Runs the chosen command; `Err` is printed and exits 1.
    pub async fn run(self) -> Result<ExitCode, CliError> {
        let url = DatabaseUrl::from_env_value(self.database_url.as_deref())?;
        match self.command {
            Command::Serve(args) => serve::run(&url, *args).await,
            Command::Db(command) => command.run(&url).await,
            Command::Admin(command) => command.run(&url).await,
            Command::Bars(command) => command.run(&url).await,
            Command::Assets(command) => command.run(&url).await,
            Command::Backtest(args) => backtest::run(&url, args).await,
            Command::Sweep(args) => sweep::run(&url, args).await,
            Command::Smoke(args) => smoke::run(args).await,
            Command::Jobs(command) => command.run(&url).await,
            Command::Worker(args) => jobs::work(&url, args).await,
            Command::Audit(command) => command.run(&url).await,
            Command::Openapi => {
                let document =
                    serde_json::to_string_pretty(&raptor_api::openapi()).map_err(|err| {
                        CliError::Refused(format!("the document did not serialise: {err}"))
                    })?;
                out!("{document}");
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// Connects and logs the line the runbook watches for.
async fn connect(url: &DatabaseUrl) -> Result<Db, StoreError> {
    let db = Db::connect(url).await?;
    tracing::info!(
        "Database engine initialized: dialect={} target={}",
        db.dialect(),
        url.redacted()
    );
    Ok(db)
}

/// Connects for a command that uses the application schema. SQLite (the zero-set-up path) is
/// brought to head; PostgreSQL is shared and migrated in the release phase, so a database
/// behind head is refused unless `migrate` says to upgrade it.
async fn connect_app(url: &DatabaseUrl, migrate: bool) -> Result<Db, CliError> {
    use raptor_store::migrate::Migrator;
    let db = connect(url).await?;
    let migrator = Migrator::embedded();
    if db.dialect().migrates_on_connect() || migrate {
        migrator.upgrade(&db, "head").await?;
    }
    let status = migrator.status(&db).await?;
    for drift in &status.drift {
        tracing::warn!("{drift}; run `raptor db current` for details");
    }
    if !status.is_head() {
        db.close().await;
        return Err(CliError::Refused(format!(
            "the database schema is at {} but this binary needs {}. Run `raptor db upgrade head` \
             (the Procfile's release phase does this) or start with `raptor serve --migrate`.",
            status.current.as_deref().unwrap_or("<base>"),
            status.head.as_deref().unwrap_or("<base>"),
        )));
    }
    Ok(db)
}

/// Alpaca Market Data settings shared by `serve` and `bars fetch`.
#[derive(Debug, clap::Args)]
pub struct AlpacaArgs {
    /// Alpaca API key id.
    #[arg(long, env = "ALPACA_API_KEY_ID", hide_env_values = true)]
    alpaca_key_id: Option<String>,
    /// Alpaca API secret key.
    #[arg(long, env = "ALPACA_API_SECRET_KEY", hide_env_values = true)]
    alpaca_secret_key: Option<String>,
    /// Alpaca market data base URL.
    #[arg(long, env = "RAPTOR_ALPACA_DATA_URL", default_value = raptor_app::alpaca::DATA_URL)]
    alpaca_data_url: String,
    /// Data feed: `iex` (free) or `sip`.
    #[arg(long, env = "ALPACA_DATA_FEED", default_value = "iex")]
    alpaca_feed: String,
    /// Minutes requests stay behind now (the free plan delays SIP data by 15).
    #[arg(long, env = "RAPTOR_ALPACA_DELAY_MINUTES", default_value_t = 15)]
    alpaca_delay_minutes: i64,
}

impl AlpacaArgs {
    /// The key id and secret, when both are set.
    pub fn keys(&self) -> Option<(&str, &str)> {
        let key = self.alpaca_key_id.as_deref().filter(|k| !k.is_empty())?;
        let secret = self
            .alpaca_secret_key
            .as_deref()
            .filter(|s| !s.is_empty())?;
        Some((key, secret))
    }

    /// The bar source, when both keys are set.
    pub fn source(&self) -> Option<raptor_app::alpaca::AlpacaBars> {
        let (key, secret) = self.keys()?;
        Some(raptor_app::alpaca::AlpacaBars::new(
            &self.alpaca_data_url,
            key,
            secret,
            &self.alpaca_feed,
            chrono::Duration::minutes(self.alpaca_delay_minutes.clamp(0, 24 * 60)),
        ))
    }
}

/// A duration written as a number and one unit: `90s`, `30m`, `24h` or `3d`.
pub(crate) fn duration(raw: &str) -> Result<std::time::Duration, CliError> {
    let (number, unit) = raw.trim().split_at(raw.trim().len().saturating_sub(1));
    let n: u64 = number.parse().map_err(|_| {
        CliError::Refused(format!(
            "'{raw}' is not a duration like 90s, 30m, 24h or 3d"
        ))
    })?;
    let unit_seconds: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match n.checked_mul(unit_seconds) {
        Some(seconds) if unit_seconds > 0 => Ok(std::time::Duration::from_secs(seconds)),
        _ => Err(CliError::Refused(format!(
            "'{raw}' is not a duration like 90s, 30m, 24h or 3d"
        ))),
    }
}
