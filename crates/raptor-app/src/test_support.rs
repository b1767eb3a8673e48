//! Helpers the use cases' own database tests share.

use raptor_domain::Role;
use raptor_store::audit::AuditEvent;
use raptor_store::users;

use crate::App;

/// A user written straight into the store, holding `roles`; its id.
pub(crate) async fn user(app: &App, email: &str, roles: &[Role]) -> i64 {
    let mut tx = app.db.begin().await.expect("begin");
    let user = users::create(&mut tx, email, "Someone", email.as_bytes(), app.now())
        .await
        .expect("user");
    for role in roles {
        let grant = users::NewGrant {
            user_id: user.id,
            role: *role,
            granted_by: None,
            expires_at: None,
            reason: None,
        };
        users::grant_role(&mut tx, &grant, app.now())
            .await
            .expect("role");
    }
    tx.commit().await.expect("commit");
    user.id
}

/// The audit entry an admin's action starts from.
pub(crate) fn admin_event(action: &'static str) -> AuditEvent {
    AuditEvent {
        actor_type: "admin",
        action,
        outcome: "success",
        ..AuditEvent::default()
    }
}
