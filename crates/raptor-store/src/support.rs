//! Support tickets, their messages, and which sender address belongs to which customer.

use chrono::{DateTime, Utc};

use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// A ticket.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Ticket {
    /// Row id.
    pub id: i64,
    /// The customer (None: an unknown sender not yet linked).
    pub user_id: Option<i64>,
    /// Where replies go.
    pub requester_email: String,
    /// Subject line.
    pub subject: String,
    /// `open`, `pending`, `resolved` or `closed`.
    pub status: String,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
    /// The staff member on it.
    pub assignee_user_id: Option<i64>,
    /// Opened.
    pub created_at: DateTime<Utc>,
    /// Last message.
    pub last_message_at: DateTime<Utc>,
    /// Closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Opened by an email whose sender no receiving server authenticated.
    pub unverified_sender: bool,
}

/// A message on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Message {
    /// Row id.
    pub id: i64,
    /// `inbound` (customer), `outbound` (staff reply) or `internal` (staff note).
    pub direction: String,
    /// The staff member or customer who wrote it.
    pub author_user_id: Option<i64>,
    /// Sender address for inbound email.
    pub from_email: Option<String>,
    /// Text.
    pub body_text: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// For email, the verdict on its sender (`authenticated: dmarc=pass`, `unverified: …`).
    pub sender_check: Option<String>,
}

/// A message to add.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// `inbound`, `outbound` or `internal`.
    pub direction: &'static str,
    /// Writer, if a user.
    pub author_user_id: Option<i64>,
    /// Sender address, for email.
    pub from_email: Option<&'a str>,
    /// Text.
    pub body_text: &'a str,
    /// HTML, for email.
    pub body_html: Option<&'a str>,
    /// The stored inbound email it came from.
    pub inbound_message_id: Option<i64>,
    /// For email, the verdict on its sender.
    pub sender_check: Option<&'a str>,
}

const TICKET_COLUMNS: &str = "id, user_id, requester_email, subject, status, priority, \
    assignee_user_id, created_at, last_message_at, closed_at, unverified_sender";

/// A ticket to open.
#[derive(Debug, Clone, Copy)]
pub struct NewTicket<'a> {
    /// The customer (None: an unknown or unverified sender).
    pub user_id: Option<i64>,
    /// Where replies go.
    pub requester_email: &'a str,
    /// Subject line.
    pub subject: &'a str,
    /// Opened by an email whose sender no receiving server authenticated.
    pub unverified_sender: bool,
}

/// Opens a ticket.
pub async fn open(
    tx: &mut Tx,
    ticket: &NewTicket<'_>,
    now: DateTime<Utc>,
) -> Result<Ticket, StoreError> {
    let sql = format!(
        "INSERT INTO support_tickets (user_id, requester_email, subject, status, priority, \
         created_at, updated_at, last_message_at, unverified_sender) \
         VALUES ($1, $2, $3, 'open', 'normal', $4, $4, $4, $5) RETURNING {TICKET_COLUMNS}"
    );
    Ok(on_tx!(tx, t => {
        sqlx::query_as(&sql)
            .bind(ticket.user_id)
            .bind(ticket.requester_email)
            .bind(ticket.subject)
            .bind(now)
            .bind(ticket.unverified_sender)
            .fetch_one(&mut **t)
            .await?
    }))
}

/// Adds a message and moves the ticket along: a customer message (re)opens it, a staff reply
/// leaves it pending on the customer, an internal note changes nothing.
pub async fn add_message(
    tx: &mut Tx,
    ticket_id: i64,
    m: &NewMessage<'_>,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let status = match m.direction {
        "inbound" => Some("open"),
        "outbound" => Some("pending"),
        _ => None,
    };
    Ok(on_tx!(tx, t => {
        let id = sqlx::query_scalar(
            "INSERT INTO support_messages (ticket_id, direction, author_user_id, from_email, \
             body_text, body_html, inbound_message_id, created_at, sender_check) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(ticket_id)
        .bind(m.direction)
        .bind(m.author_user_id)
        .bind(m.from_email)
        .bind(m.body_text)
        .bind(m.body_html)
        .bind(m.inbound_message_id)
        .bind(now)
        .bind(m.sender_check)
        .fetch_one(&mut **t)
        .await?;
        sqlx::query(
            "UPDATE support_tickets SET last_message_at = $1, updated_at = $1, \
             status = COALESCE($2, status), closed_at = CASE WHEN $2 IS NULL THEN closed_at ELSE NULL END \
             WHERE id = $3",
        )
        .bind(now)
        .bind(status)
        .bind(ticket_id)
        .execute(&mut **t)
        .await?;
        id
    }))
}

/// One ticket.
pub async fn get(db: &Db, id: i64) -> Result<Option<Ticket>, StoreError> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM support_tickets WHERE id = $1");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?))
}

/// A customer's tickets, most recently active first.
pub async fn of_user(db: &Db, user_id: i64) -> Result<Vec<Ticket>, StoreError> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM support_tickets WHERE user_id = $1 \
         ORDER BY last_message_at DESC, id DESC"
    );
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(user_id).fetch_all(pool).await?))
}

/// Tickets for staff, optionally by status and assignee, most recently active first.
pub async fn list(
    db: &Db,
    status: Option<&str>,
    assignee: Option<i64>,
    unlinked_only: bool,
    limit: i64,
) -> Result<Vec<Ticket>, StoreError> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM support_tickets WHERE ($1 IS NULL OR status = $1) \
         AND ($2 IS NULL OR assignee_user_id = $2) AND ($3 = FALSE OR user_id IS NULL) \
         ORDER BY last_message_at DESC, id DESC LIMIT $4"
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as(&sql)
            .bind(status)
            .bind(assignee)
            .bind(unlinked_only)
            .bind(limit)
            .fetch_all(pool)
            .await?
    }))
}

/// A ticket's messages, oldest first; internal notes only when asked.
pub async fn messages(
    db: &Db,
    ticket_id: i64,
    with_internal: bool,
) -> Result<Vec<Message>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as(
            "SELECT id, direction, author_user_id, from_email, body_text, created_at, \
             sender_check FROM support_messages WHERE ticket_id = $1 AND ($2 = TRUE OR direction <> 'internal') \
             ORDER BY id",
        )
        .bind(ticket_id)
        .bind(with_internal)
        .fetch_all(pool)
        .await?
    }))
}

/// Assigns a ticket (None: unassigns).
pub async fn assign(
    tx: &mut Tx,
    id: i64,
    assignee: Option<i64>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let changed = on_tx!(tx, t => {
        sqlx::query("UPDATE support_tickets SET assignee_user_id = $1, updated_at = $2 WHERE id = $3")
            .bind(assignee)
            .bind(now)
            .bind(id)
            .execute(&mut **t)
            .await?
            .rows_affected()
    });
    Ok(changed == 1)
}

/// Closes a ticket.
pub async fn close(tx: &mut Tx, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let changed = on_tx!(tx, t => {
        sqlx::query(
            "UPDATE support_tickets SET status = 'closed', closed_at = $1, updated_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&mut **t)
        .await?
        .rows_affected()
    });
    Ok(changed == 1)
}

/// The customer a sender address belongs to: a staff-made mapping, else a user who proved they
/// own that email (an unverified account may have been opened with someone else's address).
/// Whether the sender may be taken at its word is the caller's to decide
/// (`raptor_app::support::customer_for_sender`).
pub async fn customer_for_sender(db: &Db, email: &str) -> Result<Option<i64>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT user_id FROM (SELECT user_id, 0 AS preference FROM support_customer_map \
             WHERE email = $1 UNION ALL SELECT id, 1 FROM users \
             WHERE email = $1 AND email_verified_at IS NOT NULL) AS candidates \
             ORDER BY preference LIMIT 1",
        )
        .bind(email)
        .fetch_optional(pool)
        .await?
    }))
}

/// Links ticket `ticket_id`'s sender address to a customer: maps the address, and attaches that
/// ticket and every other unlinked one from the address whose sender was not unverified (mail
/// anyone could have forged stays off the customer's tickets unless staff link it by itself).
/// Returns how many tickets were attached.
pub async fn link_sender(
    tx: &mut Tx,
    ticket_id: i64,
    email: &str,
    user_id: i64,
    mapped_by: i64,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(on_tx!(tx, t => {
        sqlx::query(
            "INSERT INTO support_customer_map (email, user_id, mapped_by_user_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (email) DO UPDATE SET user_id = excluded.user_id, \
             mapped_by_user_id = excluded.mapped_by_user_id, updated_at = excluded.updated_at",
        )
        .bind(email)
        .bind(user_id)
        .bind(mapped_by)
        .bind(now)
        .execute(&mut **t)
        .await?;
        sqlx::query(
            "UPDATE support_tickets SET user_id = $1, updated_at = $2 \
             WHERE (id = $4 OR (requester_email = $3 AND user_id IS NULL \
             AND unverified_sender = FALSE))",
        )
        .bind(user_id)
        .bind(now)
        .bind(email)
        .bind(ticket_id)
        .execute(&mut **t)
        .await?
        .rows_affected()
    }))
}

/// Stores the hash of a reply token that lets mail continue ticket `ticket_id`.
pub async fn add_reply_token(
    db: &Db,
    ticket_id: i64,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_write!(db, pool => {
        sqlx::query(
            "INSERT INTO support_reply_tokens (ticket_id, token_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(ticket_id)
        .bind(token_hash)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(())
}

/// The ticket a reply token's hash belongs to.
pub async fn ticket_for_reply_token(
    db: &Db,
    token_hash: &[u8],
) -> Result<Option<Ticket>, StoreError> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM support_tickets WHERE id = \
         (SELECT ticket_id FROM support_reply_tokens WHERE token_hash = $1)"
    );
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(token_hash).fetch_optional(pool).await?))
}
