//! Schema migrations: an ordered chain of revisions with up and down SQL for each dialect,
//! embedded in the binary and recorded in `alembic_version(version_num)` as alembic does, so
//! the runbook's commands and the role grants keep working.
//!
//! Each revision runs in its own transaction and re-reads the version inside it, so a failed
//! step leaves the database at the previous revision and racing migrators cannot apply a step
//! twice. On PostgreSQL, migrators also serialise on a session-level advisory lock that waiting
//! processes *poll* for: a migrator blocked inside `pg_advisory_lock` would hold a snapshot that
//! a `CREATE INDEX CONCURRENTLY` in the running migrator waits for, deadlocking the two.

mod revisions;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Executor, Postgres, Sqlite};

use crate::engine::{Db, Pool};
pub use crate::error::{Drift, MigrationError};
use crate::schema;
use crate::url::Dialect;

/// The lock key all Raptor migrators of one PostgreSQL database agree on ("raptor" in ASCII).
const PG_MIGRATION_LOCK_KEY: i64 = 0x0000_7261_7074_6f72;
/// How often a waiting migrator retries the lock.
const LOCK_POLL_INTERVAL: Duration = Duration::from_millis(200);

const VERSION_TABLE: &str = "alembic_version";
const CHECKSUM_TABLE: &str = "raptor_migration_checksums";

/// Up and down SQL of one revision for one dialect.
#[derive(Debug, Clone, Copy)]
pub struct Scripts {
    /// Brings the schema from the previous revision to this one.
    pub up: &'static str,
    /// Brings the schema back to the previous revision.
    pub down: &'static str,
}

/// One step in the schema's history.
#[derive(Debug, Clone, Copy)]
pub struct Revision {
    /// The id stored in `alembic_version`, e.g. `0001_raptor_baseline`.
    pub id: &'static str,
    /// A one-line description, printed by `history` and while migrating.
    pub message: &'static str,
    /// SQL for SQLite.
    pub sqlite: Scripts,
    /// SQL for PostgreSQL.
    pub postgres: Scripts,
    /// Whether the revision runs in one transaction. A revision that needs statements
    /// PostgreSQL refuses inside a transaction (`CREATE INDEX CONCURRENTLY`) sets this to
    /// false; its statements, one per `;`-terminated line, then run one at a time.
    pub transactional: bool,
}

impl Revision {
    /// The scripts for a dialect.
    pub fn scripts(&self, dialect: Dialect) -> &Scripts {
        match dialect {
            Dialect::Sqlite => &self.sqlite,
            Dialect::Postgres => &self.postgres,
        }
    }

    /// SHA-256 of the up SQL for a dialect: what the database recorded when it applied it.
    pub fn checksum(&self, dialect: Dialect) -> String {
        hex_sha256(self.scripts(dialect).up)
    }
}

fn hex_sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// A revision as displayed: `<base>` for none.
fn label(id: Option<&str>) -> String {
    id.unwrap_or("<base>").to_owned()
}

/// Which way a step goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Towards head.
    Upgrade,
    /// Towards base.
    Downgrade,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::Upgrade => "upgrade",
            Direction::Downgrade => "downgrade",
        }
    }
}

/// One applied (or planned) step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Which way it went.
    pub direction: Direction,
    /// The revision before the step (None: base).
    pub from: Option<String>,
    /// The revision after the step (None: base).
    pub to: Option<String>,
    /// The message of the revision applied or reverted.
    pub message: String,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Running {} {} -> {}, {}",
            self.direction.name(),
            self.from.as_deref().unwrap_or(""),
            self.to.as_deref().unwrap_or(""),
            self.message
        )
    }
}

/// Where a database stands against this binary's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The revision in `alembic_version` (None: base, nothing applied).
    pub current: Option<String>,
    /// The newest revision this binary knows.
    pub head: Option<String>,
    /// Applied revisions whose SQL no longer matches.
    pub drift: Vec<Drift>,
}

impl Status {
    /// Whether the database is at this binary's head.
    pub fn is_head(&self) -> bool {
        self.current == self.head
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.current {
            None => write!(f, "<base> (no revision applied)")?,
            Some(current) if self.is_head() => write!(f, "{current} (head)")?,
            Some(current) => write!(
                f,
                "{current} (behind head {})",
                self.head.as_deref().unwrap_or("<base>")
            )?,
        }
        for drift in &self.drift {
            write!(f, "\nWARNING: {drift}")?;
        }
        Ok(())
    }
}

/// Reads the revision in `alembic_version` without touching anything (None: base).
pub async fn current_revision(db: &Db) -> Result<Option<String>, MigrationError> {
    if !schema::table_exists(db, VERSION_TABLE).await? {
        return Ok(None);
    }
    let rows: Vec<String> = on_pool!(db, pool => {
        sqlx::query_scalar("SELECT version_num FROM alembic_version")
            .fetch_all(pool)
            .await?
    });
    single_version(rows)
}

fn single_version(mut rows: Vec<String>) -> Result<Option<String>, MigrationError> {
    match rows.len() {
        0 | 1 => Ok(rows.pop()),
        n => Err(MigrationError::MultipleHeads(n)),
    }
}

/// A boxed future that is `Send`, checked where the connection's lifetimes are concrete:
/// rustc cannot prove `Send` through sqlx's `&mut Connection` executors higher up.
type SendFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A dedicated connection for one migration command, so a session-level lock covers it.
enum MigrationConn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            MigrationConn::Sqlite($c) => $body,
            MigrationConn::Postgres($c) => $body,
        }
    };
}

impl MigrationConn {
    async fn acquire(db: &Db) -> Result<Self, MigrationError> {
        Ok(match &db.pool {
            Pool::Sqlite(pool) => MigrationConn::Sqlite(pool.acquire().await?),
            Pool::Postgres(pool) => MigrationConn::Postgres(pool.acquire().await?),
        })
    }

    fn dialect(&self) -> Dialect {
        match self {
            MigrationConn::Sqlite(_) => Dialect::Sqlite,
            MigrationConn::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Takes the PostgreSQL migration lock, polling so that this session never sits inside a
    /// statement while it waits (see the module docs). SQLite needs none: each step begins
    /// with `BEGIN IMMEDIATE`, which serialises writers, and re-checks the version.
    fn lock<'a>(&'a mut self) -> SendFuture<'a, Result<(), MigrationError>> {
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
    async fn finish(self) {
        let result = on_conn!(self, c => c.detach().close().await);
        if let Err(err) = result {
            tracing::debug!(%err, "closing the migration connection failed");
        }
    }

    fn ensure_bookkeeping<'a>(&'a mut self) -> SendFuture<'a, Result<(), MigrationError>> {
        Box::pin(async move {
            let sql = bookkeeping_ddl(self.dialect());
            on_conn!(self, c => {
                (&mut **c).execute(sql).await?;
            });
            Ok(())
        })
    }

    fn read_version<'a>(&'a mut self) -> SendFuture<'a, Result<Option<String>, MigrationError>> {
        Box::pin(async move {
            let rows: Vec<String> = on_conn!(self, c => {
                sqlx::query_scalar("SELECT version_num FROM alembic_version")
                    .fetch_all(&mut **c)
                    .await?
            });
            single_version(rows)
        })
    }

    fn read_checksums<'a>(
        &'a mut self,
    ) -> SendFuture<'a, Result<HashMap<String, String>, MigrationError>> {
        Box::pin(async move {
            let rows: Vec<(String, String)> = on_conn!(self, c => {
                sqlx::query_as("SELECT version_num, checksum FROM raptor_migration_checksums")
                    .fetch_all(&mut **c)
                    .await?
            });
            Ok(rows.into_iter().collect())
        })
    }

    /// Replaces the recorded version and checksums in one transaction (`stamp`).
    fn write_stamp<'a>(
        &'a mut self,
        version: Option<&'a str>,
        checksums: &'a [(String, String)],
    ) -> SendFuture<'a, Result<(), MigrationError>> {
        Box::pin(async move {
            let begin = begin_statement(self.dialect());
            let now = chrono::Utc::now();
            on_conn!(self, c => {
                let mut tx = c.begin_with(begin).await?;
                sqlx::query("DELETE FROM alembic_version").execute(&mut *tx).await?;
                if let Some(version) = version {
                    sqlx::query("INSERT INTO alembic_version (version_num) VALUES ($1)")
                        .bind(version)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM raptor_migration_checksums").execute(&mut *tx).await?;
                for (id, checksum) in checksums {
                    sqlx::query(
                        "INSERT INTO raptor_migration_checksums (version_num, checksum, recorded_at) \
                         VALUES ($1, $2, $3)",
                    )
                    .bind(id)
                    .bind(checksum)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            });
            Ok(())
        })
    }

    /// Records one checksum (`accept-checksum`).
    fn write_checksum<'a>(
        &'a mut self,
        id: &'a str,
        checksum: &'a str,
    ) -> SendFuture<'a, Result<(), MigrationError>> {
        Box::pin(async move {
            on_conn!(self, c => {
                sqlx::query(UPSERT_CHECKSUM)
                    .bind(id)
                    .bind(checksum)
                    .bind(chrono::Utc::now())
                    .execute(&mut **c)
                    .await?;
            });
            Ok(())
        })
    }

    /// Applies one step. Returns false, changing nothing, when another migrator moved the
    /// version since it was read.
    fn apply<'a>(
        &'a mut self,
        plan: &'a PlannedStep<'a>,
    ) -> SendFuture<'a, Result<bool, MigrationError>> {
        Box::pin(async move {
            let dialect = self.dialect();
            let sql = plan.sql(dialect);
            let checksum = plan.revision.checksum(dialect);
            let now = chrono::Utc::now();
            let step_failed = |source: sqlx::Error| plan.failure(source);
            if !plan.revision.transactional {
                if self.read_version().await? != plan.step.from {
                    return Ok(false);
                }
                tracing::info!("{}", plan.step);
                for statement in split_statements(sql) {
                    on_conn!(self, c => (&mut **c).execute(statement).await.map(drop))
                        .map_err(|source| plan.partial_failure(source))?;
                }
            }
            let begin = begin_statement(dialect);
            on_conn!(self, c => {
                let mut tx = c.begin_with(begin).await?;
                let rows: Vec<String> = sqlx::query_scalar("SELECT version_num FROM alembic_version")
                    .fetch_all(&mut *tx)
                    .await?;
                if single_version(rows)? != plan.step.from {
                    tx.rollback().await?;
                    return Ok(false);
                }
                if plan.revision.transactional {
                    tracing::info!("{}", plan.step);
                    (&mut *tx).execute(sql).await.map_err(step_failed)?;
                }
                match (&plan.step.from, &plan.step.to) {
                    (None, Some(to)) => {
                        sqlx::query("INSERT INTO alembic_version (version_num) VALUES ($1)")
                            .bind(to)
                            .execute(&mut *tx)
                            .await?;
                    }
                    (Some(from), Some(to)) => {
                        sqlx::query("UPDATE alembic_version SET version_num = $1 WHERE version_num = $2")
                            .bind(to)
                            .bind(from)
                            .execute(&mut *tx)
                            .await?;
                    }
                    (Some(from), None) => {
                        sqlx::query("DELETE FROM alembic_version WHERE version_num = $1")
                            .bind(from)
                            .execute(&mut *tx)
                            .await?;
                    }
                    (None, None) => {}
                }
                match plan.step.direction {
                    Direction::Upgrade => {
                        sqlx::query(UPSERT_CHECKSUM)
                            .bind(plan.revision.id)
                            .bind(&checksum)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Direction::Downgrade => {
                        sqlx::query("DELETE FROM raptor_migration_checksums WHERE version_num = $1")
                            .bind(plan.revision.id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await.map_err(step_failed)?;
            });
            Ok(true)
        })
    }
}

const UPSERT_CHECKSUM: &str = "INSERT INTO raptor_migration_checksums \
    (version_num, checksum, recorded_at) VALUES ($1, $2, $3) \
    ON CONFLICT (version_num) DO UPDATE \
    SET checksum = excluded.checksum, recorded_at = excluded.recorded_at";

/// SQLite takes the write lock up front so that two writers never deadlock on upgrade.
fn begin_statement(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "BEGIN IMMEDIATE",
        Dialect::Postgres => "BEGIN",
    }
}

/// The tables the migrator owns; `alembic_version` is alembic's own definition.
fn bookkeeping_ddl(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, \
                 CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));\n\
             CREATE TABLE IF NOT EXISTS raptor_migration_checksums (\
                 version_num VARCHAR(32) NOT NULL PRIMARY KEY, checksum TEXT NOT NULL, \
                 recorded_at TEXT NOT NULL);"
        }
        Dialect::Postgres => {
            "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, \
                 CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));\n\
             CREATE TABLE IF NOT EXISTS raptor_migration_checksums (\
                 version_num VARCHAR(32) NOT NULL PRIMARY KEY, checksum TEXT NOT NULL, \
                 recorded_at TIMESTAMPTZ NOT NULL);"
        }
    }
}

/// Statements of a non-transactional revision: each ends with `;` at the end of a line.
fn split_statements(sql: &str) -> Vec<&str> {
    let mut statements = Vec::new();
    let mut start = 0;
    for (offset, line) in line_spans(sql) {
        if line.trim_end().ends_with(';') {
            let end = offset + line.len();
            let statement = sql[start..end].trim();
            if !statement.is_empty() && !is_comment_only(statement) {
                statements.push(statement);
            }
            start = end;
        }
    }
    let rest = sql[start..].trim();
    if !rest.is_empty() && !is_comment_only(rest) {
        statements.push(rest);
    }
    statements
}

fn line_spans(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_inclusive('\n').scan(0, |offset, line| {
        let at = *offset;
        *offset += line.len();
        Some((at, line))
    })
}

fn is_comment_only(statement: &str) -> bool {
    statement
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with("--"))
}

/// A step with the revision whose SQL it runs.
struct PlannedStep<'a> {
    step: Step,
    revision: &'a Revision,
}

impl PlannedStep<'_> {
    fn sql(&self, dialect: Dialect) -> &'static str {
        let scripts = self.revision.scripts(dialect);
        match self.step.direction {
            Direction::Upgrade => scripts.up,
            Direction::Downgrade => scripts.down,
        }
    }

    fn failure(&self, source: sqlx::Error) -> MigrationError {
        MigrationError::StepFailed {
            direction: self.step.direction.name(),
            from: label(self.step.from.as_deref()),
            to: label(self.step.to.as_deref()),
            source,
        }
    }

    fn partial_failure(&self, source: sqlx::Error) -> MigrationError {
        MigrationError::PartialStepFailed {
            direction: self.step.direction.name(),
            from: label(self.step.from.as_deref()),
            to: label(self.step.to.as_deref()),
            source,
        }
    }
}

/// The linear history of revisions and the operations on it.
#[derive(Debug, Clone)]
pub struct Migrator {
    revisions: Vec<Revision>,
}

impl Migrator {
    /// The history embedded in this binary.
    pub fn embedded() -> Self {
        Self::new(revisions::EMBEDDED.to_vec())
    }

    /// A history from an explicit list, oldest first (tests use it to add revisions).
    ///
    /// # Panics
    /// When two revisions share an id: a programming error, caught by the first test.
    pub fn new(revisions: Vec<Revision>) -> Self {
        for (i, rev) in revisions.iter().enumerate() {
            assert!(
                revisions[..i].iter().all(|r| r.id != rev.id),
                "duplicate revision id {}",
                rev.id
            );
        }
        Self { revisions }
    }

    /// Every revision, oldest first.
    pub fn revisions(&self) -> &[Revision] {
        &self.revisions
    }

    /// The newest revision id.
    pub fn head(&self) -> Option<&'static str> {
        self.revisions.last().map(|r| r.id)
    }

    /// A digest of the whole history for both dialects: changes whenever any SQL changes.
    pub fn fingerprint(&self) -> String {
        let mut all = String::new();
        for rev in &self.revisions {
            for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                let scripts = rev.scripts(dialect);
                all.push_str(&format!("{}\n{}\n{}\n", rev.id, scripts.up, scripts.down));
            }
        }
        hex_sha256(&all)
    }

    fn index_of(&self, id: &str) -> Result<usize, MigrationError> {
        self.revisions
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(|| MigrationError::UnknownRevision(id.to_owned()))
    }

    fn position_of(&self, current: Option<&str>) -> Result<Option<usize>, MigrationError> {
        current.map(|id| self.index_of(id)).transpose()
    }

    /// Resolves `head`, `base`, `+N`, `-N`, an id or a unique id prefix to a position.
    fn resolve(&self, spec: &str, current: Option<usize>) -> Result<Option<usize>, MigrationError> {
        let spec = spec.trim();
        match spec {
            "head" | "heads" => return Ok(self.revisions.len().checked_sub(1)),
            "base" => return Ok(None),
            _ => {}
        }
        if let Some(relative) = parse_relative(spec) {
            let from = current.map_or(-1, |c| c as i64);
            let to = from + relative;
            return match to {
                -1 => Ok(None),
                t if t >= 0 && (t as usize) < self.revisions.len() => Ok(Some(t as usize)),
                _ => Err(MigrationError::RelativeOutOfRange(spec.to_owned())),
            };
        }
        if let Ok(index) = self.index_of(spec) {
            return Ok(Some(index));
        }
        let matches: Vec<usize> = (0..self.revisions.len())
            .filter(|&i| !spec.is_empty() && self.revisions[i].id.starts_with(spec))
            .collect();
        match matches.as_slice() {
            [one] => Ok(Some(*one)),
            [] => Err(MigrationError::UnknownRevision(spec.to_owned())),
            many => Err(MigrationError::Ambiguous {
                prefix: spec.to_owned(),
                matches: many
                    .iter()
                    .map(|&i| self.revisions[i].id)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Checks that a target names a known revision (no database needed).
    pub fn validate_target(&self, spec: &str) -> Result<(), MigrationError> {
        if parse_relative(spec).is_some() {
            return Ok(());
        }
        self.resolve(spec, None).map(|_| ())
    }

    fn id_at(&self, position: Option<usize>) -> Option<String> {
        position.map(|i| self.revisions[i].id.to_owned())
    }

    /// The steps that lead from `from` to `to`.
    fn plan(&self, from: Option<usize>, to: Option<usize>) -> Vec<PlannedStep<'_>> {
        let (start, end) = (from.map_or(0, |f| f + 1), to.map_or(0, |t| t + 1));
        if end >= start {
            (start..end)
                .map(|i| PlannedStep {
                    step: Step {
                        direction: Direction::Upgrade,
                        from: self.id_at(i.checked_sub(1)),
                        to: self.id_at(Some(i)),
                        message: self.revisions[i].message.to_owned(),
                    },
                    revision: &self.revisions[i],
                })
                .collect()
        } else {
            (end..start)
                .rev()
                .map(|i| PlannedStep {
                    step: Step {
                        direction: Direction::Downgrade,
                        from: self.id_at(Some(i)),
                        to: self.id_at(i.checked_sub(1)),
                        message: self.revisions[i].message.to_owned(),
                    },
                    revision: &self.revisions[i],
                })
                .collect()
        }
    }

    fn drift(
        &self,
        dialect: Dialect,
        upto: Option<usize>,
        recorded: &HashMap<String, String>,
    ) -> Vec<Drift> {
        let applied = upto.map_or(0, |u| u + 1);
        self.revisions[..applied]
            .iter()
            .filter_map(|rev| {
                let embedded = rev.checksum(dialect);
                let recorded = recorded.get(rev.id).cloned();
                (recorded.as_deref() != Some(embedded.as_str())).then(|| Drift {
                    revision: rev.id.to_owned(),
                    recorded,
                    embedded,
                })
            })
            .collect()
    }

    /// Where the database stands: current revision, head, and any checksum drift.
    pub async fn status(&self, db: &Db) -> Result<Status, MigrationError> {
        let current = current_revision(db).await?;
        let position = self.position_of(current.as_deref())?;
        let recorded = if schema::table_exists(db, CHECKSUM_TABLE).await? {
            let rows: Vec<(String, String)> = on_pool!(db, pool => {
                sqlx::query_as("SELECT version_num, checksum FROM raptor_migration_checksums")
                    .fetch_all(pool)
                    .await?
            });
            rows.into_iter().collect()
        } else {
            HashMap::new()
        };
        Ok(Status {
            drift: self.drift(db.dialect(), position, &recorded),
            current,
            head: self.head().map(str::to_owned),
        })
    }

    /// Brings the schema up to `target` (`head`, an id, a prefix, `+N`). Returns the steps run.
    pub async fn upgrade(&self, db: &Db, target: &str) -> Result<Vec<Step>, MigrationError> {
        self.migrate(db, target, Direction::Upgrade).await
    }

    /// Takes the schema down to `target` (`base`, an id, a prefix, `-N`). Returns the steps run.
    pub async fn downgrade(&self, db: &Db, target: &str) -> Result<Vec<Step>, MigrationError> {
        self.migrate(db, target, Direction::Downgrade).await
    }

    async fn migrate(
        &self,
        db: &Db,
        target: &str,
        direction: Direction,
    ) -> Result<Vec<Step>, MigrationError> {
        let mut conn = MigrationConn::acquire(db).await?;
        let result = self.migrate_locked(&mut conn, target, direction).await;
        conn.finish().await;
        result
    }

    async fn migrate_locked(
        &self,
        conn: &mut MigrationConn,
        target: &str,
        direction: Direction,
    ) -> Result<Vec<Step>, MigrationError> {
        conn.lock().await?;
        conn.ensure_bookkeeping().await?;
        let dialect = conn.dialect();
        let mut done = Vec::new();
        let mut goal = None;
        loop {
            let current = self.position_of(conn.read_version().await?.as_deref())?;
            let drift = self.drift(dialect, current, &conn.read_checksums().await?);
            if !drift.is_empty() {
                return Err(MigrationError::Drift(drift));
            }
            // Resolve once, against the version first seen: `-1` means one step, not a loop.
            let to = match goal {
                Some(to) => to,
                None => {
                    let to = self.resolve(target, current)?;
                    let wrong_way = match direction {
                        Direction::Upgrade => to < current,
                        Direction::Downgrade => to > current,
                    };
                    if wrong_way {
                        return Err(MigrationError::WrongDirection {
                            command: direction.name(),
                            target: label(self.id_at(to).as_deref()),
                            current: label(self.id_at(current).as_deref()),
                        });
                    }
                    goal = Some(to);
                    to
                }
            };
            let plan = self.plan(current, to);
            let Some(next) = plan.first() else {
                return Ok(done);
            };
            if conn.apply(next).await? {
                done.push(next.step.clone());
            }
        }
    }

    /// Records `target` as the current revision without running any SQL (alembic's `stamp`).
    /// Works even when `alembic_version` holds a revision this binary cannot locate.
    pub async fn stamp(&self, db: &Db, target: &str) -> Result<Option<String>, MigrationError> {
        let to = self.resolve(target, None)?;
        let dialect = db.dialect();
        let checksums: Vec<(String, String)> = self.revisions[..to.map_or(0, |t| t + 1)]
            .iter()
            .map(|r| (r.id.to_owned(), r.checksum(dialect)))
            .collect();
        let version = self.id_at(to);
        let mut conn = MigrationConn::acquire(db).await?;
        let result = async {
            conn.lock().await?;
            conn.ensure_bookkeeping().await?;
            conn.write_stamp(version.as_deref(), &checksums).await
        }
        .await;
        conn.finish().await;
        result.map(|()| version)
    }

    /// Accepts the embedded SQL of an applied revision as what the database holds, after a
    /// reviewer has confirmed it. Refuses revisions that are not applied.
    pub async fn accept_checksum(&self, db: &Db, target: &str) -> Result<String, MigrationError> {
        let mut conn = MigrationConn::acquire(db).await?;
        let result = async {
            conn.lock().await?;
            conn.ensure_bookkeeping().await?;
            let current = self.position_of(conn.read_version().await?.as_deref())?;
            let index = self
                .resolve(target, current)?
                .ok_or_else(|| MigrationError::UnknownRevision(target.to_owned()))?;
            if Some(index) > current {
                return Err(MigrationError::WrongDirection {
                    command: "accept-checksum",
                    target: self.revisions[index].id.to_owned(),
                    current: label(self.id_at(current).as_deref()),
                });
            }
            let rev = &self.revisions[index];
            conn.write_checksum(rev.id, &rev.checksum(conn.dialect()))
                .await?;
            Ok(rev.id.to_owned())
        }
        .await;
        conn.finish().await;
        result
    }

    /// The SQL `upgrade`/`downgrade` would run between two revisions, for a DBA to review
    /// (alembic's offline mode). Needs no connection.
    pub fn offline_sql(
        &self,
        dialect: Dialect,
        from: &str,
        to: &str,
    ) -> Result<String, MigrationError> {
        let from_pos = self.resolve(from, None)?;
        let to_pos = self.resolve(to, from_pos)?;
        let now = chrono::Utc::now().to_rfc3339();
        let mut out = format!(
            "-- Raptor migration script for {dialect}: {} -> {}\n-- Generated {now}; review, then run with psql/sqlite3 or `raptor db upgrade`.\n\n{}\n",
            label(self.id_at(from_pos).as_deref()),
            label(self.id_at(to_pos).as_deref()),
            bookkeeping_ddl(dialect)
        );
        for planned in self.plan(from_pos, to_pos) {
            let step = &planned.step;
            out.push_str(&format!("\n-- {step}\n"));
            let transactional = planned.revision.transactional;
            if transactional {
                out.push_str(&format!("{};\n", begin_statement(dialect)));
            }
            out.push_str(planned.sql(dialect).trim_end());
            out.push('\n');
            match (&step.from, &step.to) {
                (None, Some(to)) => out.push_str(&format!(
                    "INSERT INTO alembic_version (version_num) VALUES ('{to}');\n"
                )),
                (Some(from), Some(to)) => out.push_str(&format!(
                    "UPDATE alembic_version SET version_num = '{to}' WHERE version_num = '{from}';\n"
                )),
                (Some(from), None) => out.push_str(&format!(
                    "DELETE FROM alembic_version WHERE version_num = '{from}';\n"
                )),
                (None, None) => {}
            }
            let id = planned.revision.id;
            match step.direction {
                Direction::Upgrade => out.push_str(&format!(
                    "INSERT INTO raptor_migration_checksums (version_num, checksum, recorded_at) \
                     VALUES ('{id}', '{}', '{now}') ON CONFLICT (version_num) DO UPDATE \
                     SET checksum = excluded.checksum, recorded_at = excluded.recorded_at;\n",
                    planned.revision.checksum(dialect)
                )),
                Direction::Downgrade => out.push_str(&format!(
                    "DELETE FROM raptor_migration_checksums WHERE version_num = '{id}';\n"
                )),
            }
            if transactional {
                out.push_str("COMMIT;\n");
            }
        }
        Ok(out)
    }

    /// The history, newest first, as `alembic history` prints it.
    pub fn history(&self) -> Vec<String> {
        self.revisions
            .iter()
            .enumerate()
            .rev()
            .map(|(i, rev)| {
                let parent = i.checked_sub(1).map_or("<base>", |p| self.revisions[p].id);
                let head = if i + 1 == self.revisions.len() {
                    " (head)"
                } else {
                    ""
                };
                format!("{parent} -> {}{head}, {}", rev.id, rev.message)
            })
            .collect()
    }
}

fn parse_relative(spec: &str) -> Option<i64> {
    let (sign, digits) = match spec.as_bytes().first()? {
        b'+' => (1, &spec[1..]),
        b'-' => (-1, &spec[1..]),
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok().map(|n| sign * n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles only while migrations can run on a multi-threaded runtime's spawned tasks.
    #[allow(dead_code)]
    fn migration_futures_are_send(m: Migrator, db: Db) {
        fn is_send<T: Send>(_: T) {}
        is_send(async move { m.upgrade(&db, "head").await });
    }

    const fn rev(id: &'static str) -> Revision {
        Revision {
            id,
            message: "test",
            sqlite: Scripts { up: "", down: "" },
            postgres: Scripts { up: "", down: "" },
            transactional: true,
        }
    }

    fn migrator() -> Migrator {
        Migrator::new(vec![rev("0001_a"), rev("0002_b"), rev("0003_c")])
    }

    #[test]
    fn targets_resolve_by_name_prefix_and_relative_step() {
        let m = migrator();
        assert_eq!(m.resolve("head", None).ok(), Some(Some(2)));
        assert_eq!(m.resolve("base", Some(2)).ok(), Some(None));
        assert_eq!(m.resolve("0002_b", None).ok(), Some(Some(1)));
        assert_eq!(m.resolve("0002", None).ok(), Some(Some(1)));
        assert_eq!(m.resolve("-1", Some(2)).ok(), Some(Some(1)));
        assert_eq!(m.resolve("-1", Some(0)).ok(), Some(None));
        assert_eq!(m.resolve("+2", None).ok(), Some(Some(1)));
    }

    #[test]
    fn unknown_revisions_are_reported_as_alembic_does() {
        let err = migrator().resolve("deadbeef", None).expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "Can't locate revision identified by 'deadbeef'"
        );
    }

    #[test]
    fn ambiguous_prefixes_and_out_of_range_steps_are_refused() {
        let m = migrator();
        assert!(matches!(
            m.resolve("000", None),
            Err(MigrationError::Ambiguous { .. })
        ));
        assert!(matches!(
            m.resolve("-2", Some(0)),
            Err(MigrationError::RelativeOutOfRange(_))
        ));
        assert!(matches!(
            m.resolve("+4", None),
            Err(MigrationError::RelativeOutOfRange(_))
        ));
    }

    #[test]
    fn history_lists_newest_first_with_parents() {
        assert_eq!(
            migrator().history(),
            vec![
                "0002_b -> 0003_c (head), test",
                "0001_a -> 0002_b, test",
                "<base> -> 0001_a, test",
            ]
        );
    }

    #[test]
    fn non_transactional_scripts_split_at_line_ending_semicolons() {
        let sql = "-- comment\nCREATE INDEX CONCURRENTLY a ON t (x);\nCREATE INDEX CONCURRENTLY b\n  ON t (y);\n";
        assert_eq!(
            split_statements(sql),
            vec![
                "-- comment\nCREATE INDEX CONCURRENTLY a ON t (x);",
                "CREATE INDEX CONCURRENTLY b\n  ON t (y);"
            ]
        );
    }

    #[test]
    fn embedded_ids_fit_alembic_version() {
        for rev in Migrator::embedded().revisions() {
            assert!(rev.id.len() <= 32, "{} is longer than VARCHAR(32)", rev.id);
        }
    }

    #[test]
    fn embedded_history_starts_with_the_baseline() {
        let m = Migrator::embedded();
        assert_eq!(m.revisions()[0].id, "0001_raptor_baseline");
        assert_eq!(m.revisions()[0].message, "raptor baseline");
    }
}
