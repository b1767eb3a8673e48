//! Staff roles and permissions: what a user may do, and granting and revoking roles, audited.
//!
//! A permission is the unit of authorisation; a role is the set of permissions the database
//! gives it (`role_permissions`). Grants may expire, and an expired grant counts for nothing.
//! A staff member needs `roles.grant` and every permission of the role to grant or revoke
//! it, and nobody changes their own roles. An operator at a shell is trusted.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use raptor_domain::{InvalidInput, Permission, Role};
use raptor_store::audit::{self, AuditEvent};
use raptor_store::users::{self, NewGrant};
use raptor_store::StoreError;
use serde_json::{json, Value};

use crate::{text, times, App};

/// The longest reason a grant or revocation may carry.
pub const REASON_MAX: usize = 500;

/// Why a role change was refused.
#[derive(Debug, thiserror::Error)]
pub enum RoleChangeError {
    /// No such user.
    #[error("no user {0}")]
    UnknownUser(i64),
    /// Nobody grants or revokes their own roles.
    #[error("you cannot change your own roles; ask another administrator")]
    OwnRoles,
    /// The granter lacks a permission the change needs (`roles.grant`, or one the role carries).
    #[error("changing the {role} role needs the {permission} permission, which you do not hold")]
    MissingPermission {
        /// The role being granted or revoked.
        role: Role,
        /// The first permission the granter lacks.
        permission: String,
    },
    /// The user never proved their address, so whoever signed up with it may not own it.
    #[error(
        "{0} has not verified their email address yet; roles go only to verified accounts \
         (ask them to use the verification link, or an emailed sign-in link)"
    )]
    EmailNotVerified(String),
    /// `until` or `reason` is not acceptable.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A user's roles after a change, and whether the change did anything.
#[derive(Debug, Clone)]
pub struct RoleChange {
    /// The user.
    pub user_id: i64,
    /// Their live roles now.
    pub roles: Vec<Role>,
    /// False when they already had (or lacked) the role, with the same end.
    pub changed: bool,
}

/// The terms of a grant: until when, and why.
#[derive(Debug, Clone, Default)]
pub struct GrantTerms<'a> {
    /// When the grant stops counting (`None`: never). Must be in the future.
    pub until: Option<DateTime<Utc>>,
    /// Why it is granted (or revoked), kept with the grant and in the audit log.
    pub reason: Option<&'a str>,
}

/// The permissions `user_id` holds now through live grants. Names the code does not know (an
/// operator's own rows) grant nothing.
pub async fn permissions_of(app: &App, user_id: i64) -> Result<BTreeSet<Permission>, StoreError> {
    let names = users::permissions(&app.db, user_id, app.now()).await?;
    Ok(known_permissions(&names))
}

/// The permissions named in `names` that the code knows; other names grant nothing.
pub fn known_permissions(names: &[String]) -> BTreeSet<Permission> {
    names.iter().filter_map(|n| n.parse().ok()).collect()
}

/// Whether `user_id` holds `permission` now.
pub async fn holds(app: &App, user_id: i64, permission: Permission) -> Result<bool, StoreError> {
    Ok(permissions_of(app, user_id).await?.contains(&permission))
}

/// One role and the permissions it carries, as the database holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleEntry {
    /// The role's name.
    pub role: String,
    /// Its description.
    pub description: Option<String>,
    /// The permissions it carries, sorted.
    pub permissions: Vec<String>,
}

/// Every role with its permissions, in the order the roles were created.
pub async fn catalogue(app: &App) -> Result<Vec<RoleEntry>, StoreError> {
    let mut entries: Vec<RoleEntry> = Vec::new();
    for row in users::role_table(&app.db).await? {
        if entries.last().is_none_or(|e| e.role != row.role) {
            entries.push(RoleEntry {
                role: row.role.clone(),
                description: row.description.clone(),
                permissions: Vec::new(),
            });
        }
        if let (Some(entry), Some(permission)) = (entries.last_mut(), row.permission) {
            entry.permissions.push(permission);
        }
    }
    Ok(entries)
}

/// Refuses a change a staff member may not make: to their own roles, without `roles.grant`,
/// or to a role carrying a permission they lack. An actor without a user id is an operator.
async fn check_granter(
    app: &App,
    actor: &AuditEvent,
    user_id: i64,
    role: Role,
) -> Result<(), RoleChangeError> {
    let Some(granter) = actor.actor_user_id else {
        return Ok(());
    };
    if granter == user_id {
        return Err(RoleChangeError::OwnRoles);
    }
    let held = users::permissions(&app.db, granter, app.now()).await?;
    let needed = users::role_permissions(&app.db, role).await?;
    let missing = std::iter::once(Permission::RolesGrant.as_str().to_owned())
        .chain(needed)
        .find(|p| !held.contains(p));
    match missing {
        Some(permission) => Err(RoleChangeError::MissingPermission { role, permission }),
        None => Ok(()),
    }
}

/// Grants `role` to `user_id` on behalf of `actor` (a staff member and their session, or an
/// operator at a shell) on `terms`, audited in the same transaction with who, to whom, why and
/// until when. Granting a role the user holds renews it with the new end and reason. Only an
/// account that proved its address gets a role: the first to sign up with an address need not
/// own it.
pub async fn grant(
    app: &App,
    actor: &AuditEvent,
    user_id: i64,
    role: Role,
    terms: &GrantTerms<'_>,
) -> Result<RoleChange, RoleChangeError> {
    let now = app.now();
    let reason = text::optional("reason", terms.reason, REASON_MAX)?;
    if let Some(until) = terms.until {
        times::storable("until", until)?;
    }
    if terms.until.is_some_and(|until| until <= now) {
        return Err(InvalidInput::new("until", "must be in the future").into());
    }
    check_granter(app, actor, user_id, role).await?;
    let target = users::by_id(&app.db, user_id)
        .await?
        .ok_or(RoleChangeError::UnknownUser(user_id))?;
    if !target.email_verified() {
        return Err(RoleChangeError::EmailNotVerified(target.email));
    }
    let mut tx = app.db.begin().await?;
    let before = users::grant_of(&mut tx, target.id, role).await?;
    let live = before
        .as_ref()
        .is_some_and(|g| g.expires_at.is_none_or(|end| end > now));
    let changed = !live || before.as_ref().map(|g| g.expires_at) != Some(terms.until);
    if changed {
        let grant = NewGrant {
            user_id: target.id,
            role,
            granted_by: actor.actor_user_id,
            expires_at: terms.until,
            reason,
        };
        users::grant_role(&mut tx, &grant, now).await?;
    }
    let details =
        json!({ "role": role, "changed": changed, "until": terms.until, "reason": reason });
    audit::record(
        &mut tx,
        &entry(actor, "role.grant", target.id, details),
        now,
    )
    .await?;
    tx.commit().await?;
    changed_roles(app, target.id, changed).await
}

/// Revokes `role` from `user_id` on behalf of `actor`, for `reason`, audited in the same
/// transaction. The same people may revoke a role as may grant it.
pub async fn revoke(
    app: &App,
    actor: &AuditEvent,
    user_id: i64,
    role: Role,
    reason: Option<&str>,
) -> Result<RoleChange, RoleChangeError> {
    let now = app.now();
    let reason = text::optional("reason", reason, REASON_MAX)?;
    check_granter(app, actor, user_id, role).await?;
    let target = users::by_id(&app.db, user_id)
        .await?
        .ok_or(RoleChangeError::UnknownUser(user_id))?;
    let mut tx = app.db.begin().await?;
    let before = users::grant_of(&mut tx, target.id, role).await?;
    let changed = users::revoke_role(&mut tx, target.id, role).await?;
    let details = json!({
        "role": role,
        "changed": changed,
        "reason": reason,
        "was_until": before.and_then(|g| g.expires_at),
    });
    audit::record(
        &mut tx,
        &entry(actor, "role.revoke", target.id, details),
        now,
    )
    .await?;
    tx.commit().await?;
    changed_roles(app, target.id, changed).await
}

/// The audit entry for a role change: the actor's own details (`{"via": "cli"}`) kept beside
/// the change's.
fn entry(actor: &AuditEvent, action: &'static str, target: i64, mut details: Value) -> AuditEvent {
    if let (Some(Value::Object(extra)), Value::Object(all)) = (&actor.details, &mut details) {
        all.extend(extra.clone());
    }
    AuditEvent {
        action,
        target_type: Some("user"),
        target_id: Some(target.to_string()),
        outcome: "success",
        details: Some(details),
        ..actor.clone()
    }
}

async fn changed_roles(
    app: &App,
    user_id: i64,
    changed: bool,
) -> Result<RoleChange, RoleChangeError> {
    Ok(RoleChange {
        user_id,
        roles: users::roles(&app.db, user_id, app.now()).await?,
        changed,
    })
}
