//! The database engine: one connection pool per process, SQLite or PostgreSQL, chosen by URL.

use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgPool, Postgres};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous,
};
use sqlx::ConnectOptions;

use crate::error::StoreError;
use crate::url::{DatabaseUrl, Dialect, Target};

/// How long a SQLite writer waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Tunables for [`Db::connect_with`].
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Upper bound on open connections (ignored for in-memory SQLite, which needs exactly one).
    pub max_connections: u32,
    /// Reported to PostgreSQL as `application_name`, visible in `pg_stat_activity`.
    pub application_name: String,
    /// Whether the driver logs statements and warns about slow ones. Bulk work (`db copy`
    /// scanning whole tables) turns it off: a long scan there is the point, not a problem.
    pub statement_logging: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            application_name: "raptor".to_owned(),
            statement_logging: true,
        }
    }
}

/// The pool behind a [`Db`], one variant per dialect.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle on the application's database; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Db {
    pub(crate) pool: Pool,
    url: DatabaseUrl,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db({})", self.url)
    }
}

impl Db {
    /// Connects with default settings.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, StoreError> {
        Self::connect_with(url, &EngineSettings::default()).await
    }

    /// Connects, failing fast (and without the password in the error) when the database is
    /// unreachable.
    pub async fn connect_with(
        url: &DatabaseUrl,
        settings: &EngineSettings,
    ) -> Result<Self, StoreError> {
        let pool = match &url.target {
            Target::SqliteFile(path) => {
                let options = sqlite_options(SqliteConnectOptions::new().filename(path))
                    .create_if_missing(true);
                let options = if settings.statement_logging {
                    options
                } else {
                    options.disable_statement_logging()
                };
                Pool::Sqlite(
                    pool_options::<Sqlite>(settings.max_connections)
                        .connect_with(options)
                        .await
                        .map_err(|e| connect_error(url, e))?,
                )
            }
            Target::SqliteMemory => {
                // Every connection to :memory: opens its own empty database, so the pool holds
                // exactly one connection and never recycles it.
                let options = sqlite_options(SqliteConnectOptions::new().in_memory(true));
                Pool::Sqlite(
                    pool_options::<Sqlite>(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None)
                        .connect_with(options)
                        .await
                        .map_err(|e| connect_error(url, e))?,
                )
            }
            Target::Postgres(options) => {
                let options = (**options)
                    .clone()
                    .application_name(&settings.application_name);
                let options = if settings.statement_logging {
                    options
                } else {
                    options.disable_statement_logging()
                };
                Pool::Postgres(
                    pool_options::<Postgres>(settings.max_connections)
                        .connect_with(options)
                        .await
                        .map_err(|e| connect_error(url, e))?,
                )
            }
        };
        Ok(Self {
            pool,
            url: url.clone(),
        })
    }

    /// The dialect of the connected database.
    pub fn dialect(&self) -> Dialect {
        match self.pool {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The URL this handle was opened with (printable: redacted).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Round-trips a trivial query: proves the database answers right now. On SQLite it also
    /// checks that the file is still where it was opened: connections to a deleted or moved
    /// file keep working on a ghost that no restart will find again.
    pub async fn ping(&self) -> Result<(), StoreError> {
        if let Target::SqliteFile(path) = &self.url.target {
            if !tokio::fs::try_exists(path).await.unwrap_or(false) {
                return Err(StoreError::Unavailable(format!(
                    "the SQLite file {} is gone (deleted or moved while open)",
                    path.display()
                )));
            }
        }
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

fn pool_options<DB: sqlx::Database>(max_connections: u32) -> PoolOptions<DB> {
    PoolOptions::<DB>::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
}

/// Settings that only make sense on SQLite: concurrent readers with one writer at a time,
/// enforced foreign keys, and waiting rather than failing when another writer holds the lock.
fn sqlite_options(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
}

/// A connection failure, naming the database without its password.
fn connect_error(url: &DatabaseUrl, err: sqlx::Error) -> StoreError {
    StoreError::Connect {
        dialect: url.dialect().name(),
        target: url.redacted().to_owned(),
        reason: err.to_string(),
    }
}
