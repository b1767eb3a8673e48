//! Write transactions that span several repository calls.

use crate::dialect::{Dialect, TxInner};
use crate::engine::Db;
use crate::error::StoreError;
use crate::trade_updates::{self, Recorded};

/// An open write transaction; dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    pub(crate) inner: TxInner,
    /// Trade updates recorded by the transaction, written as it commits
    /// ([`crate::trade_updates`]).
    pub(crate) trade_updates: Vec<Recorded>,
    announce_to: tokio::sync::broadcast::Sender<i64>,
    /// On SQLite, this process's turn to write; declared after `inner`, so that a dropped
    /// transaction queues its rollback before the turn passes on. [`Tx::rollback`] waits for it.
    _turn: Option<crate::write_turns::Turn>,
}

impl Db {
    /// Begins a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so two writers queue instead of failing with "database is locked".
    /// The wait (for a connection, and on SQLite for the turn and the write lock) is recorded for
    /// metrics ([`Db::begin_waits`]).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let started = std::time::Instant::now();
        let begun = async {
            let turn = self.write_turn().await?;
            Ok::<_, StoreError>(self.write_pool().begin_write(turn).await?)
        }
        .await;
        self.begin_waits.record(started.elapsed());
        let (inner, turn) = begun?;
        Ok(Tx {
            inner,
            trade_updates: Vec::new(),
            announce_to: self.changed_accounts.clone(),
            _turn: turn,
        })
    }
}

impl Tx {
    /// The dialect of the transaction's database.
    pub fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }

    /// Undoes every write of the transaction, and waits until the database has: on SQLite, the
    /// next writer then finds the lock free. Dropping a transaction rolls it back too, without
    /// waiting.
    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.inner.rollback().await?)
    }

    /// Writes the trade updates the transaction recorded and makes every write visible at once.
    /// The accounts whose orders changed are announced: on PostgreSQL by the trade updates'
    /// insert trigger (its `NOTIFY` delivered to every process by the commit), on SQLite in this
    /// process once committed.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        let recorded = std::mem::take(&mut self.trade_updates);
        if !recorded.is_empty() {
            trade_updates::write_recorded(&mut self, &recorded).await?;
        }
        let announce_here = self.dialect() == Dialect::Sqlite;
        self.inner.commit().await?;
        if announce_here {
            let mut accounts: Vec<i64> = recorded.iter().map(Recorded::account_id).collect();
            accounts.sort_unstable();
            accounts.dedup();
            for account in accounts {
                // Nobody listening is fine: there is no stream to wake.
                let _ = self.announce_to.send(account);
            }
        }
        Ok(())
    }
}
