//! Newsletter double opt-in over real HTTP on both dialects.

use std::sync::Arc;

use raptor_app::mail::PostmarkMailer;
use raptor_testkit::{assert_problem, dual_app_test, dual_test, FakePostmark, TestApp};
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
        let mail = app.mail_sent();
        let body = mail[0]["text_body"].as_str().expect("body");
        let confirm = link_token(body, "/api/marketing/confirm");
        let unsubscribe = link_token(body, "/api/marketing/unsubscribe");

        let confirmed = browser
            .post(
                &format!("/api/marketing/confirm?token={confirm}"),
                json!({}),
            )
            .await;
        assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
        assert_eq!(confirmed.body["status"], "confirmed");
        assert_eq!(
            browser
                .post(
                    &format!("/api/marketing/confirm?token={confirm}"),
                    json!({})
                )
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
            .post(
                &format!("/api/marketing/unsubscribe?token={unsubscribe}"),
                json!({}),
            )
            .await;
        assert_eq!(gone.body["status"], "unsubscribed");
        assert_problem(
            &browser.post("/api/marketing/confirm", json!({})).await,
            400,
            "missing_token",
        );
        assert_problem(
            &browser
                .post("/api/marketing/confirm?token=forged", json!({}))
                .await,
            400,
            "invalid_token",
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

/// Subscribes `email` and lets the worker mail the confirmation; its (confirm, unsubscribe)
/// tokens.
async fn mailed_tokens(app: &raptor_testkit::TestApp, email: &str) -> (String, String) {
    let reply = app
        .browser()
        .post("/api/marketing/subscribe", json!({ "email": email }))
        .await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    app.run_jobs().await;
    let mail = app.mail_sent();
    let body = mail[0]["text_body"].as_str().expect("body");
    (
        link_token(body, "/api/marketing/confirm"),
        link_token(body, "/api/marketing/unsubscribe"),
    )
}

async fn status(db: &raptor_store::Db) -> Option<String> {
    raptor_store::marketing::status(db, "ada@example.com")
        .await
        .expect("status")
}

dual_app_test!(opening_a_link_shows_a_page_and_changes_nothing, |t, app| {
    let (confirm, unsubscribe) = mailed_tokens(app, "ada@example.com").await;
    // A mail scanner (no cookie, no Origin) opens both links.
    let mut scanner = app.browser();
    scanner.origin = None;
    for (path, token, button) in [
        ("/api/marketing/confirm", &confirm, "Confirm"),
        ("/api/marketing/unsubscribe", &unsubscribe, "Unsubscribe"),
    ] {
        let page = scanner.get(&format!("{path}?token={token}")).await;
        assert_eq!(page.status, 200);
        let content_type = page.headers["content-type"].to_str().expect("ascii");
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let html = page.body.as_str().expect("a page");
        assert!(
            html.contains(&format!(
                "<form method=\"post\" action=\"{path}?token={token}\">"
            )),
            "{html}"
        );
        assert!(html.contains(button), "{html}");
        assert_eq!(status(t.db()).await.as_deref(), Some("pending"), "{path}");
    }
    assert_problem(
        &scanner.get("/api/marketing/confirm").await,
        400,
        "missing_token",
    );
    assert_problem(
        &scanner
            .get("/api/marketing/confirm?token=%3Cscript%3E")
            .await,
        400,
        "invalid_token",
    );

    // The page's button: a form POST from the public origin.
    let confirmed = app
        .browser()
        .post(
            &format!("/api/marketing/confirm?token={confirm}"),
            json!({}),
        )
        .await;
    assert_eq!(confirmed.body["status"], "confirmed");
    assert_eq!(status(t.db()).await.as_deref(), Some("confirmed"));
    assert_eq!(
        scanner
            .get(&format!("/api/marketing/unsubscribe?token={unsubscribe}"))
            .await
            .status,
        200
    );
    assert_eq!(status(t.db()).await.as_deref(), Some("confirmed"));
});

dual_app_test!(a_link_post_with_its_token_needs_no_origin, |t, app| {
    let (_, unsubscribe) = mailed_tokens(app, "ada@example.com").await;
    // A signed-in browser on another page (or one sending `Origin: null`) still may use the
    // token it holds: the token, not the session, is what acts.
    let mut elsewhere = raptor_testkit::accounts::customer(app, "eve@example.com").await;
    elsewhere.origin = Some("null".to_owned());
    let gone = elsewhere
        .post(
            &format!("/api/marketing/unsubscribe?token={unsubscribe}"),
            json!({}),
        )
        .await;
    assert_eq!(gone.status, 200, "{:?}", gone.body);
    assert_eq!(status(t.db()).await.as_deref(), Some("unsubscribed"));
    // Without a token the usual rule holds.
    elsewhere.origin = Some("https://evil.example".to_owned());
    let refused = elsewhere
        .post("/api/marketing/unsubscribe", json!({}))
        .await;
    assert_problem(&refused, 403, "origin_mismatch");
});

dual_test!(
    marketing_mail_offers_a_one_click_unsubscribe_that_needs_no_session,
    Head,
    |t| {
        let fake = FakePostmark::start("server-token").await;
        let mailer = PostmarkMailer::new(fake.url(), "server-token").expect("an HTTP client");
        let app = TestApp::spawn_with_mailer(t.db().clone(), Arc::new(mailer)).await;
        let reply = app
            .browser()
            .post(
                "/api/marketing/subscribe",
                json!({ "email": "ada@example.com" }),
            )
            .await;
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        assert_eq!(app.run_jobs().await, 1);

        let received = fake.received();
        assert_eq!(received.len(), 1, "{received:?}");
        let headers = received[0]["Headers"].as_array().expect("Headers");
        let header = |name: &str| {
            headers
                .iter()
                .find(|h| h["Name"] == name)
                .and_then(|h| h["Value"].as_str())
                .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
                .to_owned()
        };
        assert_eq!(
            header("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click"
        );
        let list_unsubscribe = header("List-Unsubscribe");
        let link = list_unsubscribe
            .strip_prefix('<')
            .and_then(|rest| rest.strip_suffix('>'))
            .expect("<link>");
        let path = link
            .strip_prefix(app.origin())
            .expect("a link to this server");
        assert!(
            path.starts_with("/api/marketing/unsubscribe?token="),
            "{link}"
        );
        // The body's unsubscribe link is the same one.
        let body = received[0]["TextBody"].as_str().expect("TextBody");
        assert!(body.contains(link), "{body}");

        // A mail provider's one-click unsubscribe (RFC 8058): a form POST with no cookie and
        // no Origin.
        let response = app
            .client
            .post(app.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(status(t.db()).await.as_deref(), Some("unsubscribed"));
        app.stop().await;
    }
);
