//! What providers tell us: inbound email, delivery events, status-page events. Every write
//! is keyed on the sender's own id, so a retried delivery stores one row.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// An inbound email as Postmark delivers it.
#[derive(Debug, Clone)]
pub struct InboundEmail<'a> {
    /// Postmark's `MessageID`.
    pub message_id: &'a str,
    /// Sender address, lower-cased.
    pub from_email: &'a str,
    /// Sender name.
    pub from_name: Option<&'a str>,
    /// `To` as received.
    pub to_email: &'a str,
    /// The plus-address tag.
    pub mailbox_hash: Option<&'a str>,
    /// Subject.
    pub subject: &'a str,
    /// Text body.
    pub text_body: Option<&'a str>,
    /// HTML body.
    pub html_body: Option<&'a str>,
    /// The reply without quoted history.
    pub stripped_text_reply: Option<&'a str>,
    /// `Attachments` metadata (names, types, sizes; never content).
    pub attachments: Option<&'a Value>,
    /// The whole payload, minus attachment content.
    pub raw: &'a Value,
}

/// Stores an inbound email; None when this `MessageID` was stored before.
pub async fn store_inbound(
    tx: &mut Tx,
    m: &InboundEmail<'_>,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    Ok(on_tx!(tx, t => {
        sqlx::query_scalar(
            "INSERT INTO postmark_inbound_messages (message_id, from_email, from_name, to_email, \
             mailbox_hash, subject, text_body, html_body, stripped_text_reply, received_at, \
             attachments, raw, processed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $10) \
             ON CONFLICT (message_id) DO NOTHING RETURNING id",
        )
        .bind(m.message_id)
        .bind(m.from_email)
        .bind(m.from_name)
        .bind(m.to_email)
        .bind(m.mailbox_hash)
        .bind(m.subject)
        .bind(m.text_body)
        .bind(m.html_body)
        .bind(m.stripped_text_reply)
        .bind(now)
        .bind(m.attachments.map(Json))
        .bind(Json(m.raw))
        .fetch_optional(&mut **t)
        .await?
    }))
}

/// A delivery event.
#[derive(Debug, Clone)]
pub struct DeliveryEvent<'a> {
    /// `Delivery`, `Bounce`, `SpamComplaint`, `Open`, `Click`, …
    pub record_type: &'a str,
    /// The message it is about.
    pub message_id: &'a str,
    /// A key unique to this event.
    pub event_key: &'a str,
    /// The recipient, lower-cased.
    pub recipient: &'a str,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The payload.
    pub details: &'a Value,
}

/// Stores a delivery event; false when it was stored before.
pub async fn store_delivery(
    tx: &mut Tx,
    e: &DeliveryEvent<'_>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let id: Option<i64> = on_tx!(tx, t => {
        sqlx::query_scalar(
            "INSERT INTO postmark_delivery_events (record_type, message_id, event_key, recipient, \
             occurred_at, received_at, details) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (event_key) DO NOTHING RETURNING id",
        )
        .bind(e.record_type)
        .bind(e.message_id)
        .bind(e.event_key)
        .bind(e.recipient)
        .bind(e.occurred_at)
        .bind(now)
        .bind(Json(e.details))
        .fetch_optional(&mut **t)
        .await?
    });
    Ok(id.is_some())
}

/// Marks an address undeliverable (a hard bounce or a spam complaint); returns users changed.
pub async fn mark_undeliverable(
    tx: &mut Tx,
    email: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(on_tx!(tx, t => {
        sqlx::query("UPDATE users SET email_undeliverable = TRUE, updated_at = $1 WHERE email = $2")
            .bind(now)
            .bind(email)
            .execute(&mut **t)
            .await?
            .rows_affected()
    }))
}

/// Whether mail to a user's address bounced for good.
pub async fn is_undeliverable(db: &Db, email: &str) -> Result<bool, StoreError> {
    let flag: Option<bool> = on_pool!(db, pool => {
        sqlx::query_scalar("SELECT email_undeliverable FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(pool)
            .await?
    });
    Ok(flag.unwrap_or(false))
}

/// Stores a status-page event; false when this event id was stored before.
pub async fn store_status_event(
    db: &Db,
    event_id: &str,
    kind: &str,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let id: Option<i64> = on_write!(db, pool => {
        sqlx::query_scalar(
            "INSERT INTO status_webhook_events (event_id, kind, payload, received_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING RETURNING id",
        )
        .bind(event_id)
        .bind(kind)
        .bind(Json(payload))
        .bind(now)
        .fetch_optional(pool)
        .await?
    });
    Ok(id.is_some())
}
