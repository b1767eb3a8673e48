//! Server-side sessions: only a hash of the cookie's token is stored.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use raptor_domain::UserStatus;

use crate::dialect::session_reads;
use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;
use crate::users::User;

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    /// Row id.
    pub id: i64,
    /// Whose.
    pub user_id: i64,
    /// `passkey`, `backup_code`, `email_link` or `bootstrap`.
    pub auth_method: String,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// When the session last proved a passkey (sign-in or step-up); `None` when it never did.
    pub authenticated_at: Option<DateTime<Utc>>,
    /// Last request seen.
    pub last_seen_at: DateTime<Utc>,
    /// Absolute end.
    pub expires_at: DateTime<Utc>,
    /// Client address at sign-in.
    pub ip: Option<String>,
    /// Client user agent at sign-in.
    pub user_agent: Option<String>,
}

/// What a new session records.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    /// SHA-256 of the cookie token.
    pub token_hash: &'a [u8],
    /// Whose.
    pub user_id: i64,
    /// How they signed in.
    pub auth_method: &'static str,
    /// When a passkey proved it (at sign-in), if one did.
    pub authenticated_at: Option<DateTime<Utc>>,
    /// From where.
    pub ip: Option<&'a str>,
    /// With what.
    pub user_agent: Option<&'a str>,
    /// Absolute end.
    pub expires_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, user_id, auth_method, created_at, authenticated_at, last_seen_at, \
                       expires_at, ip, user_agent";

/// Opens a session.
pub async fn create(
    tx: &mut Tx,
    new: &NewSession<'_>,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let id = on_tx!(tx, t => {
        sqlx::query_scalar(
            "INSERT INTO sessions (token_hash, user_id, auth_method, created_at, last_seen_at, \
             expires_at, ip, user_agent, authenticated_at) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(new.token_hash)
        .bind(new.user_id)
        .bind(new.auth_method)
        .bind(now)
        .bind(new.expires_at)
        .bind(new.ip)
        .bind(new.user_agent)
        .bind(new.authenticated_at)
        .fetch_one(&mut **t)
        .await?
    });
    Ok(id)
}

/// What makes session `s` of user `u` live, binding the token hash as `$1`, now as `$2` and the
/// idle cutoff as `$3`.
const LIVE: &str = "s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
                    AND s.last_seen_at > $3 AND u.status = 'active'";

/// The live session for a token hash: not revoked, not expired, seen since `idle_cutoff`,
/// and belonging to an active user.
pub async fn live(
    db: &Db,
    token_hash: &[u8],
    now: DateTime<Utc>,
    idle_cutoff: DateTime<Utc>,
) -> Result<Option<Session>, StoreError> {
    let sql = format!(
        "SELECT s.{} FROM sessions s JOIN users u ON u.id = s.user_id WHERE {LIVE}",
        COLUMNS.replace(", ", ", s.")
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as(&sql)
            .bind(token_hash)
            .bind(now)
            .bind(idle_cutoff)
            .fetch_optional(pool)
            .await?
    }))
}

/// A live session with everything a request needs about its user, read in one query.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The session.
    pub session: Session,
    /// Its user (active).
    pub user: User,
    /// The names of the user's live role grants, sorted.
    pub roles: Vec<String>,
    /// The names of the permissions those grants carry, sorted.
    pub permissions: Vec<String>,
}

/// One row of [`signed_in`]: the session and user, and one (role, permission) pair.
#[derive(sqlx::FromRow)]
pub(crate) struct SignedInRow {
    #[sqlx(flatten)]
    pub(crate) session: Session,
    pub(crate) email: String,
    pub(crate) display_name: String,
    pub(crate) user_handle: Vec<u8>,
    #[sqlx(try_from = "String")]
    pub(crate) status: UserStatus,
    pub(crate) user_created_at: DateTime<Utc>,
    pub(crate) email_verified_at: Option<DateTime<Utc>>,
    pub(crate) role: Option<String>,
    pub(crate) permission: Option<String>,
}

/// [`signed_in`]'s statement.
static SIGNED_IN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT s.{}, u.email, u.display_name, u.user_handle, u.status, \
         u.created_at AS user_created_at, u.email_verified_at, r.name AS role, rp.permission \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         LEFT JOIN user_roles ur ON ur.user_id = s.user_id \
         AND (ur.expires_at IS NULL OR ur.expires_at > $2) \
         LEFT JOIN roles r ON r.id = ur.role_id \
         LEFT JOIN role_permissions rp ON rp.role_id = ur.role_id WHERE {LIVE}",
        COLUMNS.replace(", ", ", s.")
    )
});

/// The live session for a token hash ([`live`]'s rules) with its user, live roles and their
/// permissions: one query, one row per granted (role, permission) pair.
pub async fn signed_in(
    db: &Db,
    token_hash: &[u8],
    now: DateTime<Utc>,
    idle_cutoff: DateTime<Utc>,
) -> Result<Option<SignedIn>, StoreError> {
    let rows = session_reads::signed_in_rows(db, &SIGNED_IN, token_hash, now, idle_cutoff).await?;
    let names = |pick: fn(&SignedInRow) -> &Option<String>| {
        let mut names: Vec<String> = rows.iter().filter_map(|r| pick(r).clone()).collect();
        names.sort();
        names.dedup();
        names
    };
    let (roles, permissions) = (names(|r| &r.role), names(|r| &r.permission));
    let Some(first) = rows.into_iter().next() else {
        return Ok(None);
    };
    let user = User {
        id: first.session.user_id,
        email: first.email,
        display_name: first.display_name,
        user_handle: first.user_handle,
        status: first.status,
        created_at: first.user_created_at,
        email_verified_at: first.email_verified_at,
    };
    Ok(Some(SignedIn {
        session: first.session,
        user,
        roles,
        permissions,
    }))
}

/// Moves the idle clock forward.
pub async fn touch(db: &Db, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
    on_write!(db, pool => {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// A user's live sessions, newest first.
pub async fn of_user(
    db: &Db,
    user_id: i64,
    now: DateTime<Utc>,
    idle_cutoff: DateTime<Utc>,
) -> Result<Vec<Session>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL \
         AND expires_at > $2 AND last_seen_at > $3 ORDER BY id DESC"
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as(&sql)
            .bind(user_id)
            .bind(now)
            .bind(idle_cutoff)
            .fetch_all(pool)
            .await?
    }))
}

/// Revokes one of a user's sessions; false when there was no such live session.
pub async fn revoke(
    tx: &mut Tx,
    user_id: i64,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let changed = on_tx!(tx, t => {
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND user_id = $3 \
             AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(user_id)
        .execute(&mut **t)
        .await?
        .rows_affected()
    });
    Ok(changed == 1)
}

/// Whether the session is still unrevoked and unexpired, as `tx` sees it now.
pub async fn is_live(tx: &mut Tx, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let live: i64 = on_tx!(tx, t => {
        sqlx::query_scalar(
            "SELECT count(*) FROM sessions WHERE id = $1 AND revoked_at IS NULL \
             AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_one(&mut **t)
        .await?
    });
    Ok(live == 1)
}

/// Revokes every live session of a user, except `keep`; returns how many.
pub async fn revoke_all(
    tx: &mut Tx,
    user_id: i64,
    keep: Option<i64>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(on_tx!(tx, t => {
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL \
             AND ($3 IS NULL OR id <> $3)",
        )
        .bind(now)
        .bind(user_id)
        .bind(keep)
        .execute(&mut **t)
        .await?
        .rows_affected()
    }))
}

/// Revokes every other live session of a user (not revoked, not past its end, seen since
/// `idle_cutoff`), keeping `keep`; returns how many ended.
pub async fn revoke_others(
    tx: &mut Tx,
    user_id: i64,
    keep: i64,
    now: DateTime<Utc>,
    idle_cutoff: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(on_tx!(tx, t => {
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 \
             AND revoked_at IS NULL AND expires_at > $1 AND last_seen_at > $4",
        )
        .bind(now)
        .bind(user_id)
        .bind(keep)
        .bind(idle_cutoff)
        .execute(&mut **t)
        .await?
        .rows_affected()
    }))
}

/// Records that a live session just proved a passkey again (a step-up); false when the session
/// is not the user's or no longer live.
pub async fn prove_passkey(
    tx: &mut Tx,
    user_id: i64,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let changed = on_tx!(tx, t => {
        sqlx::query(
            "UPDATE sessions SET authenticated_at = $1 WHERE id = $2 AND user_id = $3 \
             AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(user_id)
        .execute(&mut **t)
        .await?
        .rows_affected()
    });
    Ok(changed == 1)
}

/// Deletes sessions that ended (expired or revoked) before `cutoff`; returns how many. The
/// audit log keeps what they did; the rows themselves can no longer sign anyone in.
pub async fn purge_ended(db: &Db, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(on_write!(db, pool => {
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}
