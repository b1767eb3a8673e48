//! Point reads on PostgreSQL (a signed-in session, an account's book, a symbol's bars version)
//! on connections of their own, used through [`on_point_read!`].
//!
//! sqlx pings every connection on its way back into its pool, a round trip to the server that
//! cannot be turned off: a request made of two one-row reads paid four round trips. A point
//! connection goes back to its set without one, and only after a read that succeeded: one whose
//! read failed, or that a caller stopped waiting for halfway, is closed. Point reads queue for
//! these connections as other work queues for the pool's.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout_at;

use super::pool::{ACQUIRE_TIMEOUT, PING_AFTER_IDLE};
use crate::error::{connection_broke_lately, note_broken, noted_if_broken};

/// A point connection idle longer than this is closed when the next one is given back.
const MAX_IDLE: Duration = Duration::from_secs(10 * 60);
/// A point connection is closed once this old, as the pool's are.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// A process's point connections to one PostgreSQL database.
#[derive(Debug)]
pub(crate) struct PgPoints {
    options: PgConnectOptions,
    /// One per connection that may be in use at once.
    turns: Arc<Semaphore>,
    max: usize,
    idle: Mutex<Vec<Idle>>,
    /// Open connections, idle or in use.
    open: AtomicUsize,
    /// Set by [`PgPoints::close`]: no connection is handed out or kept any more.
    closed: AtomicBool,
}

#[derive(Debug)]
struct Idle {
    conn: PgConnection,
    opened: Instant,
    since: Instant,
}

/// A point connection in use: dropping it closes it; [`PointConn::give_back`] keeps it.
#[derive(Debug)]
pub(crate) struct PointConn {
    conn: PgConnection,
    opened: Instant,
    counted: Counted,
    _turn: OwnedSemaphorePermit,
}

/// A connection counted as open: uncounted when dropped, unless kept.
#[derive(Debug)]
struct Counted {
    points: Arc<PgPoints>,
    kept: bool,
}

impl Drop for Counted {
    fn drop(&mut self) {
        if !self.kept {
            self.points.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl PgPoints {
    /// Up to `max` point connections opened with `options` (the pool's).
    pub(crate) fn new(options: PgConnectOptions, max: usize) -> Arc<Self> {
        let max = max.max(1);
        Arc::new(Self {
            options,
            turns: Arc::new(Semaphore::new(max)),
            max,
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        })
    }

    /// A point connection: an idle one (pinged first when it sat idle a while or a connection
    /// broke lately), else a new one. None once closed, or when the idle one failed its ping
    /// (noted, so the pool the caller then uses pings its own). Waiting for a turn, the ping
    /// and opening a connection share the time the pool waits for one.
    pub(crate) async fn take(self: &Arc<Self>) -> Result<Option<PointConn>, sqlx::Error> {
        let deadline = tokio::time::Instant::now() + ACQUIRE_TIMEOUT;
        let turn = timeout_at(deadline, Arc::clone(&self.turns).acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        if self.closed.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let idle = self.lock().pop();
        if let Some(idle) = idle {
            // Counted as open since it was opened.
            let mut conn = PointConn {
                conn: idle.conn,
                opened: idle.opened,
                counted: Counted {
                    points: Arc::clone(self),
                    kept: false,
                },
                _turn: turn,
            };
            if idle.since.elapsed() < PING_AFTER_IDLE && !connection_broke_lately() {
                return Ok(Some(conn));
            }
            return match timeout_at(deadline, conn.conn.ping()).await {
                Ok(Ok(())) => Ok(Some(conn)),
                Ok(Err(err)) => {
                    noted_if_broken(&err);
                    Ok(None)
                }
                Err(_) => {
                    note_broken();
                    Err(sqlx::Error::PoolTimedOut)
                }
            };
        }
        self.open.fetch_add(1, Ordering::Relaxed);
        let counted = Counted {
            points: Arc::clone(self),
            kept: false,
        };
        let conn = timeout_at(deadline, PgConnection::connect_with(&self.options))
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        Ok(Some(PointConn {
            conn,
            opened: Instant::now(),
            counted,
            _turn: turn,
        }))
    }

    /// Closes the idle connections; those in use are closed when their reads end.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        let idle = std::mem::take(&mut *self.lock());
        self.open.fetch_sub(idle.len(), Ordering::Relaxed);
    }

    /// Connections open and idle now, and the most there may be.
    pub(crate) fn status(&self) -> (usize, usize, usize) {
        (
            self.open.load(Ordering::Relaxed),
            self.lock().len(),
            self.max,
        )
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PointConn {
    /// The connection, to run a read on.
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// Keeps the connection for the next read, after one that succeeded (closing it instead
    /// once it has lived its time, or the longest idle one if that one has been idle too long).
    pub(crate) fn give_back(mut self) {
        let points = Arc::clone(&self.counted.points);
        let now = Instant::now();
        if now.duration_since(self.opened) > MAX_LIFETIME {
            return;
        }
        let mut idle = points.lock();
        if points.closed.load(Ordering::Relaxed) {
            return;
        }
        if idle
            .first()
            .is_some_and(|oldest| now.duration_since(oldest.since) > MAX_IDLE)
        {
            drop(idle.remove(0));
            points.open.fetch_sub(1, Ordering::Relaxed);
        }
        self.counted.kept = true;
        idle.push(Idle {
            conn: self.conn,
            opened: self.opened,
            since: now,
        });
    }
}
