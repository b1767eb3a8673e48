//! Cookies (#13, class 7): the `__Host-` session cookie and refusing two session cookies.

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
