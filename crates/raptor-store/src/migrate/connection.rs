//! Running migrations on a database: a dedicated connection per command, the migration lock,
//! reading and writing the bookkeeping tables, and applying one step at a time.

use std::collections::HashMap;

use sqlx::{Connection, Executor};

use super::history::{single_version, split_statements, PlannedStep};
use super::{label, Direction, Migrator, Status, Step};
use crate::dialect::catalogue;
use crate::dialect::migration::{bookkeeping_ddl, SendFuture};
use crate::dialect::MigrationConn;
use crate::engine::Db;
use crate::error::{MigrationError, StoreError};

const VERSION_TABLE: &str = "alembic_version";
const CHECKSUM_TABLE: &str = "raptor_migration_checksums";

/// Reads the revision in `alembic_version` without touching anything (None: base).
pub async fn current_revision(db: &Db) -> Result<Option<String>, StoreError> {
    Ok(read_current_revision(db).await?)
}

/// One statement on a migrated database (health checks read it every time); the catalogue
/// only when that fails, to tell an empty database from a failing one.
async fn read_current_revision(db: &Db) -> Result<Option<String>, MigrationError> {
    let read: Result<Vec<String>, sqlx::Error> = on_pool!(db, pool => {
        sqlx::query_scalar("SELECT version_num FROM alembic_version")
            .fetch_all(pool)
            .await
    });
    match read {
        Ok(rows) => single_version(rows),
        Err(err) => match catalogue::table_exists(&db.pool, VERSION_TABLE).await {
            Ok(false) => Ok(None),
            _ => Err(err.into()),
        },
    }
}

impl MigrationConn {
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
            let begin = self.dialect().begin_write();
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
            let pragmas = plan
                .revision
                .foreign_keys_off
                .then(|| self.dialect().foreign_keys_off_and_on())
                .flatten();
            if let Some((off, _)) = pragmas {
                self.execute_alone(off).await?;
            }
            let applied = self.apply_step(plan).await;
            if let Some((_, on)) = pragmas {
                self.execute_alone(on).await?;
            }
            applied
        })
    }

    /// Runs one statement on the connection, outside any transaction.
    fn execute_alone<'a>(&'a mut self, sql: &'a str) -> SendFuture<'a, Result<(), MigrationError>> {
        Box::pin(async move {
            on_conn!(self, c => (&mut **c).execute(sql).await.map(drop))?;
            Ok(())
        })
    }

    fn apply_step<'a>(
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
            let begin = dialect.begin_write();
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

impl Migrator {
    /// Where the database stands: current revision, head, and any checksum drift.
    pub async fn status(&self, db: &Db) -> Result<Status, StoreError> {
        Ok(self.read_status(db).await?)
    }

    async fn read_status(&self, db: &Db) -> Result<Status, MigrationError> {
        let current = read_current_revision(db).await?;
        let position = self.position_of(current.as_deref())?;
        let recorded = if catalogue::table_exists(&db.pool, CHECKSUM_TABLE).await? {
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
    pub async fn upgrade(&self, db: &Db, target: &str) -> Result<Vec<Step>, StoreError> {
        Ok(self.migrate(db, target, Direction::Upgrade).await?)
    }

    /// Takes the schema down to `target` (`base`, an id, a prefix, `-N`). Returns the steps run.
    pub async fn downgrade(&self, db: &Db, target: &str) -> Result<Vec<Step>, StoreError> {
        Ok(self.migrate(db, target, Direction::Downgrade).await?)
    }

    async fn migrate(
        &self,
        db: &Db,
        target: &str,
        direction: Direction,
    ) -> Result<Vec<Step>, MigrationError> {
        let mut conn = MigrationConn::acquire(&db.pool).await?;
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
    pub async fn stamp(&self, db: &Db, target: &str) -> Result<Option<String>, StoreError> {
        let to = self.resolve(target, None)?;
        let dialect = db.dialect();
        let checksums: Vec<(String, String)> = self.revisions()[..to.map_or(0, |t| t + 1)]
            .iter()
            .map(|r| (r.id.to_owned(), r.checksum(dialect)))
            .collect();
        let version = self.id_at(to);
        let mut conn = MigrationConn::acquire(&db.pool).await?;
        let result = async {
            conn.lock().await?;
            conn.ensure_bookkeeping().await?;
            conn.write_stamp(version.as_deref(), &checksums).await
        }
        .await;
        conn.finish().await;
        result?;
        Ok(version)
    }

    /// Accepts the embedded SQL of an applied revision as what the database holds, after a
    /// reviewer has confirmed it. Refuses revisions that are not applied.
    pub async fn accept_checksum(&self, db: &Db, target: &str) -> Result<String, StoreError> {
        let mut conn = MigrationConn::acquire(&db.pool).await?;
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
                    target: self.revisions()[index].id.to_owned(),
                    current: label(self.id_at(current).as_deref()),
                });
            }
            let rev = &self.revisions()[index];
            conn.write_checksum(rev.id, &rev.checksum(conn.dialect()))
                .await?;
            Ok(rev.id.to_owned())
        }
        .await;
        conn.finish().await;
        Ok(result?)
    }
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
}
