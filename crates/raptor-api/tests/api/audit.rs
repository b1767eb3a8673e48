//! `GET /api/admin/audit` on both dialects: filters by actor, action, subject and time, pages
//! with `before`, exports JSON Lines in chain order, and names bad filters in a 400.

use chrono::{DateTime, Duration, TimeZone, Utc};
use raptor_store::audit::{self, AuditEvent};
use raptor_testkit::{accounts, assert_problem, dual_app_test, Browser, TestApp};
use serde_json::Value;

fn at(hour: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap() + Duration::hours(hour)
}

/// Staff actions of long ago, at known times: `(actor, action, target user, hour)`.
const HISTORY: [(i64, &str, &str, i64); 4] = [
    (900, "customer.suspend", "7", 1),
    (900, "role.grant", "8", 2),
    (901, "role.grant", "7", 3),
    (901, "customer.note", "7", 4),
];

async fn record_history(db: &raptor_store::Db) {
    for (actor, action, target, hour) in HISTORY {
        let event = AuditEvent {
            actor_user_id: Some(actor),
            actor_email: Some(format!("staff{actor}@example.com")),
            actor_type: "admin",
            action,
            target_type: Some("user"),
            target_id: Some(target.to_owned()),
            outcome: "success",
            ..AuditEvent::default()
        };
        audit::record_alone(db, &event, at(hour))
            .await
            .expect("record");
    }
}

/// The `action`s of a listing, newest first.
async fn actions(root: &mut Browser, query: &str) -> Vec<String> {
    let reply = root.get(&format!("/api/admin/audit?{query}")).await;
    assert_eq!(reply.status, 200, "{query}: {:?}", reply.body);
    reply.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_owned())
        .collect()
}

dual_app_test!(
    admins_filter_the_audit_log_by_actor_action_subject_and_time,
    |t, app| {
        let mut root = accounts::admin(app, t.db(), "root@example.com").await;
        record_history(t.db()).await;
        let window = format!(
            "from={}&to={}",
            at(0).format("%Y-%m-%dT%H:%M:%SZ"),
            at(5).format("%Y-%m-%dT%H:%M:%SZ")
        );

        assert_eq!(
            actions(&mut root, &window).await,
            [
                "customer.note",
                "role.grant",
                "role.grant",
                "customer.suspend"
            ]
        );
        assert_eq!(
            actions(&mut root, &format!("{window}&actor=900")).await,
            ["role.grant", "customer.suspend"]
        );
        assert_eq!(
            actions(&mut root, "actor=STAFF901@example.com").await,
            ["customer.note", "role.grant"]
        );
        assert_eq!(
            actions(
                &mut root,
                &format!("{window}&action=role.grant&subject=user:7")
            )
            .await,
            ["role.grant"]
        );
        assert_eq!(
            actions(
                &mut root,
                "subject=user:7&from=2020-01-01T02:00:00Z&to=2020-01-01T04:00:00Z"
            )
            .await,
            ["role.grant"]
        );
        // The admin's own sign-up is there too, by email, with its request id and hashes.
        let signed_up = root
            .get("/api/admin/audit?actor=root@example.com&action=role.grant")
            .await;
        let granted = &signed_up.body["entries"][0];
        assert_eq!(granted["details"]["via"], "bootstrap_token", "{granted}");
        assert!(granted["request_id"].is_string(), "{granted}");
        assert_eq!(granted["row_hash"].as_str().map(str::len), Some(64));

        // Paging: `before` the last id of a page gives the next.
        let page = root
            .get(&format!("/api/admin/audit?{window}&limit=3"))
            .await;
        let ids: Vec<i64> = page.body["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["id"].as_i64().expect("id"))
            .collect();
        assert_eq!(ids.len(), 3);
        let next = actions(&mut root, &format!("{window}&limit=3&before={}", ids[2])).await;
        assert_eq!(next, ["customer.suspend"]);

        // Staff without the admin role are refused.
        let mut ada = accounts::customer(app, "ada@example.com").await;
        assert_problem(
            &ada.get("/api/admin/audit").await,
            403,
            "permission_required",
        );
    }
);

dual_app_test!(bad_audit_filters_are_named_in_a_400, |t, app| {
    let mut root = accounts::admin(app, t.db(), "root@example.com").await;
    for (query, field) in [
        ("actor=nobody", Some("actor")),
        ("action=DROP%20TABLE", Some("action")),
        ("subject=user:", Some("subject")),
        (
            "from=2020-01-02T00:00:00Z&to=2020-01-01T00:00:00Z",
            Some("to"),
        ),
        // Years PostgreSQL cannot store, or that SQLite would compare as text.
        ("from=-5000-01-01T00:00:00Z", Some("from")),
        ("to=%2B10000-01-01T00:00:00Z", Some("to")),
        ("limit=0", Some("limit")),
        ("before=-1", Some("before")),
        ("from=yesterday", None),
        ("format=xml", None),
        ("limit=ten", None),
        ("colour=red", None),
    ] {
        let reply = root.get(&format!("/api/admin/audit?{query}")).await;
        let body = assert_problem(&reply, 400, "invalid_parameter");
        if let Some(field) = field {
            assert_eq!(body["field"], field, "{query}: {body}");
        }
    }
});

/// GETs the audit log with the admin's cookie and returns the content type and body text.
async fn raw(app: &TestApp, root: &Browser, query: &str, accept: &str) -> (String, String) {
    let response = app
        .client
        .get(app.url(&format!("/api/admin/audit{query}")))
        .header("Accept", accept)
        .header(
            "Cookie",
            format!(
                "{}={}",
                raptor_api::COOKIE_NAME,
                root.cookie.as_deref().expect("signed in")
            ),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (kind, response.text().await.expect("body"))
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

dual_app_test!(
    the_audit_log_exports_as_json_lines_in_chain_order,
    |t, app| {
        let root = accounts::admin(app, t.db(), "root@example.com").await;
        // More than one export page (500), written in one transaction to keep the test quick.
        let mut tx = t.db().begin().await.expect("begin");
        for n in 0..1203 {
            let event = AuditEvent {
                actor_type: "system",
                action: "billing.alert",
                target_type: Some("billing_alert"),
                target_id: Some(n.to_string()),
                outcome: "success",
                ..AuditEvent::default()
            };
            audit::record(&mut tx, &event, at(n)).await.expect("record");
        }
        tx.commit().await.expect("commit");

        let (kind, text) = raw(app, &root, "?format=jsonl&action=billing.alert", "*/*").await;
        assert_eq!(kind, "application/x-ndjson");
        let exported = lines(&text);
        assert_eq!(exported.len(), 1203);
        for pair in exported.windows(2) {
            assert!(pair[0]["id"].as_i64() < pair[1]["id"].as_i64());
            // Consecutive rows of the export are consecutive in the chain here.
            assert_eq!(pair[1]["prev_hash"], pair[0]["row_hash"]);
        }
        assert_eq!(exported[0]["target_id"], "0");

        // The Accept header asks for the same; filters and limit still apply.
        let (kind, text) = raw(
            app,
            &root,
            "?action=billing.alert&subject=billing_alert:7",
            "application/x-ndjson",
        )
        .await;
        assert_eq!(kind, "application/x-ndjson");
        assert_eq!(lines(&text).len(), 1);
        let (_, text) = raw(app, &root, "?format=jsonl&limit=501", "*/*").await;
        assert_eq!(lines(&text).len(), 501);
        let (kind, _) = raw(app, &root, "?format=json", "application/x-ndjson").await;
        assert!(kind.starts_with("application/json"), "{kind}");
    }
);
