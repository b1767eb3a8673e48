//! Write transactions that span several repository calls.

use crate::dialect::{wakeups, Dialect, TxInner};
use crate::engine::Db;
use crate::error::StoreError;

/// An open write transaction; dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    pub(crate) inner: TxInner,
    /// Accounts whose orders this transaction changed, announced once each as it commits
    /// ([`crate::trade_updates`]), and where SQLite announces them.
    pub(crate) changed_accounts: Vec<i64>,
    announce_to: tokio::sync::broadcast::Sender<i64>,
    /// On SQLite, this process's turn to write; declared after `inner`, so that a dropped
    /// transaction queues its rollback before the turn passes on. [`Tx::rollback`] waits for it.
    _turn: Option<crate::write_turns::Turn>,
}

impl Db {
    /// Begins a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so two writers queue instead of failing with "database is locked".
    /// The wait (for a pooled connection, and on SQLite for the write lock) is recorded for
    /// metrics ([`Db::begin_waits`]).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let started = std::time::Instant::now();
        let begun = async {
            let turn = self.write_turn().await?;
            Ok::<_, StoreError>(self.pool.begin_write(turn).await?)
        }
        .await;
        self.begin_waits.record(started.elapsed());
        let (inner, turn) = begun?;
        Ok(Tx {
            inner,
            changed_accounts: Vec::new(),
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

    /// Makes every write of the transaction visible at once, and announces the accounts
    /// whose orders it changed: on PostgreSQL with one `NOTIFY` each, which the commit
    /// delivers to every process; on SQLite in this process once committed.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        let notify = self.dialect().notify();
        if let Some(notify) = notify {
            for account in &self.changed_accounts {
                let payload = account.to_string();
                on_tx!(self, t => {
                    sqlx::query(notify)
                        .bind(wakeups::TRADE_UPDATES)
                        .bind(payload)
                        .execute(&mut **t)
                        .await?;
                });
            }
        }
        self.inner.commit().await?;
        if notify.is_none() {
            for account in self.changed_accounts {
                // Nobody listening is fine: there is no stream to wake.
                let _ = self.announce_to.send(account);
            }
        }
        Ok(())
    }
}
