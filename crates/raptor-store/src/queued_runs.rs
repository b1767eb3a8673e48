//! What the two kinds of queued backtest work (single runs and sweeps) share: the job that runs
//! a row, how many a user has waiting or running, and ending those whose job ended without them.

use chrono::{DateTime, Utc};

use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// A table of queued work.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Queued {
    /// `backtests`: long single runs.
    Runs,
    /// `backtest_sweeps`.
    Sweeps,
}

impl Queued {
    fn table(self) -> &'static str {
        match self {
            Queued::Runs => "backtests",
            Queued::Sweeps => "backtest_sweeps",
        }
    }
}

/// Records the job that runs row `id`.
pub(crate) async fn set_job(
    tx: &mut Tx,
    queued: Queued,
    id: i64,
    job_id: i64,
) -> Result<(), StoreError> {
    let sql = format!("UPDATE {} SET job_id = $2 WHERE id = $1", queued.table());
    on_tx!(tx, t => {
        sqlx::query(&sql).bind(id).bind(job_id).execute(&mut **t).await?;
    });
    Ok(())
}

/// How many of a user's rows are queued or running.
pub(crate) async fn active(tx: &mut Tx, queued: Queued, user_id: i64) -> Result<i64, StoreError> {
    if tx.dialect().locks_rows() {
        // Two queuers of one user take turns, and the second counts the first's row. On
        // SQLite `BEGIN IMMEDIATE` has already made this the only writer.
        on_tx!(tx, t => {
            sqlx::query("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE")
                .bind(user_id)
                .fetch_optional(&mut **t)
                .await?;
        });
    }
    let sql = format!(
        "SELECT count(*) FROM {} WHERE user_id = $1 AND status IN ('queued', 'running')",
        queued.table()
    );
    Ok(on_tx!(tx, t => {
        sqlx::query_scalar(&sql).bind(user_id).fetch_one(&mut **t).await?
    }))
}

/// Ends as failed every queued or running row whose job failed or was canceled without
/// finishing it (attempts spent, timed out, canceled by an operator); returns how many.
pub(crate) async fn fail_abandoned(
    db: &Db,
    queued: Queued,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let sql = format!(
        "UPDATE {} SET status = 'failed', finished_at = $1, \
         error = 'its job ended without finishing it' \
         WHERE status IN ('queued', 'running') AND job_id IN \
         (SELECT id FROM job_queue WHERE status IN ('failed', 'canceled'))",
        queued.table()
    );
    let mut tx = db.begin().await?;
    let ended = on_tx!(tx, t => {
        sqlx::query(&sql).bind(now).execute(&mut **t).await?.rows_affected()
    });
    tx.commit().await?;
    Ok(ended)
}
