//! Schema migrations: an ordered chain of revisions with up and down SQL for each dialect,
//! embedded in the binary and recorded in `alembic_version(version_num)` as alembic does, so
//! the runbook's commands and the role grants keep working.
//!
//! Each revision runs in its own transaction and re-reads the version inside it, so a failed
//! step leaves the database at the previous revision and racing migrators cannot apply a step
//! twice. On PostgreSQL, migrators also serialise on a session-level advisory lock that waiting
//! processes *poll* for: a migrator blocked inside `pg_advisory_lock` would hold a snapshot that
//! a `CREATE INDEX CONCURRENTLY` in the running migrator waits for, deadlocking the two.
//!
//! [`history`] holds the pure planning (targets, steps, drift, fingerprint), [`connection`]
//! runs steps on a database, and [`offline`] writes them out as SQL for review.

mod connection;
mod history;
mod offline;
mod revisions;

pub use crate::error::{Drift, MigrationError};
pub use connection::current_revision;
use history::label;
pub use history::{Direction, Migrator, Revision, Scripts, Status, Step};
