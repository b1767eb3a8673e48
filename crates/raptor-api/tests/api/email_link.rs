//! Emailed sign-in links on both dialects: the sign-in page can ask which account a link is
//! for without using it.

use std::sync::Arc;

use chrono::Duration;
use raptor_app::FixedClock;
use raptor_testkit::{accounts, assert_problem, dual_test, now, Browser, TestApp, TestDb};
use serde_json::json;

const EMAIL: &str = "ada@example.com";

async fn account(browser: &mut Browser, token: &str) -> raptor_testkit::Reply {
    browser
        .post("/api/auth/email-link/account", json!({ "token": token }))
        .await
}

async fn used_links(t: &TestDb) -> i64 {
    t.scalar("SELECT count(*) FROM email_login_tokens WHERE used_at IS NOT NULL")
        .await
}

dual_test!(
    a_link_tells_its_account_without_being_used_and_a_used_one_tells_nothing,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        accounts::customer(&app, EMAIL).await;
        let token = accounts::mailed_link_token(&app, EMAIL).await;
        let mut browser = app.browser();

        for _ in 0..2 {
            let told = account(&mut browser, &token).await;
            assert_eq!(told.status, 200, "{:?}", told.body);
            assert_eq!(told.body, json!({ "email": EMAIL }));
        }
        assert_eq!(used_links(t).await, 0, "asking used the link");
        assert_eq!(browser.cookie, None, "asking signed in");
        assert_eq!(browser.get("/api/auth/session").await.status, 401);

        let signed_in = browser
            .post("/api/auth/email-link/login", json!({ "token": token }))
            .await;
        assert_eq!(signed_in.status, 200, "{:?}", signed_in.body);
        // Used, unknown: the same problem as signing in with it again.
        let again = browser
            .post("/api/auth/email-link/login", json!({ "token": token }))
            .await;
        let login_problem = assert_problem(&again, 400, "invalid_link").clone();
        for token in [token.as_str(), "not-a-token"] {
            let reply = account(&mut browser, token).await;
            let body = assert_problem(&reply, 400, "invalid_link");
            assert_eq!(body["detail"], login_problem["detail"], "{body}");
        }
        app.stop().await;
    }
);

dual_test!(
    an_expired_link_or_a_suspended_account_tells_nothing,
    Head,
    |t| {
        let clock = Arc::new(FixedClock::new(now()));
        let app = TestApp::builder(t.db().clone())
            .clock(clock.clone())
            .spawn()
            .await;
        accounts::customer(&app, EMAIL).await;
        let token = accounts::mailed_link_token(&app, EMAIL).await;
        let mut browser = app.browser();
        assert_eq!(account(&mut browser, &token).await.status, 200);

        clock.advance(Duration::minutes(16));
        let reply = account(&mut browser, &token).await;
        assert_problem(&reply, 400, "invalid_link");

        clock.advance(Duration::minutes(5));
        let token = accounts::mailed_link_token(&app, EMAIL).await;
        t.execute("UPDATE users SET status = 'suspended'").await;
        let reply = account(&mut browser, &token).await;
        assert_problem(&reply, 400, "invalid_link");
        app.stop().await;
    }
);

dual_test!(
    asking_about_links_counts_against_the_sign_in_limit,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut guesser = app.browser();
        for n in 0..30 {
            let reply = account(&mut guesser, &format!("guess-{n}")).await;
            assert_problem(&reply, 400, "invalid_link");
        }
        let limited = account(&mut guesser, "guess-30").await;
        assert_problem(&limited, 429, "rate_limited");
        assert!(limited.headers.contains_key("retry-after"));
        // One budget for both routes: guesses here leave none for signing in.
        let login = guesser
            .post("/api/auth/email-link/login", json!({ "token": "guess-31" }))
            .await;
        assert_problem(&login, 429, "rate_limited");
        app.stop().await;
    }
);
