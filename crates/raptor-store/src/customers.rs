//! Customers as staff see them: search, status, notes.

use chrono::{DateTime, Utc};
use raptor_domain::UserStatus;

use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// A customer in a staff listing.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Customer {
    /// User id.
    pub id: i64,
    /// Email.
    pub email: String,
    /// Name.
    pub display_name: String,
    /// Whether they may sign in.
    #[sqlx(try_from = "String")]
    pub status: UserStatus,
    /// Sign-up time.
    pub created_at: DateTime<Utc>,
    /// Last sign-in.
    pub last_login_at: Option<DateTime<Utc>>,
}

/// Customers whose email or name contains `query` (case-insensitive), by id, after `after_id`.
pub async fn search(
    db: &Db,
    query: Option<&str>,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<Customer>, StoreError> {
    let pattern = query.map(|q| {
        let escaped = q
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    Ok(on_pool!(db, pool => {
        sqlx::query_as(
            "SELECT id, email, display_name, status, created_at, last_login_at FROM users \
             WHERE ($1 IS NULL OR lower(email) LIKE $1 ESCAPE '\\' \
                    OR lower(display_name) LIKE $1 ESCAPE '\\') \
             AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(pattern)
        .bind(after_id)
        .bind(limit)
        .fetch_all(pool)
        .await?
    }))
}

/// One customer.
pub async fn get(db: &Db, id: i64) -> Result<Option<Customer>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as(
            "SELECT id, email, display_name, status, created_at, last_login_at FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?
    }))
}

/// Sets `active` or `suspended`; false when the user does not exist.
pub async fn set_status(
    tx: &mut Tx,
    id: i64,
    status: UserStatus,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let changed = on_tx!(tx, t => {
        sqlx::query("UPDATE users SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(now)
            .bind(id)
            .execute(&mut **t)
            .await?
            .rows_affected()
    });
    Ok(changed == 1)
}

/// Renames a user.
pub async fn set_display_name(
    tx: &mut Tx,
    id: i64,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query("UPDATE users SET display_name = $1, updated_at = $2 WHERE id = $3")
            .bind(name)
            .bind(now)
            .bind(id)
            .execute(&mut **t)
            .await?;
    });
    Ok(())
}

/// A staff note on a customer.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Note {
    /// Row id.
    pub id: i64,
    /// Who wrote it.
    pub author_user_id: Option<i64>,
    /// What it says.
    pub body: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Adds a note.
pub async fn add_note(
    tx: &mut Tx,
    user_id: i64,
    author: i64,
    body: &str,
    now: DateTime<Utc>,
) -> Result<Note, StoreError> {
    Ok(on_tx!(tx, t => {
        sqlx::query_as(
            "INSERT INTO admin_customer_notes (user_id, author_user_id, body, pinned, created_at, \
             updated_at) VALUES ($1, $2, $3, FALSE, $4, $4) \
             RETURNING id, author_user_id, body, created_at",
        )
        .bind(user_id)
        .bind(author)
        .bind(body)
        .bind(now)
        .fetch_one(&mut **t)
        .await?
    }))
}

/// A customer's notes, newest first.
pub async fn notes(db: &Db, user_id: i64) -> Result<Vec<Note>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as(
            "SELECT id, author_user_id, body, created_at FROM admin_customer_notes \
             WHERE user_id = $1 ORDER BY id DESC",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?
    }))
}
