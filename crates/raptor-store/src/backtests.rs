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
    /// `succeeded` or `failed`.
    pub status: &'a str,
    /// Results.
    pub metrics: Option<&'a Value>,
    /// Why it failed.
    pub error: Option<&'a str>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
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
    Ok(on_tx!(tx, t => {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO backtests (user_id, strategy, params, symbol, timeframe, period_start, \
             period_end, initial_cash, status, metrics, error, created_at, started_at, finished_at, \
             execution) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14) RETURNING id",
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
        .bind(b.started_at)
        .bind(b.finished_at)
        .bind(Json(b.execution))
        .fetch_one(&mut **t)
        .await?;
        for trade in trades {
            sqlx::query(
                "INSERT INTO backtest_trades (backtest_id, symbol, side, qty, price, executed_at, realized_pl) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(b.symbol)
            .bind(trade.side.as_str())
            .bind(DbDecimal(trade.qty))
            .bind(DbDecimal(trade.price))
            .bind(trade.executed_at)
            .bind(trade.realized_pl.map(DbDecimal))
            .execute(&mut **t)
            .await?;
        }
        id
    }))
}

/// A stored run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Backtest {
    /// Row id.
    pub id: i64,
    /// Strategy.
    pub strategy: String,
    /// Parameters.
    pub params: Json<Value>,
    /// The execution model (recorded for every run).
    pub execution: Option<Json<Value>>,
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
    "id, strategy, params, execution, symbol, timeframe, period_start, period_end, \
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

/// How many trade legs a run stored.
pub async fn trade_count(db: &Db, id: i64) -> Result<i64, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar("SELECT count(*) FROM backtest_trades WHERE backtest_id = $1").bind(id).fetch_one(pool).await?
    }))
}
