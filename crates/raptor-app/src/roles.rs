//! Staff roles: granting and revoking them, audited.

use raptor_domain::Role;
use raptor_store::audit::{self, AuditEvent};
use raptor_store::{users, StoreError};
use serde_json::{json, Value};

use crate::App;

/// Why a role change was refused.
#[derive(Debug, thiserror::Error)]
pub enum RoleChangeError {
    /// No such user.
    #[error("no user {0}")]
    UnknownUser(i64),
    /// Admins may not revoke their own admin role (the last admin could lock everyone out).
    #[error("you cannot revoke your own admin role")]
    OwnAdminRole,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A user's roles after a change, and whether the change did anything.
#[derive(Debug, Clone)]
pub struct RoleChange {
    /// The user.
    pub user_id: i64,
    /// Their roles now.
    pub roles: Vec<Role>,
    /// False when they already had (or lacked) the role.
    pub changed: bool,
}

/// Grants (`grant`) or revokes `role` for `user_id`, on behalf of `actor` (a staff member and
/// their session, or an operator at a shell), audited in the same transaction. Details the
/// actor carries (`{"via": "cli"}`) are kept beside the role and the outcome.
pub async fn change_role(
    app: &App,
    actor: &AuditEvent,
    user_id: i64,
    role: Role,
    grant: bool,
) -> Result<RoleChange, RoleChangeError> {
    if !grant && role == Role::Admin && actor.actor_user_id == Some(user_id) {
        return Err(RoleChangeError::OwnAdminRole);
    }
    let target = users::by_id(&app.db, user_id)
        .await?
        .ok_or(RoleChangeError::UnknownUser(user_id))?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let changed = if grant {
        users::grant_role(&mut tx, target.id, role, actor.actor_user_id, now).await?
    } else {
        users::revoke_role(&mut tx, target.id, role).await?
    };
    let mut details = json!({ "role": role, "changed": changed });
    if let (Some(Value::Object(extra)), Value::Object(all)) = (&actor.details, &mut details) {
        all.extend(extra.clone());
    }
    let event = AuditEvent {
        action: if grant { "role.grant" } else { "role.revoke" },
        target_type: Some("user"),
        target_id: Some(target.id.to_string()),
        outcome: "success",
        details: Some(details),
        ..actor.clone()
    };
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(RoleChange {
        user_id: target.id,
        roles: users::roles(&app.db, target.id).await?,
        changed,
    })
}
