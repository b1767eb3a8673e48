//! Separation of the application's database role (PostgreSQL): the owner migrates, the
//! application role only reads and writes rows. The runbook's RM-11 block, as code.

use crate::engine::Db;
pub use crate::error::RoleError;
use crate::error::StoreError;

fn checked(role: &str) -> Result<&str, StoreError> {
    let ok = !role.is_empty()
        && role.len() <= 63
        && role.starts_with(|c: char| c.is_ascii_lowercase())
        && role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(role)
    } else {
        Err(RoleError::BadName(role.to_owned()).into())
    }
}

/// The GRANT/REVOKE statements that give `role` what the application needs and no more.
pub fn grant_statements(database: &str, role: &str) -> Result<Vec<String>, StoreError> {
    let role = checked(role)?;
    let database = database.replace('"', "\"\"");
    Ok(vec![
        format!("GRANT CONNECT ON DATABASE \"{database}\" TO {role}"),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
        // Tables that later migrations create are granted too (migrations run as the owner).
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}"),
        // The migration history belongs to the owner alone.
        format!("REVOKE ALL ON TABLE alembic_version, raptor_migration_checksums FROM {role}"),
        // The audit log is append-only for the application.
        format!("REVOKE UPDATE, DELETE, TRUNCATE ON TABLE audit_log FROM {role}"),
        // Monthly trace partitions are created by the server through this owner's function
        // (from revision 0004, which grants it itself to a role separated before it).
        format!(
            "DO $$ BEGIN IF to_regprocedure('raptor_ensure_trace_partitions(integer)') IS NOT NULL \
             THEN GRANT EXECUTE ON FUNCTION raptor_ensure_trace_partitions(integer) TO {role}; \
             END IF; END $$"
        ),
    ])
}

/// Role separation needs PostgreSQL; SQLite has no roles.
fn postgres(db: &Db) -> Result<&sqlx::PgPool, StoreError> {
    Ok(db.pool.postgres().ok_or(RoleError::NotPostgres)?)
}

/// The connected database's name.
pub async fn database_name(db: &Db) -> Result<String, StoreError> {
    Ok(sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(postgres(db)?)
        .await?)
}

/// Creates `role` with LOGIN when it does not exist (or sets its password when one is given)
/// and applies the grants, in one transaction. Returns whether the role was created.
pub async fn apply(db: &Db, role: &str, password: Option<&str>) -> Result<bool, StoreError> {
    let pool = postgres(db)?;
    let role = checked(role)?;
    let database = database_name(db).await?;
    let mut tx = pool.begin().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(role)
            .fetch_one(&mut *tx)
            .await?;
    let literal = |p: &str| format!("'{}'", p.replace('\'', "''"));
    if !exists {
        let password = password.map(literal).unwrap_or_else(|| "NULL".to_owned());
        sqlx::raw_sql(&format!("CREATE ROLE {role} LOGIN PASSWORD {password}"))
            .execute(&mut *tx)
            .await?;
    } else if let Some(password) = password {
        sqlx::raw_sql(&format!(
            "ALTER ROLE {role} LOGIN PASSWORD {}",
            literal(password)
        ))
        .execute(&mut *tx)
        .await?;
    }
    for statement in grant_statements(&database, role)? {
        sqlx::raw_sql(&statement).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(!exists)
}

/// One verification: what was tried, whether it had to succeed, and what happened.
#[derive(Debug, Clone)]
pub struct Probe {
    /// What was tried.
    pub statement: &'static str,
    /// Whether it must succeed (true) or be refused (false).
    pub must_succeed: bool,
    /// Whether the database allowed it.
    pub allowed: bool,
    /// The database's answer when it refused.
    pub detail: Option<String>,
}

impl Probe {
    /// Whether the role behaved as it must.
    pub fn as_expected(&self) -> bool {
        self.allowed == self.must_succeed
    }
}

/// Proves a connection's privileges: DML works; DDL, touching the migration history and
/// rewriting the audit log are refused. Every probe is rolled back.
pub async fn verify(app: &Db) -> Result<Vec<Probe>, StoreError> {
    let pool = postgres(app)?;
    let probes: [(&'static str, bool); 8] = [
        ("SELECT 1 FROM users LIMIT 1", true),
        ("SELECT raptor_ensure_trace_partitions(3)", true),
        (
            "INSERT INTO rate_limits (key, window_start, count) VALUES ('raptor-verify', now(), 1)",
            true,
        ),
        ("SELECT version_num FROM alembic_version", false),
        ("DROP TABLE alembic_version", false),
        ("UPDATE audit_log SET action = action WHERE FALSE", false),
        ("CREATE TABLE raptor_verify_ddl (x BIGINT)", false),
        (
            "CREATE TABLE trace_events_p209901 (LIKE trace_events)",
            false,
        ),
    ];
    let mut results = Vec::new();
    for (statement, must_succeed) in probes {
        let mut tx = pool.begin().await?;
        let outcome = sqlx::raw_sql(statement).execute(&mut *tx).await;
        tx.rollback().await?;
        results.push(Probe {
            statement,
            must_succeed,
            allowed: outcome.is_ok(),
            detail: outcome.err().map(|e| e.to_string()),
        });
    }
    Ok(results)
}
