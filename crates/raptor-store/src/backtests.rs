//! Backtest runs and their trades.

use chrono::{DateTime, Utc};
use raptor_domain::orders::Side;
use raptor_domain::timeframe::Timeframe;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::types::Json;

use crate::decimal::DbDecimal;
use crate::engine::Db;
use crate::error::StoreError;
use crate::queued_runs::{self, Queued};
use crate::tx::Tx;

/// A finished run to store.
#[derive(Debug, Clone)]
pub struct NewBacktest<'a> {
    /// Who ran it.
    pub user_id: i64,
    /// The strategy's wire name (`sma_crossover`, …).
    pub strategy: &'a str,
    /// Strategy parameters.
    pub params: &'a Value,
    /// The execution model.
    pub execution: &'a Value,
    /// The symbol it is compared with, when one was named.
    pub benchmark: Option<&'a str>,
    /// Ticker.
    pub symbol: &'a str,
    /// Timeframe.
    pub timeframe: Timeframe,
    /// First bar considered.
    pub period_start: DateTime<Utc>,
    /// End of the range.
    pub period_end: DateTime<Utc>,
    /// Starting cash.
    pub initial_cash: Decimal,
    /// `queued` (a worker runs it) or `succeeded`.
    pub status: &'a str,
    /// Results.
    pub metrics: Option<&'a Value>,
    /// Why it failed.
    pub error: Option<&'a str>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// One executed trade leg.
#[derive(Debug, Clone)]
pub struct NewTrade {
    /// `buy` or `sell`.
    pub side: Side,
    /// Quantity.
    pub qty: Decimal,
    /// Price.
    pub price: Decimal,
    /// When.
    pub executed_at: DateTime<Utc>,
    /// Realised P&L of a closing leg.
    pub realized_pl: Option<Decimal>,
}

/// Stores a run with its trades; returns its id.
pub async fn insert(
    tx: &mut Tx,
    b: &NewBacktest<'_>,
    trades: &[NewTrade],
) -> Result<i64, StoreError> {
    let id = on_tx!(tx, t => {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO backtests (user_id, strategy, params, symbol, timeframe, period_start, \
             period_end, initial_cash, status, metrics, error, created_at, started_at, finished_at, \
             execution, benchmark) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             RETURNING id",
        )
        .bind(b.user_id)
        .bind(b.strategy)
        .bind(Json(b.params))
        .bind(b.symbol)
        .bind(b.timeframe.as_str())
        .bind(b.period_start)
        .bind(b.period_end)
        .bind(DbDecimal(b.initial_cash))
        .bind(b.status)
        .bind(b.metrics.map(Json))
        .bind(b.error)
        .bind(b.created_at)
        .bind(b.started_at)
        .bind(b.finished_at)
        .bind(Json(b.execution))
        .bind(b.benchmark)
        .fetch_one(&mut **t)
        .await?;
        id
    });
    insert_trades(tx, id, b.symbol, trades).await?;
    Ok(id)
}

/// Stores the trade legs of run `id`.
async fn insert_trades(
    tx: &mut Tx,
    id: i64,
    symbol: &str,
    trades: &[NewTrade],
) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        for trade in trades {
            sqlx::query(
                "INSERT INTO backtest_trades (backtest_id, symbol, side, qty, price, executed_at, realized_pl) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(symbol)
            .bind(trade.side.as_str())
            .bind(DbDecimal(trade.qty))
            .bind(DbDecimal(trade.price))
            .bind(trade.executed_at)
            .bind(trade.realized_pl.map(DbDecimal))
            .execute(&mut **t)
            .await?;
        }
    });
    Ok(())
}

/// Records the job that runs queued run `id`.
pub async fn set_job(tx: &mut Tx, id: i64, job_id: i64) -> Result<(), StoreError> {
    queued_runs::set_job(tx, Queued::Runs, id, job_id).await
}

/// How many of a user's runs are queued or running, counted in the transaction that queues
/// the next: two at once take turns, so neither passes a limit the other has reached.
pub async fn active(tx: &mut Tx, user_id: i64) -> Result<i64, StoreError> {
    queued_runs::active(tx, Queued::Runs, user_id).await
}

/// Ends as failed every queued or running run whose job failed or was canceled without
/// finishing it (attempts spent, timed out, canceled by an operator); returns how many.
pub async fn fail_abandoned(db: &Db, now: DateTime<Utc>) -> Result<u64, StoreError> {
    queued_runs::fail_abandoned(db, Queued::Runs, now).await
}

/// A worker begins queued run `id` (again, after a worker died): false when it has ended.
pub async fn start(db: &Db, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let changed = on_tx!(tx, t => {
        sqlx::query(
            "UPDATE backtests SET status = 'running', started_at = $2 \
             WHERE id = $1 AND status IN ('queued', 'running')",
        )
        .bind(id)
        .bind(now)
        .execute(&mut **t)
        .await?
        .rows_affected()
    });
    tx.commit().await?;
    Ok(changed > 0)
}

/// Ends running run `id` as succeeded with its metrics and trades.
pub async fn succeed(
    tx: &mut Tx,
    id: i64,
    symbol: &str,
    metrics: &Value,
    trades: &[NewTrade],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let changed = on_tx!(tx, t => {
        sqlx::query(
            "UPDATE backtests SET status = 'succeeded', metrics = $2, finished_at = $3 \
             WHERE id = $1 AND status = 'running'",
        )
        .bind(id)
        .bind(Json(metrics))
        .bind(now)
        .execute(&mut **t)
        .await?
        .rows_affected()
    });
    if changed == 0 {
        return Ok(false);
    }
    insert_trades(tx, id, symbol, trades).await?;
    Ok(true)
}

/// Ends queued or running run `id` as failed, saying why.
pub async fn fail(db: &Db, id: i64, error: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    on_tx!(tx, t => {
        sqlx::query(
            "UPDATE backtests SET status = 'failed', error = $2, finished_at = $3 \
             WHERE id = $1 AND status IN ('queued', 'running')",
        )
        .bind(id)
        .bind(error)
        .bind(now)
        .execute(&mut **t)
        .await?;
    });
    tx.commit().await?;
    Ok(())
}

/// A stored run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Backtest {
    /// Row id.
    pub id: i64,
    /// Who ran it.
    pub user_id: i64,
    /// Strategy.
    pub strategy: String,
    /// Parameters.
    pub params: Json<Value>,
    /// The execution model (recorded for every run).
    pub execution: Option<Json<Value>>,
    /// The symbol it is compared with, when one was named.
    pub benchmark: Option<String>,
    /// Ticker.
    pub symbol: String,
    /// Timeframe.
    #[sqlx(try_from = "String")]
    pub timeframe: Timeframe,
    /// Range start.
    pub period_start: DateTime<Utc>,
    /// Range end.
    pub period_end: DateTime<Utc>,
    /// Starting cash.
    pub initial_cash: DbDecimal,
    /// Status.
    pub status: String,
    /// Results.
    pub metrics: Option<Json<Value>>,
    /// Failure.
    pub error: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, user_id, strategy, params, execution, benchmark, symbol, timeframe, period_start, period_end, \
    initial_cash, status, metrics, error, created_at";

/// A user's runs, newest first.
pub async fn of_user(db: &Db, user_id: i64, limit: i64) -> Result<Vec<Backtest>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM backtests WHERE user_id = $1 ORDER BY id DESC LIMIT $2");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(user_id).bind(limit).fetch_all(pool).await?))
}

/// One of a user's runs.
pub async fn get(db: &Db, user_id: i64, id: i64) -> Result<Option<Backtest>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM backtests WHERE user_id = $1 AND id = $2");
    Ok(
        on_pool!(db, pool => sqlx::query_as(&sql).bind(user_id).bind(id).fetch_optional(pool).await?),
    )
}

/// A run, whoever asked for it (for the worker that runs it).
pub async fn load(db: &Db, id: i64) -> Result<Option<Backtest>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM backtests WHERE id = $1");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?))
}

/// How many trade legs a run stored.
pub async fn trade_count(db: &Db, id: i64) -> Result<i64, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar("SELECT count(*) FROM backtest_trades WHERE backtest_id = $1").bind(id).fetch_one(pool).await?
    }))
}
