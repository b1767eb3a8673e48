//! The local mail outbox: where email goes when no provider is configured, so a fresh
//! install works without any account and nothing secret is written to the log.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::engine::Db;
use crate::error::StoreError;

/// Stores one message (`job_queue`, queue `outbox`, already delivered there).
pub async fn store(db: &Db, message: &Value, now: DateTime<Utc>) -> Result<i64, StoreError> {
    Ok(on_write!(db, pool => {
        sqlx::query_scalar(
            "INSERT INTO job_queue (queue, kind, payload, status, attempts, run_at, created_at, \
             finished_at) VALUES ('outbox', 'email', $1, 'succeeded', 1, $2, $2, $2) RETURNING id",
        )
        .bind(Json(message))
        .bind(now)
        .fetch_one(pool)
        .await?
    }))
}

/// Messages in the outbox, newest first.
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<Value>, StoreError> {
    let rows: Vec<Json<Value>> = on_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT payload FROM job_queue WHERE queue = 'outbox' ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    Ok(rows.into_iter().map(|j| j.0).collect())
}
