//! Write transactions that span several repository calls.

use crate::dialect::{Dialect, TxInner};
use crate::engine::Db;
use crate::error::StoreError;

/// An open write transaction; dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    pub(crate) inner: TxInner,
}

impl Db {
    /// Begins a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so two writers queue instead of failing with "database is locked".
    /// The wait (for a pooled connection, and on SQLite for the write lock) is recorded for
    /// metrics ([`Db::begin_waits`]).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let started = std::time::Instant::now();
        let inner = self.pool.begin_write().await;
        self.begin_waits.record(started.elapsed());
        Ok(Tx { inner: inner? })
    }
}

impl Tx {
    /// The dialect of the transaction's database.
    pub fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }

    /// Makes every write of the transaction visible at once.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.inner.commit().await?;
        Ok(())
    }
}
