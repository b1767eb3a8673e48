//! Newsletter double opt-in over real HTTP on both dialects.

use raptor_testkit::{assert_problem, dual_app_test};
use serde_json::json;

fn link_token(body: &str, path: &str) -> String {
    body.split(path)
        .nth(1)
        .and_then(|rest| rest.strip_prefix("?token="))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a link in the email")
        .to_owned()
}

dual_app_test!(
    subscribing_needs_confirmation_and_is_idempotent,
    |t, app| {
        let mut browser = app.browser();
        let reply = browser
            .post(
                "/api/marketing/subscribe",
                json!({ "email": "Ada@Example.com", "source": "landing" }),
            )
            .await;
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        assert_eq!(
            raptor_store::marketing::status(t.db(), "ada@example.com")
                .await
                .expect("status")
                .as_deref(),
            Some("pending")
        );
        assert!(
            raptor_store::outbox::recent(t.db(), 5)
                .await
                .expect("outbox")
                .is_empty(),
            "mailed before a worker ran"
        );
        assert_eq!(app.run_jobs().await, 1, "one confirmation job");
        let mail = raptor_store::outbox::recent(t.db(), 5)
            .await
            .expect("outbox");
        let body = mail[0]["text_body"].as_str().expect("body");
        let confirm = link_token(body, "/api/marketing/confirm");
        let unsubscribe = link_token(body, "/api/marketing/unsubscribe");

        let confirmed = browser
            .get(&format!("/api/marketing/confirm?token={confirm}"))
            .await;
        assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
        assert_eq!(confirmed.body["status"], "confirmed");
        assert_eq!(
            browser
                .get(&format!("/api/marketing/confirm?token={confirm}"))
                .await
                .status,
            400,
            "used twice"
        );

        let again = browser
            .post(
                "/api/marketing/subscribe",
                json!({ "email": "ada@example.com" }),
            )
            .await;
        assert_eq!(
            again.body, reply.body,
            "the answer reveals the address's state"
        );
        assert_eq!(t.scalar("SELECT count(*) FROM marketing_contacts").await, 1);
        assert_eq!(
            app.run_jobs().await,
            0,
            "a confirmed address got a mail job"
        );
        assert_eq!(
            raptor_store::outbox::recent(t.db(), 5)
                .await
                .expect("outbox")
                .len(),
            1,
            "a confirmed address was mailed again"
        );

        let gone = browser
            .get(&format!("/api/marketing/unsubscribe?token={unsubscribe}"))
            .await;
        assert_eq!(gone.body["status"], "unsubscribed");
        assert_eq!(browser.get("/api/marketing/confirm").await.status, 400);
        assert_eq!(
            browser
                .get("/api/marketing/confirm?token=forged")
                .await
                .status,
            400
        );
    }
);

dual_app_test!(subscribing_is_rate_limited_per_address, |t, app| {
    let mut browser = app.browser();
    for _ in 0..3 {
        let reply = browser
            .post(
                "/api/marketing/subscribe",
                json!({ "email": "ada@example.com" }),
            )
            .await;
        assert_eq!(reply.status, 202);
    }
    let limited = browser
        .post(
            "/api/marketing/subscribe",
            json!({ "email": "ada@example.com" }),
        )
        .await;
    assert_eq!(limited.status, 429);
    assert!(limited.headers.contains_key("retry-after"));
    let other = browser
        .post(
            "/api/marketing/subscribe",
            json!({ "email": "grace@example.com" }),
        )
        .await;
    assert_eq!(other.status, 202, "one address's limit blocked another");
    let bad = browser
        .post("/api/marketing/subscribe", json!({ "email": "nope" }))
        .await;
    assert_eq!(
        (bad.status, bad.body["field"].as_str()),
        (422, Some("email"))
    );
});

dual_app_test!(a_link_with_a_malformed_query_is_a_problem, |t, app| {
    let mut browser = app.browser();
    for path in [
        "/api/marketing/confirm?token=a&token=b",
        "/api/marketing/unsubscribe?token=a&token=b",
    ] {
        let reply = browser.get(path).await;
        assert_problem(&reply, 400, "invalid_parameter");
    }
});
