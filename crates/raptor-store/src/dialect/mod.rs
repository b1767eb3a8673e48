//! Every difference between SQLite and PostgreSQL, in one place.
//!
//! Outside this module no code branches on the dialect: it asks for a SQL fragment
//! ([`Dialect::row_lock`], [`Dialect::skip_locked`]), a capability
//! ([`Dialect::partitions_traces`]) or an operation that each dialect does its own way
//! ([`catalogue`], [`bulk`], [`partitions`], [`roles`]). SQL that both dialects accept is
//! written once and compiled for each backend by [`on_pool!`], [`on_tx!`] and `on_conn!`,
//! which are defined here with the handles they open.

use std::fmt;

use sqlx::{Postgres, Sqlite, Transaction};

/// Runs one body against whichever pool a [`crate::Db`] holds. The body is compiled once per
/// backend, so a single SQL text serves both dialects and cannot drift between them.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match &$db.pool {
            $crate::dialect::Pool::Sqlite($pool) => $body,
            $crate::dialect::Pool::Postgres($pool) => $body,
        }
    };
}

/// `on_pool!` for a write outside a transaction: on SQLite, the body runs in this process's
/// turn to write ([`crate::write_turns`]), so it queues with the transactions instead of
/// polling for SQLite's lock. The caller returns `Result<_, StoreError>`.
macro_rules! on_write {
    ($db:expr, $pool:ident => $body:expr) => {{
        let _turn = $db.write_turn().await?;
        match $db.write_pool() {
            $crate::dialect::Pool::Sqlite($pool) => $body,
            $crate::dialect::Pool::Postgres($pool) => $body,
        }
    }};
}

/// `on_pool!` for a read of a few rows found by index, the body a `Result<_, sqlx::Error>`. On
/// PostgreSQL it runs on a point connection ([`pg_points`]); when none could be had, or the
/// one it had turned out broken, on the pool.
macro_rules! on_point_read {
    ($db:expr, $exec:ident => $body:expr) => {
        match (&$db.pool, &$db.pg_points) {
            ($crate::dialect::Pool::Postgres(pool), Some(points)) => {
                // None: the read runs on the pool instead.
                let on_point = match points.take().await {
                    Err(err) => Some(Err(err)),
                    Ok(None) => None,
                    Ok(Some(mut conn)) => {
                        let read = {
                            let $exec = conn.conn();
                            $body
                        };
                        match read {
                            Ok(found) => {
                                conn.give_back();
                                Some(Ok(found))
                            }
                            // A failed read's connection is closed (dropped with `conn`); a
                            // broken one's read runs again on the pool.
                            Err(err) if $crate::error::noted_if_broken(&err) => None,
                            Err(err) => Some(Err(err)),
                        }
                    }
                };
                match on_point {
                    Some(read) => read,
                    None => {
                        let $exec = pool;
                        $body
                    }
                }
            }
            ($crate::dialect::Pool::Postgres($exec), None) => $body,
            ($crate::dialect::Pool::Sqlite($exec), _) => $body,
        }
    };
}

/// Runs one body against whichever transaction a [`crate::Tx`] holds (see `on_pool!`).
macro_rules! on_tx {
    ($tx:expr, $t:ident => $body:expr) => {
        match &mut $tx.inner {
            $crate::dialect::TxInner::Sqlite($t) => $body,
            $crate::dialect::TxInner::Postgres($t) => $body,
        }
    };
}

/// Runs one body against whichever connection a [`MigrationConn`] holds (see `on_pool!`).
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::dialect::MigrationConn::Sqlite($c) => $body,
            $crate::dialect::MigrationConn::Postgres($c) => $body,
        }
    };
}

pub(crate) mod account_reads;
pub(crate) mod bar_reads;
pub(crate) mod bulk;
pub(crate) mod catalogue;
pub(crate) mod migration;
pub(crate) mod partitions;
pub(crate) mod pg_copy_out;
pub(crate) mod pg_points;
pub(crate) mod pool;
pub(crate) mod session_reads;
pub(crate) mod sqlite_rows;
pub(crate) mod symbol_reads;
pub(crate) mod wakeups;

pub(crate) use migration::MigrationConn;

/// Which SQL dialect a database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite, embedded, one file.
    Sqlite,
    /// PostgreSQL, a server shared by many processes.
    Postgres,
}

impl Dialect {
    /// Both dialects, for work done once per dialect (fingerprints, parity checks).
    pub const ALL: [Dialect; 2] = [Dialect::Sqlite, Dialect::Postgres];

    /// The name used in logs, `/healthz` and the runbook (`sqlite`, `postgresql`).
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgresql",
        }
    }

    /// The one of two per-dialect values that belongs to this dialect (a revision's scripts).
    pub(crate) fn choose<T>(self, sqlite: T, postgres: T) -> T {
        match self {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }

    /// The statement that opens a write transaction. SQLite takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so two writers queue instead of failing with "database is locked"
    /// or deadlocking on a lock upgrade.
    pub(crate) fn begin_write(self) -> &'static str {
        self.choose("BEGIN IMMEDIATE", "BEGIN")
    }

    /// Appended to a `SELECT` inside a write transaction to hold its rows until commit.
    /// PostgreSQL needs the row lock; SQLite's `BEGIN IMMEDIATE` already holds the database's
    /// write lock, and it has no `FOR UPDATE`.
    pub(crate) fn row_lock(self) -> &'static str {
        self.choose("", " FOR UPDATE")
    }

    /// Whether a write transaction must lock a row before what it reads next is current. On
    /// PostgreSQL a statement that waits for a row lock still reads other tables as they were
    /// when it started, so the lock takes a statement of its own; on SQLite `BEGIN IMMEDIATE`
    /// has already made the transaction the only writer.
    pub(crate) fn locks_rows(self) -> bool {
        self.choose(false, true)
    }

    /// Appended to the `SELECT` that picks jobs to claim, inside a write transaction: rows
    /// another claimer has locked are passed over instead of waited for, so concurrent
    /// claimers take disjoint jobs. SQLite has no row locks; `BEGIN IMMEDIATE` already makes
    /// claims take turns.
    pub(crate) fn skip_locked(self) -> &'static str {
        self.choose("", " FOR UPDATE SKIP LOCKED")
    }

    /// The statements that turn foreign-key enforcement off and back on around a revision
    /// that rebuilds a table others refer to (run outside its transaction): SQLite's
    /// `PRAGMA foreign_keys`. PostgreSQL alters tables in place and needs none.
    pub(crate) fn foreign_keys_off_and_on(self) -> Option<(&'static str, &'static str)> {
        self.choose(
            Some(("PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys = ON")),
            None,
        )
    }

    /// The statement that wakes listeners in every process, with the channel as `$1` and the
    /// payload as `$2` ([`wakeups`]): PostgreSQL's `NOTIFY`, delivered when the transaction
    /// commits. SQLite has none.
    pub(crate) fn notify(self) -> Option<&'static str> {
        self.choose(None, Some("SELECT pg_notify($1, $2)"))
    }

    /// The statement an audit writer runs inside its transaction before it reads the chain's
    /// last row, so that writers in every process append one at a time and each links to the
    /// row before it. PostgreSQL takes a transaction-scoped advisory lock (released at commit or
    /// rollback); SQLite needs nothing, as `BEGIN IMMEDIATE` already holds the write lock.
    pub(crate) fn audit_chain_lock(self) -> Option<&'static str> {
        // The key is arbitrary but fixed: "audit" in ASCII, apart from the migrator's and tests'.
        self.choose(None, Some("SELECT pg_advisory_xact_lock(418581342580)"))
    }

    /// Whether the trace tables are kept in monthly partitions (PostgreSQL, from revision
    /// `0004_partition_traces`) rather than as plain indexed tables (SQLite).
    pub fn partitions_traces(self) -> bool {
        self.choose(false, true)
    }

    /// Whether commands bring the schema to head when they connect. A SQLite file is the
    /// zero-set-up path with one owner; a PostgreSQL database is shared by many processes and
    /// migrated once, in the release phase.
    pub fn migrates_on_connect(self) -> bool {
        self.choose(true, false)
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The pool behind a [`crate::Db`], one variant per dialect.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Pool {
    /// The dialect the pool speaks.
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The PostgreSQL pool, for features only PostgreSQL has (database roles); None on SQLite.
    pub(crate) fn postgres(&self) -> Option<&sqlx::PgPool> {
        match self {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite(_) => None,
        }
    }

    /// Opens a write transaction with the dialect's [`Dialect::begin_write`].
    ///
    /// The begin runs in a task of its own. A caller dropped while it waits (a client that hung
    /// up while SQLite's write lock was busy) could otherwise drop the driver's answer after the
    /// database began the transaction but before a `Transaction` existed to end it, leaving a
    /// pooled connection inside a transaction (holding SQLite's write lock) for good. In its own
    /// task the `Transaction` is always made, and dropping it unused rolls it back. The writer's
    /// `turn` ([`crate::write_turns`]) goes with it, so it is not given up while that task may
    /// still hold the lock.
    pub(crate) async fn begin_write<T: Send + 'static>(
        &self,
        turn: T,
    ) -> Result<(TxInner, T), sqlx::Error> {
        let pool = self.clone();
        let begun = tokio::spawn(async move {
            let inner = match pool {
                Pool::Sqlite(pool) => {
                    TxInner::Sqlite(pool.begin_with(Dialect::Sqlite.begin_write()).await?)
                }
                Pool::Postgres(pool) => TxInner::Postgres(pool.begin().await?),
            };
            Ok((inner, turn))
        });
        begun.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }
}

/// The transaction behind a [`crate::Tx`], one variant per dialect.
pub(crate) enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl TxInner {
    /// The dialect the transaction speaks.
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            TxInner::Sqlite(_) => Dialect::Sqlite,
            TxInner::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Commits, whichever the backend.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            TxInner::Sqlite(tx) => tx.commit().await,
            TxInner::Postgres(tx) => tx.commit().await,
        }
    }

    /// Rolls back, whichever the backend, once the database has.
    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            TxInner::Sqlite(tx) => tx.rollback().await,
            TxInner::Postgres(tx) => tx.rollback().await,
        }
    }
}
