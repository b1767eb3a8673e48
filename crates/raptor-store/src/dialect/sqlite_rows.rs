//! Many-row reads from a SQLite file without sqlx's per-row hand-over.
//!
//! sqlx runs each SQLite connection on a worker thread and passes every row to the async side
//! over a channel, so a read of thousands of rows spends most of its time waking threads. Here
//! the whole read runs on one blocking thread through rusqlite (the same bundled SQLite) and
//! comes back at once. The SQL text is the one the PostgreSQL path runs: SQLite reads `$1`…
//! as parameters numbered by first appearance, which the callers keep in order.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{CachedStatement, Connection, OpenFlags, ToSql};

use crate::error::StoreError;

/// Reads at once, each on a connection of its own; more wait. Two cores gain nothing from more,
/// and every connection keeps a page cache of its own.
const READERS: usize = 8;

/// How long a read waits for a lock (a checkpoint) before failing as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Read-only connections to one SQLite file.
#[derive(Debug)]
pub(crate) struct SqliteRows {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    turns: Arc<Semaphore>,
}

impl SqliteRows {
    pub(crate) fn new(path: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            path,
            idle: Mutex::new(Vec::new()),
            turns: Arc::new(Semaphore::new(READERS)),
        })
    }

    /// Runs `read` with a read-only connection on a blocking thread.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        // Held by the read itself: a caller that stops waiting does not free its turn early.
        let turn = Arc::clone(&self.turns)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite readers are closed".into()))?;
        let rows = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let conn = rows.take()?;
            let out = read(&conn);
            rows.give_back(conn);
            out.map_err(StoreError::from)
        })
        .await
        .map_err(|err| StoreError::Unavailable(format!("a SQLite read stopped: {err}")))?
    }

    /// Runs `read`, a read of a few rows found by index (a session, a bars version, a small
    /// account book), on the
    /// calling thread: handing it to a blocking thread and waking the caller costs more than the
    /// read. When no connection is idle, or a lock is in the way (a WAL recovery, say), it runs
    /// as [`Self::read`] does instead, so the calling thread never waits.
    pub(crate) async fn read_point<T, F>(self: &Arc<Self>, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some(conn) = idle {
            let out = conn.busy_timeout(Duration::ZERO).and_then(|()| read(&conn));
            if conn.busy_timeout(BUSY_TIMEOUT).is_ok() {
                self.give_back(conn);
            }
            match out {
                Err(err) if is_busy(&err) => {}
                out => return out.map_err(StoreError::from),
            }
        }
        self.read(read).await
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
        if idle.len() < READERS {
            idle.push(conn);
        }
    }
}

/// Whether SQLite refused for a lock held elsewhere.
fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
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

/// Where a statement's named columns stand, found once per process rather than by asking
/// SQLite for every column's name on every read (a visible share of a signed-in request's
/// CPU). Only for statements that name their columns (no `*`): their positions then follow
/// from the text alone.
pub(crate) struct Columns<const N: usize> {
    names: [&'static str; N],
    /// The text of the statement the positions were found in, and the positions.
    found: OnceLock<(&'static str, [usize; N])>,
}

/// A statement's columns as one read finds them.
pub(crate) struct Positions<'a, const N: usize> {
    names: &'a [&'static str; N],
    positions: [usize; N],
}

impl<const N: usize> Columns<N> {
    /// The columns `names`, to be found in a statement.
    pub(crate) const fn new(names: [&'static str; N]) -> Self {
        Self {
            names,
            found: OnceLock::new(),
        }
    }

    /// `sql` prepared on `conn` (from its cache), and where each name stands among its columns
    /// (matched as SQLite matches them, ignoring ASCII case). The positions found in the first
    /// text are kept; another text's are looked up afresh each time.
    pub(crate) fn prepare<'c>(
        &self,
        conn: &'c Connection,
        sql: &'static str,
    ) -> rusqlite::Result<(CachedStatement<'c>, Positions<'_, N>)> {
        let statement = conn.prepare_cached(sql)?;
        let kept = self
            .found
            .get()
            .filter(|(seen, _)| std::ptr::eq(*seen, sql));
        let positions = match kept {
            Some((_, positions)) => *positions,
            None => {
                let columns = statement.column_names();
                let mut positions = [0; N];
                for (position, name) in positions.iter_mut().zip(self.names) {
                    *position = columns
                        .iter()
                        .position(|column| column.eq_ignore_ascii_case(name))
                        .ok_or_else(|| rusqlite::Error::InvalidColumnName(name.to_owned()))?;
                }
                // Refused when another read kept its positions first: the same, or another
                // text's.
                let _ = self.found.set((sql, positions));
                positions
            }
        };
        let positions = Positions {
            names: &self.names,
            positions,
        };
        Ok((statement, positions))
    }
}

impl<const N: usize> Positions<'_, N> {
    /// Where `name`, one of the names given, stands.
    pub(crate) fn at(&self, name: &str) -> rusqlite::Result<usize> {
        self.names
            .iter()
            .position(|known| *known == name)
            .map(|i| self.positions[i])
            .ok_or_else(|| rusqlite::Error::InvalidColumnName(name.to_owned()))
    }
}

/// A stored time, read as leniently as sqlx reads one: RFC 3339 text as Raptor writes it,
/// SQLite's own date-time texts (with `T` or a space, seconds optional, fractions, an offset or
/// `Z`, or none for UTC), or a number (Unix seconds; a real is a Julian day, as SQLite's
/// functions make them).
pub(crate) fn time(raw: ValueRef<'_>) -> rusqlite::Result<DateTime<Utc>> {
    let refused =
        || rusqlite::Error::FromSqlConversionFailure(0, raw.data_type(), "not a time".into());
    match raw {
        ValueRef::Integer(seconds) => DateTime::from_timestamp(seconds, 0).ok_or_else(refused),
        ValueRef::Real(julian_day) => {
            let micros = (julian_day - UNIX_EPOCH_JULIAN_DAY) * 86_400_000_000.0;
            DateTime::from_timestamp_micros(micros.round() as i64).ok_or_else(refused)
        }
        ValueRef::Text(bytes) => {
            if let Some(t) = utc_seconds_text(bytes) {
                return Ok(t);
            }
            let text = raw.as_str()?;
            if let Ok(t) = DateTime::parse_from_rfc3339(text) {
                return Ok(t.with_timezone(&Utc));
            }
            let text = text.replacen(' ', "T", 1);
            let text = text.strip_suffix('Z').unwrap_or(&text);
            TEXT_FORMATS
                .iter()
                .find_map(|format| {
                    DateTime::parse_from_str(text, &format!("{format}%:z"))
                        .map(|t| t.with_timezone(&Utc))
                        .or_else(|_| {
                            NaiveDateTime::parse_from_str(text, format).map(|t| t.and_utc())
                        })
                        .ok()
                })
                .ok_or_else(refused)
        }
        _ => Err(refused()),
    }
}

/// `YYYY-MM-DDTHH:MM:SS` then `+00:00` or `Z`, the form Raptor writes (a bar's time, most
/// often), read without the general parser: loading a million bars parses a million of them.
/// Anything else, a leap second included, is `None` and left to the general path.
fn utc_seconds_text(text: &[u8]) -> Option<DateTime<Utc>> {
    let fields = match text.len() {
        25 if text.ends_with(b"+00:00") => &text[..19],
        20 if text[19] == b'Z' => &text[..19],
        _ => return None,
    };
    if fields[4] != b'-'
        || fields[7] != b'-'
        || fields[10] != b'T'
        || fields[13] != b':'
        || fields[16] != b':'
    {
        return None;
    }
    let number = |at: std::ops::Range<usize>| {
        fields[at].iter().try_fold(0u32, |n, &digit| {
            digit
                .is_ascii_digit()
                .then(|| n * 10 + u32::from(digit - b'0'))
        })
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)?
        .and_hms_opt(number(11..13)?, number(14..16)?, number(17..19)?)
        .map(|t| t.and_utc())
}

/// A stored time that may be null, read as [`time`] reads one.
pub(crate) fn optional_time(raw: ValueRef<'_>) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match raw {
        ValueRef::Null => Ok(None),
        raw => time(raw).map(Some),
    }
}

/// The Julian day of 1970-01-01T00:00:00Z.
const UNIX_EPOCH_JULIAN_DAY: f64 = 2_440_587.5;

/// Date-time texts past RFC 3339, with `T` between date and time (a space is read as `T`).
const TEXT_FORMATS: [&str; 2] = ["%FT%T%.f", "%FT%R"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_time_form_sqlx_reads_is_read_the_same() {
        let noon: DateTime<Utc> = "2026-03-02T12:00:00Z".parse().expect("time");
        for text in [
            "2026-03-02T12:00:00+00:00",
            "2026-03-02T12:00:00Z",
            "2026-03-02T13:00:00+01:00",
            "2026-03-02 12:00:00",
            "2026-03-02 12:00:00.000",
            "2026-03-02 12:00",
            "2026-03-02 12:00Z",
            "2026-03-02 13:00+01:00",
            "2026-03-02T12:00:00",
            "2026-03-02T12:00",
            "2026-03-02 12:00:00.000+00:00",
        ] {
            assert_eq!(
                time(ValueRef::Text(text.as_bytes())).ok(),
                Some(noon),
                "{text}"
            );
        }
        assert_eq!(time(ValueRef::Integer(noon.timestamp())).ok(), Some(noon));
        let julian = noon.timestamp() as f64 / 86_400.0 + UNIX_EPOCH_JULIAN_DAY;
        assert_eq!(time(ValueRef::Real(julian)).ok(), Some(noon));
        assert!(time(ValueRef::Text(b"yesterday")).is_err());
        for impossible in [
            "2026-02-30T12:00:00+00:00",
            "2026-13-02T12:00:00Z",
            "2026-03-02T24:00:00+00:00",
            "2026-03-02T12:61:00Z",
            "2026-03-02T12:00:0x+00:00",
            "2026/03/02T12:00:00+00:00",
        ] {
            assert!(
                time(ValueRef::Text(impossible.as_bytes())).is_err(),
                "{impossible}"
            );
        }
        let leap: DateTime<Utc> = "2016-12-31T23:59:60Z".parse().expect("a leap second");
        assert_eq!(
            time(ValueRef::Text(b"2016-12-31T23:59:60+00:00")).ok(),
            Some(leap)
        );
        assert!(time(ValueRef::Null).is_err());
    }

    #[test]
    fn kept_column_positions_belong_to_their_statement_only() {
        static COLUMNS: Columns<2> = Columns::new(["a", "b"]);
        let conn = Connection::open_in_memory().expect("open");
        let read = |sql: &'static str| {
            let (mut statement, columns) = COLUMNS.prepare(&conn, sql).expect("prepare");
            let (a, b) = (columns.at("a").expect("a"), columns.at("b").expect("b"));
            statement
                .query_row([], |row| Ok((row.get::<_, i64>(a)?, row.get::<_, i64>(b)?)))
                .expect("row")
        };
        for _ in 0..2 {
            assert_eq!(read("SELECT 1 AS a, 2 AS b"), (1, 2));
            assert_eq!(
                read("SELECT 2 AS B, 1 AS A"),
                (1, 2),
                "another order, by name"
            );
        }
        assert!(
            COLUMNS.prepare(&conn, "SELECT 1 AS a").is_err(),
            "b is missing"
        );
    }
}
