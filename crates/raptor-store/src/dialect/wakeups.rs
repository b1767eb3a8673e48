//! Waking workers when a job is enqueued. PostgreSQL tells listeners with `NOTIFY`, sent by
//! the enqueuing transaction and delivered when it commits; SQLite has no such channel, so
//! its workers only poll. Either way a worker also polls: a notification can be lost (a
//! dropped connection, PgBouncer in transaction mode, which does not carry `LISTEN`), and
//! jobs scheduled for later are never announced.

use std::time::Duration;

use sqlx::postgres::PgListener;

use super::Pool;
use crate::error::StoreError;

/// The channel enqueues notify; the payload is the job's queue.
pub(crate) const CHANNEL: &str = "raptor_jobs";

/// How long to wait before listening again after the connection failed.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

/// Notifications for one queue.
pub(crate) enum Listener {
    /// PostgreSQL: a dedicated connection from the pool, listening on [`CHANNEL`].
    Postgres(Box<PgListener>),
    /// SQLite: never wakes.
    None,
}

impl Listener {
    /// Starts listening (PostgreSQL) or returns the listener that never wakes (SQLite).
    pub(crate) async fn open(pool: &Pool) -> Result<Self, StoreError> {
        match pool {
            Pool::Sqlite(_) => Ok(Self::None),
            Pool::Postgres(pool) => {
                let mut listener = PgListener::connect_with(pool).await?;
                listener.listen(CHANNEL).await?;
                Ok(Self::Postgres(Box::new(listener)))
            }
        }
    }

    /// Resolves when a job of `queue` may have become ready: one was announced, or the
    /// connection was re-established and announcements may have been missed. Never
    /// resolves on SQLite.
    pub(crate) async fn next(&mut self, queue: &str) {
        let Self::Postgres(listener) = self else {
            return std::future::pending().await;
        };
        loop {
            match listener.try_recv().await {
                Ok(Some(note)) if note.payload() == queue => return,
                Ok(Some(_)) => {}
                // Reconnected: whatever was announced meanwhile is gone; look now.
                Ok(None) => return,
                // Shutting down: there is nothing left to listen to.
                Err(sqlx::Error::PoolClosed) => return std::future::pending().await,
                Err(err) => {
                    tracing::warn!(%err, "listening for new jobs failed; polling until it works again");
                    tokio::time::sleep(RELISTEN_AFTER).await;
                    return;
                }
            }
        }
    }
}
