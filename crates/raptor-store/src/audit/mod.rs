//! The audit log: one append-only writer for every security-relevant event, each row linked
//! to the one before it by a hash chain ([`chain`]) that [`verify`] checks.

mod chain;
mod verify;

pub use chain::{canonical_json, chain_time, ChainRow, GENESIS};
pub use verify::{verify, Break, Verification};

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

/// A stored audit entry, every column.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEntry {
    /// Row id.
    pub id: i64,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Who.
    pub actor_user_id: Option<i64>,
    /// The actor's email at the time.
    pub actor_email: Option<String>,
    /// `user`, `admin`, `operator` or `system`.
    pub actor_type: String,
    /// What.
    pub action: String,
    /// The kind of object acted on.
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// How it ended.
    pub outcome: String,
    /// From where.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// The session the action came through.
    pub session_id: Option<i64>,
    /// Extra details.
    pub details: Option<Json<Value>>,
    /// The HTTP request behind it.
    pub request_id: Option<String>,
    /// The hash of the row before it in the chain (NULL before the chain began).
    pub prev_hash: Option<String>,
    /// This row's hash (NULL before the chain began).
    pub row_hash: Option<String>,
}

const COLUMNS: &str = "id, created_at, actor_user_id, actor_email, actor_type, action, \
    target_type, target_id, outcome, ip, user_agent, session_id, details, request_id, \
    prev_hash, row_hash";

const INSERT: &str = "INSERT INTO audit_log (id, created_at, actor_user_id, actor_email, \
    actor_type, action, target_type, target_id, outcome, ip, user_agent, session_id, details, \
    request_id, prev_hash, row_hash) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

/// Records an event inside a transaction, so it commits or rolls back with what it describes.
///
/// The row joins the hash chain: under the chain lock (held until the transaction ends, so
/// record last, just before commit) it reads the last row, takes the next id and links to
/// that row's hash. `now` is kept to the microsecond.
pub async fn record(tx: &mut Tx, event: &AuditEvent, now: DateTime<Utc>) -> Result<(), StoreError> {
    let lock = tx.dialect().audit_chain_lock();
    let tail: Option<(i64, Option<String>)> = on_tx!(tx, t => {
        if let Some(lock) = lock {
            sqlx::query(lock).execute(&mut **t).await?;
        }
        sqlx::query_as("SELECT id, row_hash FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut **t)
            .await?
    });
    let (id, prev_hash) = match tail {
        Some((id, Some(hash))) => (id + 1, hash),
        // An empty log, or rows from before the chain: this row starts it.
        Some((id, None)) => (id + 1, GENESIS.to_owned()),
        None => (1, GENESIS.to_owned()),
    };
    let row = ChainRow {
        id,
        created_at: chain_time(now),
        actor_user_id: event.actor_user_id,
        actor_email: event.actor_email.clone(),
        actor_type: event.actor_type.to_owned(),
        action: event.action.to_owned(),
        target_type: event.target_type.map(str::to_owned),
        target_id: event.target_id.clone(),
        target: None,
        outcome: event.outcome.to_owned(),
        ip: event.ip.clone(),
        user_agent: event.user_agent.clone(),
        request_id: event.request_id.clone(),
        session_id: event.session_id,
        details: event.details.clone(),
    };
    let row_hash = row.hash(&prev_hash);
    on_tx!(tx, t => {
        sqlx::query(INSERT)
            .bind(row.id)
            .bind(row.created_at)
            .bind(row.actor_user_id)
            .bind(row.actor_email.as_deref())
            .bind(row.actor_type.as_str())
            .bind(row.action.as_str())
            .bind(row.target_type.as_deref())
            .bind(row.target_id.as_deref())
            .bind(row.outcome.as_str())
            .bind(row.ip.as_deref())
            .bind(row.user_agent.as_deref())
            .bind(row.session_id)
            .bind(row.details.as_ref().map(Json))
            .bind(row.request_id.as_deref())
            .bind(prev_hash.as_str())
            .bind(row_hash.as_str())
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
    let filter = AuditFilter {
        action: action.map(str::to_owned),
        ..AuditFilter::default()
    };
    search(db, &filter, Order::NewestFirst, limit).await
}

/// Which entries to read; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// Acted by this user id.
    pub actor_user_id: Option<i64>,
    /// Acted by this email (as recorded at the time, compared case-insensitively).
    pub actor_email: Option<String>,
    /// This action exactly.
    pub action: Option<String>,
    /// Done to this kind of object.
    pub target_type: Option<String>,
    /// Done to the object with this id.
    pub target_id: Option<String>,
    /// At or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Before this time.
    pub to: Option<DateTime<Utc>>,
    /// With an id below this one (the next page of a newest-first listing).
    pub before_id: Option<i64>,
    /// With an id above this one (the next page of an oldest-first export).
    pub after_id: Option<i64>,
}

/// The order entries come back in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Highest id first (a listing).
    NewestFirst,
    /// Lowest id first (an export, in chain order).
    OldestFirst,
}

/// Up to `limit` entries matching `filter`, in `order`.
pub async fn search(
    db: &Db,
    filter: &AuditFilter,
    order: Order,
    limit: i64,
) -> Result<Vec<AuditEntry>, StoreError> {
    let direction = match order {
        Order::NewestFirst => "DESC",
        Order::OldestFirst => "ASC",
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log \
         WHERE ($1 IS NULL OR actor_user_id = $1) \
           AND ($2 IS NULL OR lower(actor_email) = lower($2)) \
           AND ($3 IS NULL OR action = $3) \
           AND ($4 IS NULL OR target_type = $4) \
           AND ($5 IS NULL OR target_id = $5) \
           AND ($6 IS NULL OR created_at >= $6) \
           AND ($7 IS NULL OR created_at < $7) \
           AND ($8 IS NULL OR id < $8) \
           AND ($9 IS NULL OR id > $9) \
         ORDER BY id {direction} LIMIT $10"
    );
    let rows = on_pool!(db, pool => {
        sqlx::query_as(&sql)
            .bind(filter.actor_user_id)
            .bind(filter.actor_email.as_deref())
            .bind(filter.action.as_deref())
            .bind(filter.target_type.as_deref())
            .bind(filter.target_id.as_deref())
            .bind(filter.from)
            .bind(filter.to)
            .bind(filter.before_id)
            .bind(filter.after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
    });
    Ok(rows)
}
