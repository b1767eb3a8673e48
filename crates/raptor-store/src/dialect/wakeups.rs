//! Waking listeners in every process: workers when a job is enqueued, trade-update streams
//! when an order changes. PostgreSQL tells listeners with `NOTIFY`, sent in the writing
//! transaction (by the enqueue itself, or by the trade updates' insert trigger) and delivered
//! when it commits; SQLite has no such channel (its job workers poll, and its trade updates are
//! announced in-process). A notification can be lost (a dropped connection, PgBouncer in
//! transaction mode, which does not carry `LISTEN`), so listeners hear when that may have
//! happened and look again.

use std::time::Duration;

use sqlx::postgres::PgListener;

use super::Pool;
use crate::error::StoreError;

/// The channel enqueues notify; the payload is the job's queue.
pub(crate) const JOBS: &str = "raptor_jobs";

/// The channel order changes notify; the payload is the account's id.
pub(crate) const TRADE_UPDATES: &str = "raptor_trade_updates";

/// How long to wait before listening again after the connection failed.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

/// What a listener heard.
pub(crate) enum Heard {
    /// A notification with this payload.
    Payload(String),
    /// The connection was lost and re-established: notifications may have been missed.
    MaybeMissed,
}

/// Notifications on one channel.
pub(crate) enum Listener {
    /// PostgreSQL: a dedicated connection from the pool, listening on the channel.
    Postgres(Box<PgListener>),
    /// SQLite: never hears anything.
    None,
}

impl Listener {
    /// Starts listening on `channel` (PostgreSQL) or returns the listener that never hears
    /// anything (SQLite).
    pub(crate) async fn open(pool: &Pool, channel: &str) -> Result<Self, StoreError> {
        match pool {
            Pool::Sqlite(_) => Ok(Self::None),
            Pool::Postgres(pool) => {
                let mut listener = PgListener::connect_with(pool).await?;
                listener.listen(channel).await?;
                Ok(Self::Postgres(Box::new(listener)))
            }
        }
    }

    /// The next notification, or word that some may have been missed. Never resolves on
    /// SQLite, nor once the pool is closed.
    pub(crate) async fn recv(&mut self) -> Heard {
        let Self::Postgres(listener) = self else {
            return std::future::pending().await;
        };
        match listener.try_recv().await {
            Ok(Some(note)) => Heard::Payload(note.payload().to_owned()),
            // Reconnected: whatever was announced meanwhile is gone.
            Ok(None) => Heard::MaybeMissed,
            // Shutting down: there is nothing left to listen to.
            Err(sqlx::Error::PoolClosed) => std::future::pending().await,
            Err(err) => {
                tracing::warn!(%err, "listening for notifications failed; trying again");
                tokio::time::sleep(RELISTEN_AFTER).await;
                Heard::MaybeMissed
            }
        }
    }
}
