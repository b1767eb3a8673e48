//! The database engine: SQLite or PostgreSQL, chosen by URL; one connection pool per process,
//! and on a SQLite file one more connection, its writer.

use crate::dialect::pg_points::PgPoints;
use crate::dialect::pool::PoolSettings;
use crate::dialect::sqlite_rows::SqliteRows;
use crate::dialect::{Dialect, Pool};
use crate::error::StoreError;
use crate::url::{DatabaseUrl, Target};
use crate::waits::BeginWaits;

/// Tunables for [`Db::connect_with`].
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Upper bound on the pool's connections (ignored for in-memory SQLite, which needs exactly
    /// one). A SQLite file opens one more, the writer's; PostgreSQL half as many more, for
    /// point reads.
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

/// A handle on the application's database; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Db {
    pub(crate) pool: Pool,
    /// A SQLite file's one writing connection ([`Pool::open_sqlite_writer`]); None elsewhere,
    /// where writes use `pool`.
    sqlite_writer: Option<Pool>,
    url: std::sync::Arc<DatabaseUrl>,
    /// How long write transactions waited to begin (shared by clones).
    pub(crate) begin_waits: std::sync::Arc<BeginWaits>,
    /// Many-row reads of a SQLite file (None on PostgreSQL and in-memory SQLite).
    pub(crate) sqlite_rows: Option<std::sync::Arc<SqliteRows>>,
    /// Point reads' own connections on PostgreSQL (None elsewhere; see [`on_point_read!`]).
    pub(crate) pg_points: Option<std::sync::Arc<PgPoints>>,
    /// Accounts whose orders changed, announced in-process after commit (SQLite, which has
    /// no `NOTIFY`; see [`crate::trade_updates`]).
    pub(crate) changed_accounts: tokio::sync::broadcast::Sender<i64>,
    /// Symbols' latest bars, kept under their bars versions (see [`crate::latest_bars`]).
    pub(crate) latest_bars: std::sync::Arc<crate::latest_bars::LatestBars>,
    /// SQLite's one writer at a time, taken in this process before the database's write lock
    /// (None on PostgreSQL; see [`crate::write_turns`]).
    pub(crate) write_turns: Option<crate::write_turns::WriteTurns>,
}

/// A pooled connection kept out of use ([`Db::hold_connection`]); dropping it gives it back.
#[derive(Debug)]
pub struct HeldConnection {
    _held: HeldInner,
}

#[derive(Debug)]
enum HeldInner {
    Sqlite {
        _conn: sqlx::pool::PoolConnection<sqlx::Sqlite>,
    },
    Postgres {
        _conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
    },
}

/// The connection pool at one moment, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open, idle or in use.
    pub open: u32,
    /// Open connections nobody is using.
    pub idle: u32,
    /// The most connections the pool opens; beyond that, callers wait.
    pub max: u32,
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
        let settings = PoolSettings {
            max_connections: settings.max_connections,
            application_name: &settings.application_name,
            statement_logging: settings.statement_logging,
        };
        let refused = |err: sqlx::Error| StoreError::Connect {
            dialect: url.dialect().name(),
            target: url.redacted().to_owned(),
            reason: err.to_string(),
        };
        let pool = Pool::open(&url.target, &settings).await.map_err(refused)?;
        let sqlite_writer = Pool::open_sqlite_writer(&url.target, &settings)
            .await
            .map_err(refused)?;
        let sqlite_rows = match &url.target {
            Target::SqliteFile(path) => Some(SqliteRows::new(path.clone())),
            _ => None,
        };
        let pg_points = match &pool {
            Pool::Postgres(pool) => Some(PgPoints::new(
                (*pool.connect_options()).clone(),
                usize::try_from(settings.max_connections.div_ceil(2)).unwrap_or(usize::MAX),
            )),
            Pool::Sqlite(_) => None,
        };
        Ok(Self {
            pool,
            sqlite_writer,
            url: std::sync::Arc::new(url.clone()),
            begin_waits: Default::default(),
            sqlite_rows,
            pg_points,
            changed_accounts: tokio::sync::broadcast::channel(crate::trade_updates::LOCAL_BACKLOG)
                .0,
            latest_bars: Default::default(),
            write_turns: (url.dialect() == Dialect::Sqlite).then(Default::default),
        })
    }

    /// The dialect of the connected database.
    pub fn dialect(&self) -> Dialect {
        self.pool.dialect()
    }

    /// The URL this handle was opened with (printable: redacted).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// On SQLite, whether the file is still where it was opened: connections to a deleted or
    /// moved file keep working on a ghost that no restart will find again. Always Ok on others.
    pub async fn file_present(&self) -> Result<(), StoreError> {
        if let Target::SqliteFile(path) = &self.url.target {
            if !tokio::fs::try_exists(path).await.unwrap_or(false) {
                return Err(StoreError::Unavailable(format!(
                    "the SQLite file {} is gone (deleted or moved while open)",
                    path.display()
                )));
            }
        }
        Ok(())
    }

    /// Round-trips a trivial query: proves the database answers right now (and, on SQLite,
    /// that [`Db::file_present`]).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.file_present().await?;
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// How many connections are open and idle right now, and the most there may be (on a
    /// SQLite file, the writer's counted in; on PostgreSQL, the point reads' own).
    pub fn pool_status(&self) -> PoolStatus {
        let mut status = on_pool!(self, pool => PoolStatus {
            open: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        });
        if let Some(Pool::Sqlite(writer)) = &self.sqlite_writer {
            status.open += writer.size();
            status.idle = status
                .idle
                .saturating_add(u32::try_from(writer.num_idle()).unwrap_or(u32::MAX));
            status.max += writer.options().get_max_connections();
        }
        if let Some(points) = &self.pg_points {
            let (open, idle, max) = points.status();
            let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            status.open = status.open.saturating_add(count(open));
            status.idle = status.idle.saturating_add(count(idle));
            status.max = status.max.saturating_add(count(max));
        }
        status
    }

    /// How long write transactions have waited to begin, since the pool opened.
    pub fn begin_waits(&self) -> crate::waits::WaitHistogram {
        self.begin_waits.snapshot()
    }

    /// Takes one of the pool's connections (the pool reads use; on PostgreSQL and in-memory
    /// SQLite, writes too) and keeps it until the guard is dropped, as a burst of slow requests
    /// would: what callers get from an exhausted pool can then be shown.
    pub async fn hold_connection(&self) -> Result<HeldConnection, StoreError> {
        let held = match &self.pool {
            Pool::Sqlite(pool) => HeldInner::Sqlite {
                _conn: pool.acquire().await?,
            },
            Pool::Postgres(pool) => HeldInner::Postgres {
                _conn: pool.acquire().await?,
            },
        };
        Ok(HeldConnection { _held: held })
    }

    /// The pool write transactions and [`on_write!`] bodies use.
    pub(crate) fn write_pool(&self) -> &Pool {
        self.sqlite_writer.as_ref().unwrap_or(&self.pool)
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        if let Some(points) = &self.pg_points {
            points.close();
        }
        if let Some(Pool::Sqlite(writer)) = &self.sqlite_writer {
            writer.close().await;
        }
        on_pool!(self, pool => pool.close().await)
    }
}
