//! The storage layer's errors, in one leaf module: every other module may use them and they
//! use no other module, so errors never tie the crate's modules into a cycle.
//!
//! Public store functions return [`StoreError`]; the refusals of one area (a URL, a migration
//! command, a role request, a copy) stay distinct as its variants.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Instant;

/// The URL forms Raptor accepts, quoted in every URL error.
pub const ACCEPTED_FORMS: &str = "sqlite:///relative/path.db, sqlite:////absolute/path.db, \
sqlite+pysqlite:///path.db, sqlite://:memory: (tests only), \
postgres://user:password@host:5432/dbname, postgresql://..., postgresql+psycopg2://... \
(add ?sslmode=require to insist on TLS)";

/// Anything that can go wrong below the HTTP edge. Messages never contain passwords.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL was refused.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The database could not be reached when connecting.
    #[error("could not connect to the {dialect} database at {target}: {reason}")]
    Connect {
        /// `sqlite` or `postgresql`.
        dialect: &'static str,
        /// The redacted URL.
        target: String,
        /// The driver's explanation.
        reason: String,
    },
    /// The database cannot serve right now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A schema migration failed or was refused.
    #[error(transparent)]
    Migration(#[from] MigrationError),
    /// A role-separation request was refused.
    #[error(transparent)]
    Role(#[from] RoleError),
    /// A copy between databases was refused or did not fit.
    #[error(transparent)]
    Copy(#[from] CopyError),
    /// A query failed.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// A read through the SQLite row reader failed.
    #[error("database error: {0}")]
    SqliteRead(#[from] rusqlite::Error),
}

impl StoreError {
    /// Whether a unique constraint refused the write (a taken email, a reused credential id).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(err)
            if err.as_database_error().is_some_and(|e| e.is_unique_violation()))
    }

    /// Whether the database could not serve at all (unreachable, restarting, out of
    /// connections, locked past the busy timeout), so the same request may succeed shortly:
    /// the API answers 503 with `Retry-After` rather than 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Connect { .. } | StoreError::Unavailable(_) => true,
            StoreError::Database(err) => sqlx_unavailable(err),
            StoreError::SqliteRead(rusqlite::Error::SqliteFailure(err, _)) => matches!(
                err.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::CannotOpen
            ),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        noted_if_broken(&err);
        StoreError::Database(err)
    }
}

/// Whether `err` means its connection broke ([`connection_broke`]); if so, noted for
/// [`connection_broke_lately`].
pub(crate) fn noted_if_broken(err: &sqlx::Error) -> bool {
    let broke = connection_broke(err);
    if broke {
        note_broken();
    }
    broke
}

/// Notes that a connection of this process broke just now, for [`connection_broke_lately`].
pub(crate) fn note_broken() {
    BROKEN_AT_MS.store(millis_since_start(), Ordering::Relaxed);
}

/// When a database connection of this process last turned out broken, in milliseconds since
/// [`START`] (0: never). Its pool's other connections likely broke with it (a restart): until
/// [`SUSPECT_FOR_MS`] has passed, the PostgreSQL pool pings each connection before handing it
/// out, so the next requests get fresh ones rather than one more error each.
static BROKEN_AT_MS: AtomicU64 = AtomicU64::new(0);
static START: LazyLock<Instant> = LazyLock::new(Instant::now);
const SUSPECT_FOR_MS: u64 = 10_000;

fn millis_since_start() -> u64 {
    u64::try_from(START.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

/// Whether a connection broke within the last [`SUSPECT_FOR_MS`].
pub(crate) fn connection_broke_lately() -> bool {
    let at = BROKEN_AT_MS.load(Ordering::Relaxed);
    at != 0 && millis_since_start().saturating_sub(at) < SUSPECT_FOR_MS
}

/// The connection itself failed (I/O, TLS, the conversation broke off, or the server said it
/// is closing it: classes 08 and 57P), as opposed to the statement.
fn connection_broke(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// Driver failures meaning "not now" rather than "wrong": the connection broke or could not be
/// had (I/O, TLS while reconnecting, pool timeout or closed), the conversation with the server
/// broke off (a protocol error: a server going away mid-handshake answers garbage such as a 0
/// byte to the SSL request; Raptor's queries are all parameterised, so input cannot cause one),
/// or the database said so itself ([`unavailable_code`]).
fn sqlx_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| unavailable_code(&code)),
        _ => false,
    }
}

/// Database error codes that pass: PostgreSQL's connection exceptions (class 08, but for
/// 08P01, a protocol violation, which is a bug), insufficient resources (class 53: too many
/// connections, out of memory, disk full), admin or crash shutdown and "cannot connect now"
/// (57P01–57P03; 57P04, database dropped, is permanent), and a write refused by a read-only
/// standby after a failover (25006); SQLite's busy and locked results, with their extended
/// codes (5, 6, 261, 262, 517, 773).
fn unavailable_code(code: &str) -> bool {
    (code.starts_with("08") && code != "08P01")
        || code.starts_with("53")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "25006" | "5" | "6" | "261" | "262" | "517" | "773"
        )
}

/// Why a database URL was refused. No variant ever holds the password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    /// The scheme is not one Raptor speaks.
    #[error("unsupported database URL scheme '{scheme}'; accepted forms: {ACCEPTED_FORMS}")]
    UnsupportedScheme {
        /// The scheme as typed (schemes cannot hold credentials).
        scheme: String,
    },
    /// The URL could not be understood.
    #[error("malformed database URL: {reason}; accepted forms: {ACCEPTED_FORMS}")]
    Malformed {
        /// What is wrong, without the URL's secrets.
        reason: String,
    },
}

/// Why a migration command was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// Neither a known id, a unique prefix, `head`, `base` nor a relative step.
    #[error("Can't locate revision identified by '{0}'")]
    UnknownRevision(String),
    /// A prefix that matches several revisions.
    #[error("revision prefix '{prefix}' is ambiguous: it matches {matches}")]
    Ambiguous {
        /// What was typed.
        prefix: String,
        /// The candidates, comma separated.
        matches: String,
    },
    /// A relative target (`-2`, `+1`) that walks off either end of the history.
    #[error("relative revision {0} goes past the ends of the history (run `raptor db history`)")]
    RelativeOutOfRange(String),
    /// `upgrade` to an older revision or `downgrade` to a newer one.
    #[error("{command} target {target} is not reachable from {current} in that direction")]
    WrongDirection {
        /// `upgrade` or `downgrade`.
        command: &'static str,
        /// The resolved target.
        target: String,
        /// The current revision.
        current: String,
    },
    /// `alembic_version` holds several rows (a branched alembic history Raptor does not have).
    #[error(
        "alembic_version holds {0} rows; Raptor keeps exactly one (stamp a revision to repair it)"
    )]
    MultipleHeads(usize),
    /// The SQL embedded for applied revisions differs from what the database recorded.
    #[error("{}", describe_drift(.0))]
    Drift(Vec<Drift>),
    /// A revision failed and was rolled back.
    #[error("Running {direction} {from} -> {to} failed, the database stays at {from}: {source}")]
    StepFailed {
        /// `upgrade` or `downgrade`.
        direction: &'static str,
        /// Where the database was, and still is.
        from: String,
        /// Where the step was going.
        to: String,
        /// The database's complaint.
        source: sqlx::Error,
    },
    /// A non-transactional revision failed part way.
    #[error("Running {direction} {from} -> {to} failed part way (this revision runs outside a transaction, so statements before the failing one stay applied; alembic_version still says {from}): {source}")]
    PartialStepFailed {
        /// `upgrade` or `downgrade`.
        direction: &'static str,
        /// Where alembic_version still points.
        from: String,
        /// Where the step was going.
        to: String,
        /// The database's complaint.
        source: sqlx::Error,
    },
    /// A bookkeeping query failed.
    #[error("database error while migrating: {0}")]
    Database(#[from] sqlx::Error),
}

/// An applied revision whose recorded checksum is missing or differs from the embedded SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The revision id.
    pub revision: String,
    /// What the database recorded when the revision was applied (None: nothing recorded).
    pub recorded: Option<String>,
    /// What this binary embeds.
    pub embedded: String,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.recorded {
            Some(recorded) => write!(
                f,
                "revision {} was applied with checksum {} but this binary embeds {}",
                self.revision,
                short(recorded),
                short(&self.embedded)
            ),
            None => write!(
                f,
                "revision {} is applied but no checksum was recorded for it (migrated by another tool?)",
                self.revision
            ),
        }
    }
}

fn short(checksum: &str) -> &str {
    checksum.get(..12).unwrap_or(checksum)
}

fn describe_drift(drift: &[Drift]) -> String {
    let mut text =
        String::from("the schema history in the database does not match this binary's migrations:");
    for d in drift {
        text.push_str(&format!("\n  - {d}"));
    }
    text.push_str(
        "\nStopping rather than guessing. Review what changed in those revisions; if the \
         database really has that schema, accept it with `raptor db accept-checksum REV`.",
    );
    text
}

/// Why a role-separation request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// SQLite has no roles.
    #[error("role separation is a PostgreSQL feature; SQLite has no roles")]
    NotPostgres,
    /// A name that is not a plain identifier.
    #[error("'{0}' is not a valid role name (lower-case letters, digits and _, starting with a letter, at most 63)")]
    BadName(String),
}

/// Why a copy between two databases was refused or did not fit.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The two databases are at different revisions.
    #[error("the source is at {source_rev} and the target at {target_rev}: bring both to the same revision (raptor db upgrade head) first")]
    Revisions {
        /// Source revision.
        source_rev: String,
        /// Target revision.
        target_rev: String,
    },
    /// The target holds rows and --truncate was not given.
    #[error("the target is not empty ({0}); copy into an empty database, or pass --truncate to replace its rows")]
    TargetNotEmpty(String),
    /// --truncate was given but the target's audit log holds rows, which nothing may delete.
    #[error("the target's audit_log holds {0} rows and the audit log is append-only, so --truncate cannot replace it; copy into a freshly created database instead")]
    AuditLogNotEmpty(i64),
    /// A value does not have its target column's type; nothing is written.
    #[error("a value does not fit its column, so nothing was copied: {0}")]
    Mismatch(String),
    /// A SQLite database could not be read.
    #[error("reading the SQLite database failed: {0}")]
    Read(String),
}

#[cfg(test)]
mod tests {
    use super::unavailable_code;

    #[test]
    fn outages_pass_and_mistakes_do_not() {
        for code in [
            "08006", "08001", "53300", "57P01", "57P03", "25006", "5", "517", "773",
        ] {
            assert!(unavailable_code(code), "{code}");
        }
        for code in ["08P01", "57P04", "23505", "22021", "42P01", "19", "2067"] {
            assert!(!unavailable_code(code), "{code}");
        }
    }
}
