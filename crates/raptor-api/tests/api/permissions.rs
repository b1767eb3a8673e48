//! RBAC v2 over HTTP: every staff route asks for a permission, expired grants count for
//! nothing, nobody grants beyond what they hold or to themselves, and an emailed link never
//! carries staff powers until a passkey proves the session.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use raptor_app::FixedClock;
use raptor_testkit::{accounts, assert_problem, dual_app_test, dual_test, Browser, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// Every staff operation and the permission it asks for. The sweep below fails when the
/// OpenAPI document has a staff operation missing here, so a new route cannot skip its check.
const STAFF_ROUTES: &[(&str, &str, &str)] = &[
    ("get", "/api/admin/audit", "audit.read"),
    ("get", "/api/admin/customers", "customers.read"),
    ("get", "/api/admin/customers/{id}", "customers.read"),
    ("post", "/api/admin/customers/{id}/notes", "customers.note"),
    (
        "post",
        "/api/admin/customers/{id}/reinstate",
        "customers.suspend",
    ),
    (
        "post",
        "/api/admin/customers/{id}/sessions/revoke",
        "customers.suspend",
    ),
    (
        "post",
        "/api/admin/customers/{id}/suspend",
        "customers.suspend",
    ),
    ("get", "/api/admin/jobs", "jobs.read"),
    ("get", "/api/admin/support/tickets", "support.read"),
    ("get", "/api/admin/support/tickets/{id}", "support.read"),
    (
        "post",
        "/api/admin/support/tickets/{id}/assign",
        "support.reply",
    ),
    (
        "post",
        "/api/admin/support/tickets/{id}/close",
        "support.reply",
    ),
    (
        "post",
        "/api/admin/support/tickets/{id}/link",
        "support.reply",
    ),
    (
        "post",
        "/api/admin/support/tickets/{id}/messages",
        "support.reply",
    ),
    ("get", "/api/admin/traces/{workflow_id}", "traces.read"),
    ("post", "/api/admin/users/{id}/roles", "roles.grant"),
    (
        "delete",
        "/api/admin/users/{id}/roles/{role}",
        "roles.grant",
    ),
    ("get", "/api/billing/alerts", "billing.read"),
    ("put", "/api/billing/alerts", "billing.manage"),
    ("get", "/api/billing/snapshot", "billing.read"),
    ("post", "/api/billing/snapshots", "billing.manage"),
];

/// The permissions the seeded `support` role carries.
const SUPPORT_HOLDS: &[&str] = &[
    "customers.read",
    "support.read",
    "support.reply",
    "traces.read",
];

/// Staff operations in the served document: everything under `/api/admin/` and `/api/billing/`.
fn staff_operations(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .filter(|(path, _)| path.starts_with("/api/admin/") || path.starts_with("/api/billing/"))
        .flat_map(|(path, ops)| {
            let ops = ops.as_object().expect("operations");
            ops.keys()
                .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(|m| (m.clone(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Sends `method path` with an empty JSON object as the body where one may go. Ids name no
/// row, so a request that gets past the permission check changes nothing.
async fn call(browser: &mut Browser, method: &str, path: &str) -> raptor_testkit::Reply {
    let path = path
        .replace("{workflow_id}", "no-such-workflow")
        .replace("{id}", "999999")
        .replace("{role}", "support");
    let method: Method = method.to_uppercase().parse().expect("method");
    let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
    browser.send(method, &path, body).await
}

dual_app_test!(
    every_staff_route_refuses_a_role_without_its_permission,
    |t, app| {
        let (status, document) = app.get_json("/openapi.json").await;
        assert_eq!(status, 200);
        let listed: BTreeSet<(String, String)> = STAFF_ROUTES
            .iter()
            .map(|(m, p, _)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(
            staff_operations(&document),
            listed,
            "every staff operation in /openapi.json needs a row in STAFF_ROUTES"
        );

        let mut admin = accounts::admin(app, t.db(), "root@example.com").await;
        let mut support = accounts::support_staff(app, &mut admin, "staff@example.com").await;
        let mut customer = accounts::customer(app, "ada@example.com").await;
        let mut signed_out = app.browser();
        for (method, path, permission) in STAFF_ROUTES {
            let route = format!("{method} {path}");
            let reply = call(&mut signed_out, method, path).await;
            assert_eq!(reply.status, 401, "{route} signed out: {:?}", reply.body);

            let reply = call(&mut customer, method, path).await;
            let body = assert_problem(&reply, 403, "permission_required");
            assert!(
                body["detail"].as_str().unwrap_or("").contains(permission),
                "{route}: the refusal names {permission}: {body:?}"
            );

            let reply = call(&mut support, method, path).await;
            if SUPPORT_HOLDS.contains(permission) {
                assert!(
                    ![401, 403].contains(&reply.status),
                    "{route}: support holds {permission}: {:?}",
                    reply.body
                );
            } else {
                let body = assert_problem(&reply, 403, "permission_required");
                assert!(
                    body["detail"].as_str().unwrap_or("").contains(permission),
                    "{route}: {body:?}"
                );
            }

            let reply = call(&mut admin, method, path).await;
            assert!(
                ![401, 403].contains(&reply.status),
                "{route}: admin holds {permission}: {:?}",
                reply.body
            );
        }
    }
);

dual_test!(
    an_email_link_session_gets_no_staff_powers_until_a_passkey_proves_it,
    Head,
    |t| {
        let clock = Arc::new(FixedClock::new(raptor_testkit::now()));
        let app = TestApp::builder(t.db().clone())
            .clock(clock.clone())
            .spawn()
            .await;
        let (_, mut passkey) = accounts::admin_with_passkey(&app, t.db(), "root@example.com").await;
        let mut customer = accounts::customer(&app, "ada@example.com").await;
        let customer_id = accounts::user_id(&mut customer).await;
        let grant = format!("/api/admin/users/{customer_id}/roles");

        let mut linked = accounts::email_link_session(&app, "root@example.com").await;
        let session = linked.get("/api/auth/session").await;
        assert_eq!(session.body["roles"], json!(["customer", "admin"]));
        assert!(session.body["permissions"]
            .as_array()
            .expect("permissions")
            .contains(&json!("roles.grant")));
        assert_eq!(session.body["session"]["passkey_proved_at"], Value::Null);
        assert_problem(
            &linked.get("/api/admin/audit").await,
            403,
            "step_up_required",
        );
        assert_problem(
            &linked.post(&grant, json!({ "role": "support" })).await,
            403,
            "step_up_required",
        );
        assert_problem(
            &linked
                .post(
                    &format!("/api/admin/customers/{customer_id}/suspend"),
                    json!({}),
                )
                .await,
            403,
            "step_up_required",
        );
        let reads = t
            .scalar("SELECT count(*) FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE r.name = 'support'")
            .await;
        assert_eq!(reads, 0, "a refused grant wrote nothing");
        // Nor may it add a passkey of its own, which would then pass the step-up.
        assert_problem(
            &linked.post("/api/auth/passkeys/options", json!({})).await,
            403,
            "step_up_required",
        );
        // A customer recovers exactly that way.
        let mut recovering = accounts::email_link_session(&app, "ada@example.com").await;
        let options = recovering
            .post("/api/auth/passkeys/options", json!({}))
            .await;
        assert_eq!(options.status, 200, "{:?}", options.body);

        let signed_in = passkey.sign_in(&mut linked, "root@example.com").await;
        assert_eq!(signed_in.status, 200, "{:?}", signed_in.body);
        let session = linked.get("/api/auth/session").await;
        assert!(session.body["session"]["passkey_proved_at"].is_string());
        assert_eq!(linked.get("/api/admin/audit").await.status, 200);
        let granted = linked.post(&grant, json!({ "role": "support" })).await;
        assert_eq!(granted.status, 200, "{:?}", granted.body);

        // Eleven minutes on, reading still works but changing access needs a fresh passkey.
        clock.advance(Duration::minutes(11));
        assert_eq!(linked.get("/api/admin/audit").await.status, 200);
        let revoke = format!("/api/admin/users/{customer_id}/roles/support");
        let stale = linked.delete(&revoke).await;
        let body = assert_problem(&stale, 403, "step_up_required");
        assert!(
            body["detail"].as_str().unwrap_or("").contains("10 minutes"),
            "{body:?}"
        );
        // A step-up proves the passkey again inside the same session.
        let session_id = linked.get("/api/auth/session").await.body["session"]["id"].clone();
        let stepped = accounts::step_up(&mut linked, &mut passkey).await;
        assert_eq!(stepped.status, 200, "{:?}", stepped.body);
        let session = linked.get("/api/auth/session").await;
        assert_eq!(session.body["session"]["id"], session_id, "no new session");
        assert_eq!(
            session.body["session"]["passkey_proved_at"],
            stepped.body["passkey_proved_at"]
        );
        let revoked = linked.delete(&revoke).await;
        assert_eq!(revoked.status, 200, "{:?}", revoked.body);
        assert_eq!(revoked.body["roles"], json!(["customer"]));

        // A session opened by an email link steps up without signing in anew.
        let mut recovered = accounts::email_link_session(&app, "root@example.com").await;
        assert_problem(
            &recovered.get("/api/admin/audit").await,
            403,
            "step_up_required",
        );
        let stepped = accounts::step_up(&mut recovered, &mut passkey).await;
        assert_eq!(stepped.status, 200, "{:?}", stepped.body);
        assert_eq!(recovered.get("/api/admin/audit").await.status, 200);
        let steps = t
            .scalar("SELECT count(*) FROM audit_log WHERE action = 'auth.step_up' AND outcome = 'success'")
            .await;
        assert_eq!(steps, 2);
        app.stop().await;
    }
);

dual_app_test!(
    a_step_up_needs_a_ceremony_started_for_this_account,
    |t, app| {
        let (mut root, mut root_key) =
            accounts::admin_with_passkey(app, t.db(), "root@example.com").await;
        let mut other = accounts::customer(app, "ada@example.com").await;
        // Root's own ceremony and root's genuine answer, presented by another signed-in user.
        let options = root.post("/api/auth/step-up/options", json!({})).await;
        assert_eq!(options.status, 200, "{:?}", options.body);
        let credential = root_key.get(&options.body);
        let stolen = other
            .post(
                "/api/auth/step-up",
                json!({ "ceremony_id": options.body["ceremony_id"], "credential": credential }),
            )
            .await;
        assert_problem(&stolen, 400, "wrong_ceremony");
        assert_eq!(
            t.scalar("SELECT count(*) FROM audit_log WHERE action = 'auth.step_up'")
                .await,
            0
        );
        assert_eq!(
            app.browser()
                .post("/api/auth/step-up/options", json!({}))
                .await
                .status,
            401
        );
    }
);

dual_test!(an_expired_grant_counts_for_nothing, Head, |t| {
    let t0 = raptor_testkit::now();
    let clock = Arc::new(FixedClock::new(t0));
    let app = TestApp::builder(t.db().clone())
        .clock(clock.clone())
        .spawn()
        .await;
    let mut admin = accounts::admin(&app, t.db(), "root@example.com").await;
    let mut temp = accounts::verified_customer(&app, "temp@example.com").await;
    let temp_id = accounts::user_id(&mut temp).await;
    let grant = format!("/api/admin/users/{temp_id}/roles");

    let past = t0 - Duration::minutes(1);
    let refused = admin
        .post(&grant, json!({ "role": "support", "until": past }))
        .await;
    assert_eq!(
        assert_problem(&refused, 422, "invalid_field")["field"],
        "until"
    );
    // A year SQLite would compare as text, as if the grant had already ended.
    let far = admin
        .post(
            &grant,
            json!({ "role": "support", "until": "+10000-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(assert_problem(&far, 422, "invalid_field")["field"], "until");

    let until = t0 + Duration::hours(1);
    let granted = admin
        .post(
            &grant,
            json!({ "role": "support", "until": until, "reason": "covering the holiday queue" }),
        )
        .await;
    assert_eq!(granted.status, 200, "{:?}", granted.body);
    assert_eq!(temp.get("/api/admin/customers").await.status, 200);

    clock.advance(Duration::minutes(61));
    let expired = temp.get("/api/admin/customers").await;
    let body = assert_problem(&expired, 403, "permission_required");
    assert!(body["detail"]
        .as_str()
        .unwrap_or("")
        .contains("customers.read"));
    assert_eq!(
        temp.get("/api/auth/session").await.body["roles"],
        json!(["customer"])
    );

    let temp_key = temp_id.to_string();
    let audit = admin.get("/api/admin/audit?action=role.grant").await;
    assert_eq!(audit.status, 200, "{:?}", audit.body);
    let entry = audit.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["target_id"] == temp_key.as_str() && e["details"]["changed"] == true)
        .expect("the grant is audited")
        .clone();
    let admin_id = accounts::user_id(&mut admin).await;
    assert_eq!(entry["actor_user_id"], admin_id);
    assert_eq!(entry["details"]["role"], "support");
    assert_eq!(entry["details"]["reason"], "covering the holiday queue");
    assert_eq!(
        entry["details"]["until"]
            .as_str()
            .map(|s| s.parse::<chrono::DateTime<chrono::Utc>>().ok()),
        Some(Some(until))
    );
    app.stop().await;
});

dual_app_test!(
    nobody_grants_beyond_what_they_hold_or_to_themselves,
    |t, app| {
        let mut admin = accounts::admin(app, t.db(), "root@example.com").await;
        let admin_id = accounts::user_id(&mut admin).await;
        let mut support = accounts::support_staff(app, &mut admin, "staff@example.com").await;
        let mut ada = accounts::verified_customer(app, "ada@example.com").await;
        let ada_id = accounts::user_id(&mut ada).await;
        let grant = format!("/api/admin/users/{ada_id}/roles");

        let refused = support.post(&grant, json!({ "role": "admin" })).await;
        let body = assert_problem(&refused, 403, "permission_required");
        assert!(body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("roles.grant"));

        // An operator lets support staff grant roles; they still cannot hand out admin, whose
        // permissions they do not hold, but can grant support.
        t.execute(
            "INSERT INTO role_permissions (role_id, permission) \
             SELECT id, 'roles.grant' FROM roles WHERE name = 'support'",
        )
        .await;
        let refused = support.post(&grant, json!({ "role": "admin" })).await;
        let body = assert_problem(&refused, 403, "permission_required");
        assert!(
            body["detail"].as_str().unwrap_or("").contains("audit.read"),
            "names the first missing permission: {body:?}"
        );
        let granted = support.post(&grant, json!({ "role": "support" })).await;
        assert_eq!(granted.status, 200, "{:?}", granted.body);
        assert_eq!(granted.body["roles"], json!(["customer", "support"]));

        let own = admin
            .post(
                &format!("/api/admin/users/{admin_id}/roles"),
                json!({ "role": "support" }),
            )
            .await;
        assert_problem(&own, 409, "own_roles");
        let own = admin
            .delete(&format!("/api/admin/users/{admin_id}/roles/admin"))
            .await;
        assert_problem(&own, 409, "own_roles");
        let support_id = accounts::user_id(&mut support).await;
        let own = support
            .delete(&format!("/api/admin/users/{support_id}/roles/support"))
            .await;
        assert_problem(&own, 409, "own_roles");

        let revoked = admin
            .delete(&format!(
                "/api/admin/users/{ada_id}/roles/support?reason=left%20the%20team"
            ))
            .await;
        assert_eq!(revoked.status, 200, "{:?}", revoked.body);
        let audit = admin.get("/api/admin/audit?action=role.revoke").await;
        let entries = audit.body["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0]["details"]["reason"], "left the team");
        assert_eq!(entries[0]["actor_user_id"], admin_id);
        assert_eq!(entries[0]["target_id"], ada_id.to_string());
    }
);

dual_app_test!(
    a_backup_code_session_carries_no_staff_powers_until_a_step_up,
    |t, app| {
        let (mut admin, mut passkey) =
            accounts::admin_with_passkey(app, t.db(), "root@example.com").await;
        let generated = admin.post("/api/auth/backup-codes", json!({})).await;
        assert_eq!(generated.status, 201, "{:?}", generated.body);
        let code = generated.body["codes"][0]
            .as_str()
            .expect("a code")
            .to_owned();

        let mut lost_phone = app.browser();
        let reply = lost_phone
            .post(
                "/api/auth/backup-codes/login",
                json!({ "email": "root@example.com", "code": code }),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        for path in [
            "/api/admin/audit",
            "/api/admin/customers",
            "/api/billing/snapshot",
        ] {
            assert_problem(&lost_phone.get(path).await, 403, "step_up_required");
        }
        let stepped = accounts::step_up(&mut lost_phone, &mut passkey).await;
        assert_eq!(stepped.status, 200, "{:?}", stepped.body);
        assert_eq!(lost_phone.get("/api/admin/audit").await.status, 200);
    }
);
