//! Many-row reads from a SQLite file without sqlx's per-row hand-over.
//!
//! sqlx runs each SQLite connection on a worker thread and passes every row to the async side
//! over a channel, so a read of thousands of rows spends most of its time waking threads. Here
//! the whole read runs on one blocking thread through rusqlite (the same bundled SQLite) and
//! comes back at once. The SQL text is the one the PostgreSQL path runs: SQLite reads `$1`…
//! as parameters numbered by first appearance, which the callers keep in order.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};

use crate::error::StoreError;

/// Idle read connections kept open; more are opened when needed and closed after use.
const KEPT: usize = 4;

/// How long a read waits for a lock (a checkpoint) before failing as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Read-only connections to one SQLite file.
#[derive(Debug)]
pub(crate) struct SqliteRows {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteRows {
    pub(crate) fn new(path: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            path,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Runs `read` with a read-only connection on a blocking thread.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let rows = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let conn = rows.take()?;
            let out = read(&conn);
            rows.give_back(conn);
            out.map_err(StoreError::from)
        })
        .await
        .map_err(|err| StoreError::Unavailable(format!("a SQLite read stopped: {err}")))?
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let kept = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some(conn) = kept {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < KEPT {
            idle.push(conn);
        }
    }
}

/// A time bound as sqlx binds it on SQLite, so comparisons with stored text agree.
pub(crate) struct SqliteTime(pub(crate) DateTime<Utc>);

impl ToSql for SqliteTime {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(
            self.0.to_rfc3339_opts(SecondsFormat::AutoSi, false),
        ))
    }
}

/// A stored time: RFC 3339 text as Raptor writes it, or SQLite's own `YYYY-MM-DD HH:MM:SS`
/// (UTC).
pub(crate) fn time(raw: ValueRef<'_>) -> rusqlite::Result<DateTime<Utc>> {
    let text = raw.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%F %T%.f").map(|t| t.and_utc()))
        .map_err(|err| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(err))
        })
}
