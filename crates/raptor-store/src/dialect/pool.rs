//! Opening a pool with each dialect's connection settings.

use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::postgres::Postgres;
use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

use super::Pool;
use crate::error::connection_broke_lately;
use crate::url::Target;

/// How long a SQLite writer waits for another writer before giving up.
pub(crate) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a PostgreSQL connection may sit idle before it is pinged on its way out of the
/// pool.
pub(crate) const PING_AFTER_IDLE: Duration = Duration::from_secs(1);
/// How long a request waits for a pooled connection.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a pool is opened with, whatever the dialect.
pub(crate) struct PoolSettings<'a> {
    /// Upper bound on the pool's connections (in-memory SQLite always gets exactly one).
    pub(crate) max_connections: u32,
    /// Reported to PostgreSQL as `application_name`.
    pub(crate) application_name: &'a str,
    /// Whether the driver logs statements and slow ones.
    pub(crate) statement_logging: bool,
}

impl Pool {
    /// Opens the pool that write transactions and [`on_write!`] bodies use on a SQLite file:
    /// one connection. Writers take turns anyway ([`crate::write_turns`]), and a connection
    /// keeps its page cache only while no other connection commits; on a pool of many, each
    /// write found the pages it needed dropped by the write before it and read them again.
    pub(crate) async fn open_sqlite_writer(
        target: &Target,
        settings: &PoolSettings<'_>,
    ) -> Result<Option<Pool>, sqlx::Error> {
        let Target::SqliteFile(path) = target else {
            return Ok(None);
        };
        let options = logged(sqlite_file_options(path), settings);
        // A writer waits for the last one's connection as long as SQLite would for its lock.
        let pool = sqlite_pool_options(1)
            .acquire_timeout(SQLITE_BUSY_TIMEOUT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Ok(Some(Pool::Sqlite(pool)))
    }

    /// Opens a pool on `target`. SQLite gets WAL, enforced foreign keys, a busy timeout and
    /// `synchronous=NORMAL`; PostgreSQL gets the application name.
    pub(crate) async fn open(
        target: &Target,
        settings: &PoolSettings<'_>,
    ) -> Result<Pool, sqlx::Error> {
        Ok(match target {
            Target::SqliteFile(path) => {
                let options = logged(sqlite_file_options(path).create_if_missing(true), settings);
                Pool::Sqlite(
                    sqlite_pool_options(settings.max_connections)
                        .connect_with(options)
                        .await?,
                )
            }
            Target::SqliteMemory => {
                // Every connection to :memory: opens its own empty database, so the pool holds
                // exactly one connection and never recycles it.
                let options = sqlite_options(SqliteConnectOptions::new().in_memory(true));
                Pool::Sqlite(
                    sqlite_pool_options(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None)
                        .connect_with(options)
                        .await?,
                )
            }
            Target::Postgres(options) => {
                let options = (**options)
                    .clone()
                    .application_name(settings.application_name);
                let options = logged(options, settings);
                Pool::Postgres(
                    postgres_pool_options(settings.max_connections)
                        .connect_with(options)
                        .await?,
                )
            }
        })
    }
}

fn pool_options<DB: sqlx::Database>(max_connections: u32) -> PoolOptions<DB> {
    PoolOptions::<DB>::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
}

/// A SQLite pool hands out its connections without pinging them first: a ping is a round trip
/// to the connection's worker thread, and proves nothing about a local file.
fn sqlite_pool_options(max_connections: u32) -> PoolOptions<Sqlite> {
    pool_options::<Sqlite>(max_connections).test_before_acquire(false)
}

/// A PostgreSQL pool pings a connection before handing it out only when it sat idle for a
/// while, or when a connection broke lately ([`connection_broke_lately`]: a restart breaks
/// them all). A ping is a round trip to the server: pinging every time doubled the round
/// trips of a one-query request. (sqlx pings each connection as it comes back, too, so one
/// used within the second was answering then.)
fn postgres_pool_options(max_connections: u32) -> PoolOptions<Postgres> {
    pool_options::<Postgres>(max_connections)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                let trusted = meta.idle_for < PING_AFTER_IDLE && !connection_broke_lately();
                Ok(trusted || conn.ping().await.is_ok())
            })
        })
}

/// `options` with the driver's statement logging off unless `settings` asks for it.
fn logged<O: ConnectOptions>(options: O, settings: &PoolSettings<'_>) -> O {
    if settings.statement_logging {
        options
    } else {
        options.disable_statement_logging()
    }
}

/// [`sqlite_options`] for the file at `path`.
fn sqlite_file_options(path: &std::path::Path) -> SqliteConnectOptions {
    sqlite_options(SqliteConnectOptions::new().filename(path))
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
