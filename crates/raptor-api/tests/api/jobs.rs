//! `GET /api/admin/jobs`: the queue for admins, on both databases.

use raptor_store::jobs::{self, NewJob};
use raptor_testkit::{accounts, assert_problem, dual_app_test, now};
use serde_json::json;

dual_app_test!(admins_see_the_queue_and_others_do_not, |t, app| {
    let mut admin = accounts::admin(app, t.db(), "ops@example.com").await;
    let mut customer = accounts::verified_customer(app, "ada@example.com").await;
    let payload = json!({ "symbol": "AAPL" });
    for kind in ["report.build", "report.mail"] {
        let job = NewJob {
            queue: "default",
            kind,
            payload: &payload,
            max_attempts: 3,
            run_at: now(),
            unique_key: None,
        };
        jobs::enqueue_alone(t.db(), &job, now())
            .await
            .expect("enqueue");
    }

    let reply = admin.get("/api/admin/jobs?state=queued&limit=10").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let kinds: Vec<&str> = reply.body["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["report.mail", "report.build"], "newest first");
    assert_eq!(reply.body["jobs"][0]["payload"]["symbol"], "AAPL");
    let queued = reply.body["counts"]
        .as_array()
        .expect("counts")
        .iter()
        .find(|c| c["state"] == "queued")
        .map(|c| c["count"].clone());
    assert_eq!(queued, Some(json!(2)), "{:?}", reply.body);
    assert!(
        reply.body["oldest_ready_age_secs"].is_i64(),
        "{:?}",
        reply.body
    );

    for failed in ["failed", "dead"] {
        let none = admin.get(&format!("/api/admin/jobs?state={failed}")).await;
        assert_eq!(none.status, 200, "{failed}: {:?}", none.body);
        assert_eq!(none.body["jobs"], json!([]));
    }

    let bad = admin.get("/api/admin/jobs?state=dead-ish").await;
    assert_eq!(assert_problem(&bad, 422, "invalid_field")["field"], "state");
    let nul = admin.get("/api/admin/jobs?queue=a%00b").await;
    assert_eq!(assert_problem(&nul, 422, "invalid_field")["field"], "queue");

    let email = json!({ "to": "ada@example.com", "text_body": "https://raxx.app/signin/email?token=secret" });
    let outbox = NewJob {
        queue: "outbox",
        kind: "email",
        payload: &email,
        max_attempts: 1,
        run_at: now(),
        unique_key: None,
    };
    jobs::enqueue_alone(t.db(), &outbox, now())
        .await
        .expect("outbox row");
    let mail = admin.get("/api/admin/jobs?queue=outbox").await;
    assert_eq!(mail.status, 200, "{:?}", mail.body);
    assert!(
        !mail.body.to_string().contains("token=secret"),
        "{:?}",
        mail.body
    );
    assert!(mail.body["jobs"][0]["payload"]["redacted"].is_string());

    assert_problem(
        &customer.get("/api/admin/jobs").await,
        403,
        "permission_required",
    );
    assert_problem(
        &app.browser().get("/api/admin/jobs").await,
        401,
        "not_signed_in",
    );
});
