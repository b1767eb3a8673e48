//! The audit log: one append-only writer for every security-relevant event.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// One event: who did what to what, from where, and how it ended.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent {
    /// The acting user, when known.
    pub actor_user_id: Option<i64>,
    /// The actor's email at the time, when known.
    pub actor_email: Option<String>,
    /// `user`, `admin`, `operator` or `system`.
    pub actor_type: &'static str,
    /// What happened, e.g. `auth.login`.
    pub action: &'static str,
    /// The kind of object acted on, e.g. `user`.
    pub target_type: Option<&'static str>,
    /// Its id.
    pub target_id: Option<String>,
    /// `success` or `failure`.
    pub outcome: &'static str,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// The session the action came through.
    pub session_id: Option<i64>,
    /// Anything else worth keeping (never secrets).
    pub details: Option<Value>,
    /// The id of the HTTP request that did it (as in its `X-Request-Id` and log line).
    pub request_id: Option<String>,
}

/// A stored audit entry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEntry {
    /// Row id.
    pub id: i64,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Who.
    pub actor_user_id: Option<i64>,
    /// What.
    pub action: String,
    /// Target id.
    pub target_id: Option<String>,
    /// How it ended.
    pub outcome: String,
    /// From where.
    pub ip: Option<String>,
    /// Extra details.
    pub details: Option<Json<Value>>,
    /// The HTTP request behind it.
    pub request_id: Option<String>,
}

const INSERT: &str = "INSERT INTO audit_log (created_at, actor_user_id, actor_email, actor_type, \
    action, target_type, target_id, outcome, ip, user_agent, session_id, details, request_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// Records an event inside a transaction, so it commits or rolls back with what it describes.
pub async fn record(tx: &mut Tx, event: &AuditEvent, now: DateTime<Utc>) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query(INSERT)
            .bind(now)
            .bind(event.actor_user_id)
            .bind(event.actor_email.as_deref())
            .bind(event.actor_type)
            .bind(event.action)
            .bind(event.target_type)
            .bind(event.target_id.as_deref())
            .bind(event.outcome)
            .bind(event.ip.as_deref())
            .bind(event.user_agent.as_deref())
            .bind(event.session_id)
            .bind(event.details.as_ref().map(Json))
            .bind(event.request_id.as_deref())
            .execute(&mut **t)
            .await?;
    });
    Ok(())
}

/// Records an event on its own (a rejected attempt has nothing else to commit).
pub async fn record_alone(
    db: &Db,
    event: &AuditEvent,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    record(&mut tx, event, now).await?;
    tx.commit().await
}

/// The newest entries first, optionally for one action.
pub async fn recent(
    db: &Db,
    action: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEntry>, StoreError> {
    let rows = on_pool!(db, pool => {
        sqlx::query_as(
            "SELECT id, created_at, actor_user_id, action, target_id, outcome, ip, details, request_id \
             FROM audit_log WHERE ($1 IS NULL OR action = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(action)
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    Ok(rows)
}
