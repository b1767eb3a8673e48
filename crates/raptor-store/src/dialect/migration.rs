//! What migrations do differently per dialect: the session-level lock that serialises
//! migrators, and the DDL of the migrator's own bookkeeping tables.

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Connection, Postgres, Sqlite};

use super::{Dialect, Pool};
use crate::error::MigrationError;

/// The lock key all Raptor migrators of one PostgreSQL database agree on ("raptor" in ASCII).
const PG_MIGRATION_LOCK_KEY: i64 = 0x0000_7261_7074_6f72;
/// How often a waiting migrator retries the lock.
const LOCK_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// A boxed future that is `Send`, checked where the connection's lifetimes are concrete:
/// rustc cannot prove `Send` through sqlx's `&mut Connection` executors higher up.
pub(crate) type SendFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A dedicated connection for one migration command, so a session-level lock covers it.
pub(crate) enum MigrationConn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl MigrationConn {
    /// Takes a connection out of the pool for the whole command.
    pub(crate) async fn acquire(pool: &Pool) -> Result<Self, MigrationError> {
        Ok(match pool {
            Pool::Sqlite(pool) => MigrationConn::Sqlite(pool.acquire().await?),
            Pool::Postgres(pool) => MigrationConn::Postgres(pool.acquire().await?),
        })
    }

    /// The dialect the connection speaks.
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            MigrationConn::Sqlite(_) => Dialect::Sqlite,
            MigrationConn::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Takes the PostgreSQL migration lock, polling so that this session never sits inside a
    /// statement while it waits (see `migrate`'s module docs). SQLite needs none: each step
    /// begins with `BEGIN IMMEDIATE`, which serialises writers, and re-checks the version.
    pub(crate) fn lock<'a>(&'a mut self) -> SendFuture<'a, Result<(), MigrationError>> {
        Box::pin(async move {
            let MigrationConn::Postgres(c) = self else {
                return Ok(());
            };
            let mut announced = false;
            loop {
                let acquired: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(PG_MIGRATION_LOCK_KEY)
                    .fetch_one(&mut **c)
                    .await?;
                if acquired {
                    return Ok(());
                }
                if !announced {
                    tracing::info!("another migrator holds the migration lock; waiting for it");
                    announced = true;
                }
                tokio::time::sleep(LOCK_POLL_INTERVAL).await;
            }
        })
    }

    /// Ends the session, which also releases a PostgreSQL advisory lock whatever happened.
    pub(crate) async fn finish(self) {
        let result = on_conn!(self, c => c.detach().close().await);
        if let Err(err) = result {
            tracing::debug!(%err, "closing the migration connection failed");
        }
    }
}

/// The tables the migrator owns; `alembic_version` is alembic's own definition. Only the
/// timestamp type differs: SQLite keeps ISO-8601 text.
pub(crate) fn bookkeeping_ddl(dialect: Dialect) -> &'static str {
    dialect.choose(
        "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, \
             CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));\n\
         CREATE TABLE IF NOT EXISTS raptor_migration_checksums (\
             version_num VARCHAR(32) NOT NULL PRIMARY KEY, checksum TEXT NOT NULL, \
             recorded_at TEXT NOT NULL);",
        "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, \
             CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));\n\
         CREATE TABLE IF NOT EXISTS raptor_migration_checksums (\
             version_num VARCHAR(32) NOT NULL PRIMARY KEY, checksum TEXT NOT NULL, \
             recorded_at TIMESTAMPTZ NOT NULL);",
    )
}
