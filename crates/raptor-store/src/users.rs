//! Users, their roles, and the paper account every user gets.

use chrono::{DateTime, Utc};
use raptor_domain::{Role, UserStatus};
use rust_decimal::Decimal;

use crate::decimal::DbDecimal;
use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Lower-cased email.
    pub email: String,
    /// Shown name.
    pub display_name: String,
    /// The random WebAuthn user handle (16 bytes), never the row id.
    pub user_handle: Vec<u8>,
    /// Whether they may sign in.
    #[sqlx(try_from = "String")]
    pub status: UserStatus,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl User {
    /// Whether the user may sign in.
    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }
}

const COLUMNS: &str = "id, email, display_name, user_handle, status, created_at";

/// Creates a user. A taken email is a unique violation ([`StoreError::is_unique_violation`]).
pub async fn create(
    tx: &mut Tx,
    email: &str,
    display_name: &str,
    user_handle: &[u8],
    now: DateTime<Utc>,
) -> Result<User, StoreError> {
    let sql = format!(
        "INSERT INTO users (email, display_name, user_handle, status, email_undeliverable, \
         created_at, updated_at) VALUES ($1, $2, $3, 'active', FALSE, $4, $4) RETURNING {COLUMNS}"
    );
    let user = on_tx!(tx, t => {
        sqlx::query_as(&sql)
            .bind(email)
            .bind(display_name)
            .bind(user_handle)
            .bind(now)
            .fetch_one(&mut **t)
            .await?
    });
    Ok(user)
}

/// Finds a user by (normalised) email.
pub async fn by_email(db: &Db, email: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(email).fetch_optional(pool).await?))
}

/// Finds a user by id.
pub async fn by_id(db: &Db, id: i64) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?))
}

/// Finds a user by WebAuthn user handle.
pub async fn by_handle(db: &Db, handle: &[u8]) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE user_handle = $1");
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).bind(handle).fetch_optional(pool).await?))
}

/// Records a successful sign-in.
pub async fn touch_login(tx: &mut Tx, user_id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
            .bind(now)
            .bind(user_id)
            .execute(&mut **t)
            .await?;
    });
    Ok(())
}

/// Opens the user's paper trading account with `cash` in `currency`.
pub async fn open_paper_account(
    tx: &mut Tx,
    user_id: i64,
    cash: Decimal,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let id = on_tx!(tx, t => {
        sqlx::query_scalar(
            "INSERT INTO paper_accounts (user_id, currency, cash, starting_cash, created_at, \
             updated_at) VALUES ($1, $2, $3, $3, $4, $4) RETURNING id",
        )
        .bind(user_id)
        .bind(currency)
        .bind(DbDecimal(cash))
        .bind(now)
        .fetch_one(&mut **t)
        .await?
    });
    Ok(id)
}

/// The cash of a user's paper account, if they have one.
pub async fn paper_cash(db: &Db, user_id: i64) -> Result<Option<Decimal>, StoreError> {
    let cash: Option<DbDecimal> = on_pool!(db, pool => {
        sqlx::query_scalar("SELECT cash FROM paper_accounts WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(pool)
            .await?
    });
    Ok(cash.map(|c| c.0))
}

/// Grants a role; returns false when the user already held it.
pub async fn grant_role(
    tx: &mut Tx,
    user_id: i64,
    role: Role,
    granted_by: Option<i64>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let granted = on_tx!(tx, t => {
        // Roles are rows so that grants can reference them; create each on first use.
        sqlx::query(
            "INSERT INTO roles (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(role.as_str())
        .bind(now)
        .execute(&mut **t)
        .await?;
        sqlx::query(
            "INSERT INTO user_roles (user_id, role_id, granted_at, granted_by_user_id) \
             SELECT $1, id, $2, $3 FROM roles WHERE name = $4 \
             ON CONFLICT (user_id, role_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(now)
        .bind(granted_by)
        .bind(role.as_str())
        .execute(&mut **t)
        .await?
        .rows_affected()
    });
    Ok(granted == 1)
}

/// Revokes a role; returns false when the user did not hold it.
pub async fn revoke_role(tx: &mut Tx, user_id: i64, role: Role) -> Result<bool, StoreError> {
    let revoked = on_tx!(tx, t => {
        sqlx::query(
            "DELETE FROM user_roles WHERE user_id = $1 \
             AND role_id = (SELECT id FROM roles WHERE name = $2)",
        )
        .bind(user_id)
        .bind(role.as_str())
        .execute(&mut **t)
        .await?
        .rows_affected()
    });
    Ok(revoked == 1)
}

/// The roles a user holds, lowest first.
pub async fn roles(db: &Db, user_id: i64) -> Result<Vec<Role>, StoreError> {
    let names: Vec<String> = on_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
             WHERE ur.user_id = $1",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?
    });
    let mut roles: Vec<Role> = names.iter().filter_map(|n| n.parse().ok()).collect();
    roles.sort();
    Ok(roles)
}

/// How many users hold a role (e.g. whether any admin exists yet).
pub async fn count_with_role(db: &Db, role: Role) -> Result<i64, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT count(*) FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
             WHERE r.name = $1",
        )
        .bind(role.as_str())
        .fetch_one(pool)
        .await?
    }))
}
