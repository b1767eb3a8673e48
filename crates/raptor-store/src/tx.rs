//! Write transactions that span several repository calls.

use sqlx::{Postgres, Sqlite, Transaction};

use crate::engine::{Db, Pool};
use crate::error::StoreError;

/// An open write transaction; dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    pub(crate) inner: TxInner,
}

pub(crate) enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs one body against whichever transaction a [`Tx`] holds (see `on_pool!`).
macro_rules! on_tx {
    ($tx:expr, $t:ident => $body:expr) => {
        match &mut $tx.inner {
            $crate::tx::TxInner::Sqlite($t) => $body,
            $crate::tx::TxInner::Postgres($t) => $body,
        }
    };
}

impl Db {
    /// Begins a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so two writers queue instead of failing with "database is locked".
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let inner = match &self.pool {
            Pool::Sqlite(pool) => TxInner::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(pool) => TxInner::Postgres(pool.begin().await?),
        };
        Ok(Tx { inner })
    }
}

impl Tx {
    /// The dialect of the transaction's database.
    pub fn dialect(&self) -> crate::url::Dialect {
        match self.inner {
            TxInner::Sqlite(_) => crate::url::Dialect::Sqlite,
            TxInner::Postgres(_) => crate::url::Dialect::Postgres,
        }
    }

    /// Makes every write of the transaction visible at once.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(tx) => tx.commit().await?,
            TxInner::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}
