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
    /// When the user first proved they receive mail at `email` (None: never).
    pub email_verified_at: Option<DateTime<Utc>>,
}

impl User {
    /// Whether the user may sign in.
    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }

    /// Whether the user proved they own their address.
    pub fn email_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }
}

const COLUMNS: &str = "id, email, display_name, user_handle, status, created_at, email_verified_at";

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

/// Records that the user proved they own their address, unless they had already; whether this
/// was the first proof.
pub async fn verify_email(
    tx: &mut Tx,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let changed = on_tx!(tx, t => {
        sqlx::query(
            "UPDATE users SET email_verified_at = $1, updated_at = $1 \
             WHERE id = $2 AND email_verified_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&mut **t)
        .await?
        .rows_affected()
    });
    Ok(changed == 1)
}

/// Holds the user's row until `tx` ends, so changes to who may sign in as them (a claim by
/// email link, a passkey or backup-code change) happen one after another, never interleaved.
pub async fn lock(tx: &mut Tx, user_id: i64) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
            .bind(user_id)
            .execute(&mut **t)
            .await?;
    });
    Ok(())
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

/// A role grant to store: who gets it, from whom, until when and why.
#[derive(Debug, Clone)]
pub struct NewGrant<'a> {
    /// Who receives the role.
    pub user_id: i64,
    /// The role.
    pub role: Role,
    /// The staff member granting it; `None` for an operator or the system.
    pub granted_by: Option<i64>,
    /// When the grant stops counting; `None` for never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Why it was granted.
    pub reason: Option<&'a str>,
}

/// A grant the user holds, live or expired.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Grant {
    /// The role's name.
    pub role: String,
    /// When it was granted (or last renewed).
    pub granted_at: DateTime<Utc>,
    /// Who granted it, when a user did.
    pub granted_by_user_id: Option<i64>,
    /// When it stops counting.
    pub expires_at: Option<DateTime<Utc>>,
    /// Why.
    pub reason: Option<String>,
}

/// Grants a role, or renews an existing grant with the new end and reason. The role's row
/// comes from the migrations (`0007_permissions` seeds every [`Role`]).
pub async fn grant_role(
    tx: &mut Tx,
    grant: &NewGrant<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query(
            "INSERT INTO user_roles (user_id, role_id, granted_at, granted_by_user_id, \
             expires_at, reason) SELECT $1, id, $2, $3, $4, $5 FROM roles WHERE name = $6 \
             ON CONFLICT (user_id, role_id) DO UPDATE SET granted_at = excluded.granted_at, \
             granted_by_user_id = excluded.granted_by_user_id, \
             expires_at = excluded.expires_at, reason = excluded.reason",
        )
        .bind(grant.user_id)
        .bind(now)
        .bind(grant.granted_by)
        .bind(grant.expires_at)
        .bind(grant.reason)
        .bind(grant.role.as_str())
        .execute(&mut **t)
        .await?;
    });
    Ok(())
}

/// The user's grant of `role`, live or expired, read inside the transaction that changes it.
pub async fn grant_of(tx: &mut Tx, user_id: i64, role: Role) -> Result<Option<Grant>, StoreError> {
    Ok(on_tx!(tx, t => {
        sqlx::query_as(
            "SELECT r.name AS role, ur.granted_at, ur.granted_by_user_id, ur.expires_at, \
             ur.reason FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
             WHERE ur.user_id = $1 AND r.name = $2",
        )
        .bind(user_id)
        .bind(role.as_str())
        .fetch_optional(&mut **t)
        .await?
    }))
}

/// Revokes a role; returns false when the user had no grant of it (live or expired).
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

/// The roles a user holds at `now` (expired grants do not count), lowest first.
pub async fn roles(db: &Db, user_id: i64, now: DateTime<Utc>) -> Result<Vec<Role>, StoreError> {
    let names: Vec<String> = on_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
             WHERE ur.user_id = $1 AND (ur.expires_at IS NULL OR ur.expires_at > $2)",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(pool)
        .await?
    });
    let mut roles: Vec<Role> = names.iter().filter_map(|n| n.parse().ok()).collect();
    roles.sort();
    Ok(roles)
}

/// The names of the permissions a user holds at `now` through their live grants, sorted.
pub async fn permissions(
    db: &Db,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT DISTINCT rp.permission FROM user_roles ur \
             JOIN role_permissions rp ON rp.role_id = ur.role_id \
             WHERE ur.user_id = $1 AND (ur.expires_at IS NULL OR ur.expires_at > $2) \
             ORDER BY rp.permission",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(pool)
        .await?
    }))
}

/// The names of the permissions `role` carries, sorted.
pub async fn role_permissions(db: &Db, role: Role) -> Result<Vec<String>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT rp.permission FROM role_permissions rp JOIN roles r ON r.id = rp.role_id \
             WHERE r.name = $1 ORDER BY rp.permission",
        )
        .bind(role.as_str())
        .fetch_all(pool)
        .await?
    }))
}

/// One row of the role table: a role and one permission it carries (`None` for a role that
/// carries none).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RolePermission {
    /// The role's name.
    pub role: String,
    /// The role's description.
    pub description: Option<String>,
    /// A permission it carries.
    pub permission: Option<String>,
}

/// Every role with each permission it carries, by role name then permission.
pub async fn role_table(db: &Db) -> Result<Vec<RolePermission>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as(
            "SELECT r.name AS role, r.description, rp.permission FROM roles r \
             LEFT JOIN role_permissions rp ON rp.role_id = r.id \
             ORDER BY r.id, rp.permission NULLS FIRST",
        )
        .fetch_all(pool)
        .await?
    }))
}

/// The permission catalogue as stored: `(name, description)`, by name.
pub async fn permission_catalogue(db: &Db) -> Result<Vec<(String, String)>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as("SELECT name, description FROM permissions ORDER BY name")
            .fetch_all(pool)
            .await?
    }))
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
