//! Cookies, one-time links and the bootstrap token (#13, class 7): the `__Host-` session
//! cookie, refusing two session cookies, sign-in links that retire each other, and the
//! ceremony that keeps only the bootstrap token's hash.

use std::collections::HashSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use raptor_testkit::{accounts, assert_problem, dual_app_test, Browser, TestApp};
use serde_json::json;

dual_app_test!(
    an_https_server_sets_a_host_prefixed_secure_cookie,
    |t, app| {
        let secure = TestApp::builder(t.db().clone())
            .public_url("https://raxx.test")
            .spawn()
            .await;
        let mut browser = secure.browser();
        let reply = raptor_testkit::SoftAuthenticator::new(secure.origin())
            .sign_up(&mut browser, "ada@example.com", None)
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let set = reply
            .headers
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("a session cookie");
        let (pair, attributes) = set.split_once(';').expect("attributes");
        assert!(
            pair.starts_with("__Host-raptor_session=")
                && pair.len() > "__Host-raptor_session=".len(),
            "{set}"
        );
        let attributes: Vec<&str> = attributes.split(';').map(str::trim).collect();
        assert!(attributes.contains(&"Secure"), "{set}");
        assert!(attributes.contains(&"Path=/"), "{set}");
        assert!(
            !attributes
                .iter()
                .any(|a| a.to_ascii_lowercase().starts_with("domain")),
            "{set}"
        );
        assert_eq!(browser.get("/api/auth/session").await.status, 200);

        // The unprefixed name, which a sibling subdomain could set, is not a session here.
        let value = browser.cookie.clone().expect("cookie");
        let reply = reqwest::Client::new()
            .get(secure.url("/api/auth/session"))
            .header("Cookie", format!("raptor_session={value}"))
            .send()
            .await
            .expect("request");
        assert_eq!(reply.status(), 401);
        secure.stop().await;
    }
);

dual_app_test!(a_request_with_two_session_cookies_is_refused, |t, app| {
    let mut ada = accounts::customer(app, "ada@example.com").await;
    let valid = ada.cookie.clone().expect("signed in");
    let mut attacker = accounts::customer(app, "eve@example.com").await;
    let planted = attacker.cookie.clone().expect("signed in");
    // Whichever comes first, two session cookies are one too many.
    for cookies in [
        format!("{valid}; raptor_session={planted}"),
        format!("{planted}; raptor_session={valid}"),
    ] {
        let mut browser: Browser = app.browser();
        browser.cookie = Some(cookies);
        let reply = browser.get("/api/auth/session").await;
        assert_problem(&reply, 401, "ambiguous_session");
    }
    assert_eq!(ada.get("/api/auth/session").await.status, 200);
    assert_eq!(attacker.get("/api/auth/session").await.status, 200);
});

/// Asks for a sign-in link for `email`, lets the worker mail it, and returns its token.
async fn mailed_link(app: &TestApp, db: &raptor_store::Db, email: &str) -> String {
    let seen: HashSet<String> = link_tokens(app, email);
    // Stands in for the next 5-minute window: the worker mails one link per address per
    // window and drops the rest (lockout.rs tests that), so clear the counted windows.
    raptor_store::rate_limits::purge(db, chrono::Utc::now() + chrono::Duration::days(1))
        .await
        .expect("purge rate-limit windows");
    let asked = app
        .browser()
        .post("/api/auth/email-link", json!({ "email": email }))
        .await;
    assert_eq!(asked.status, 202, "{:?}", asked.body);
    app.run_jobs().await;
    let mut fresh: Vec<String> = link_tokens(app, email)
        .into_iter()
        .filter(|token| !seen.contains(token))
        .collect();
    assert_eq!(fresh.len(), 1, "one new link");
    fresh.remove(0)
}

fn link_tokens(app: &TestApp, email: &str) -> HashSet<String> {
    app.mail_sent()
        .iter()
        .filter(|mail| mail["to"] == email)
        .filter_map(|mail| {
            let body = mail["text_body"].as_str()?;
            let rest = body.split("/signin/email#token=").nth(1)?;
            rest.split_whitespace().next().map(str::to_owned)
        })
        .collect()
}

async fn sign_in_with(app: &TestApp, token: &str) -> raptor_testkit::Reply {
    app.browser()
        .post("/api/auth/email-link/login", json!({ "token": token }))
        .await
}

dual_app_test!(a_newer_sign_in_link_retires_the_older_one, |t, app| {
    accounts::customer(app, "ada@example.com").await;
    let first = mailed_link(app, t.db(), "ada@example.com").await;
    let second = mailed_link(app, t.db(), "ada@example.com").await;
    assert_problem(&sign_in_with(app, &first).await, 400, "invalid_link");
    assert_eq!(sign_in_with(app, &second).await.status, 200);
});

dual_app_test!(signing_in_with_a_link_retires_the_others, |t, app| {
    accounts::customer(app, "ada@example.com").await;
    let first = mailed_link(app, t.db(), "ada@example.com").await;
    let second = mailed_link(app, t.db(), "ada@example.com").await;
    // Two workers minting at once can each leave a live link: make both live again.
    t.execute(
        "UPDATE email_login_tokens SET expires_at = \
         (SELECT max(expires_at) FROM email_login_tokens) WHERE purpose = 'login'",
    )
    .await;
    assert_eq!(
        t.scalar(
            "SELECT count(*) FROM email_login_tokens WHERE used_at IS NULL AND purpose = 'login'"
        )
        .await,
        2
    );
    assert_eq!(sign_in_with(app, &second).await.status, 200);
    assert_problem(&sign_in_with(app, &first).await, 400, "invalid_link");
});

dual_app_test!(
    a_pending_sign_up_keeps_only_the_bootstrap_tokens_hash,
    |t, app| {
        let token = "bootstrap-token-for-the-ceremony-test";
        let now = raptor_testkit::now();
        raptor_store::tokens::issue_bootstrap(
            t.db(),
            &raptor_app::secrets::token_hash(token),
            "test",
            now,
            now + chrono::Duration::hours(1),
        )
        .await
        .expect("bootstrap token");
        let reply = app
        .browser()
        .post(
            "/api/auth/register/options",
            json!({ "email": "root@example.com", "display_name": "Root", "bootstrap_token": token }),
        )
        .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let count = |needle: &str| {
            format!(
            "SELECT count(*) FROM webauthn_challenges WHERE CAST(context AS TEXT) LIKE '%{needle}%'"
        )
        };
        assert_eq!(
            t.scalar(&count("root@example.com")).await,
            1,
            "the ceremony row"
        );
        assert_eq!(t.scalar(&count(token)).await, 0, "the raw token is stored");
        let hash = URL_SAFE_NO_PAD.encode(raptor_app::secrets::token_hash(token));
        assert_eq!(t.scalar(&count(&hash)).await, 1, "the hash is missing");
    }
);
