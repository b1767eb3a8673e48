//! SQLite writes one transaction at a time. Writers of one process take turns here, first come
//! first served, before they ask the database for its write lock.
//!
//! Without turns, every writer but one waits inside SQLite's busy handler, which sleeps and
//! polls (1, 2, 5 … up to 100 ms between tries). The lock then sits free until a sleeper wakes,
//! and who wakes first is luck: throughput drops and the unlucky wait longest. With turns, the
//! next writer starts as soon as the last one ends. Writers in other processes (`raptor bars
//! import`, a second `raptor serve`) still meet the busy handler, as before.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::dialect::pool::SQLITE_BUSY_TIMEOUT;
use crate::engine::Db;
use crate::error::StoreError;

/// The queue of one process's SQLite writers, shared by every clone of a [`Db`].
#[derive(Debug, Clone)]
pub(crate) struct WriteTurns {
    turn: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

impl Default for WriteTurns {
    fn default() -> Self {
        Self {
            turn: Arc::new(Semaphore::new(1)),
            waiting: Arc::default(),
        }
    }
}

/// Counts one writer as waiting for as long as it lives, however its wait ends.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One writer's turn, given up when dropped.
pub(crate) type Turn = OwnedSemaphorePermit;

impl Db {
    /// Waits for this process's turn to write on SQLite, as long as SQLite itself would wait
    /// for its lock; None at once on PostgreSQL, whose writers lock rows, not the database.
    pub(crate) async fn write_turn(&self) -> Result<Option<Turn>, StoreError> {
        let Some(turns) = &self.write_turns else {
            return Ok(None);
        };
        let waiting = Waiting::new(&turns.waiting);
        let waited = tokio::time::timeout(SQLITE_BUSY_TIMEOUT, turns.turn.clone().acquire_owned());
        let waited = waited.await;
        drop(waiting);
        match waited {
            Ok(Ok(turn)) => Ok(Some(turn)),
            // The semaphore is never closed; a closed one would mean no more writes anyway.
            Ok(Err(_)) | Err(_) => Err(StoreError::Unavailable(format!(
                "another write held the SQLite database for more than {} s",
                SQLITE_BUSY_TIMEOUT.as_secs()
            ))),
        }
    }

    /// SQLite writers of this process waiting for their turn right now; 0 on PostgreSQL.
    pub fn writers_waiting(&self) -> usize {
        self.write_turns
            .as_ref()
            .map_or(0, |turns| turns.waiting.load(Ordering::Relaxed))
    }
}
