//! The real thing: headless Chromium signs up and signs in on the console page Raptor serves,
//! with Chromium's own WebAuthn stack and a virtual authenticator, on both dialects.

use raptor_testkit::{accounts, dual_test, Chromium, TestApp};
use serde_json::json;

/// Clicks a button and waits for the page's status to settle; returns `state: text`.
const CLICK_AND_WAIT: &str = r#"
(async (id) => {
  const status = document.getElementById("status");
  status.dataset.state = "idle";
  document.getElementById(id).click();
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const state = status.dataset.state;
    if (state !== "idle" && state !== "busy") return `${state}: ${status.textContent}`;
  }
  return `timeout: ${status.textContent}`;
})"#;

/// Waits for the page's status to leave `idle` and `busy` (the page settling by itself);
/// returns `state: text`.
const WAIT_FOR_STATUS: &str = r#"
(async () => {
  const status = document.getElementById("status");
  for (let i = 0; i < 600; i++) {
    const state = status.dataset.state;
    if (state !== "idle" && state !== "busy") return `${state}: ${status.textContent}`;
    await new Promise((r) => setTimeout(r, 50));
  }
  return `timeout: ${status.textContent}`;
})()"#;

async fn click(chromium: &mut Chromium, id: &str) -> String {
    let value = chromium
        .eval(&format!("{CLICK_AND_WAIT}({})", json!(id)))
        .await;
    value.as_str().unwrap_or_default().to_owned()
}

dual_test!(
    chromium_signs_up_signs_out_and_signs_in_with_a_discoverable_passkey,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut chromium = Chromium::launch().await;
        let authenticator = chromium.add_virtual_authenticator().await;
        chromium.goto(&format!("{}/", app.origin())).await;

        chromium
            .eval(
                r#"document.getElementById("email").value = "grace@example.com";
                 document.getElementById("display-name").value = "Grace Hopper";"#,
            )
            .await;
        assert_eq!(
            click(&mut chromium, "signup").await,
            "signed-in: Signed in as grace@example.com"
        );
        assert_eq!(
            t.scalar("SELECT count(*) FROM webauthn_credentials").await,
            1
        );

        assert_eq!(
            click(&mut chromium, "signout").await,
            "signed-out: Signed out"
        );
        // No email typed: the browser offers the discoverable passkey it holds.
        assert_eq!(
            click(&mut chromium, "signin").await,
            "signed-in: Signed in as grace@example.com"
        );

        let credentials = chromium
            .call(
                "WebAuthn.getCredentials",
                json!({ "authenticatorId": authenticator }),
            )
            .await;
        let credential = &credentials["credentials"][0];
        assert_eq!(credential["isResidentCredential"], true, "{credentials}");
        assert_eq!(credential["rpId"], "localhost");
        let logins = raptor_store::audit::recent(t.db(), Some("auth.login"), 10)
            .await
            .expect("audit");
        assert_eq!(logins.len(), 1);
        assert_eq!(logins[0].outcome, "success");
        chromium.close().await;
        app.stop().await;
    }
);

dual_test!(an_emailed_link_asks_before_it_signs_in, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    accounts::customer(&app, "ada@example.com").await;
    let asked = app
        .browser()
        .post(
            "/api/auth/email-link",
            json!({ "email": "ada@example.com" }),
        )
        .await;
    assert_eq!(asked.status, 202);
    app.run_jobs().await;
    let mail = app.mail_sent();
    let body = mail[0]["text_body"].as_str().expect("body");
    let link = body
        .split_whitespace()
        .find(|word| word.contains("/signin/email#token="))
        .expect("a link");
    let used = "SELECT count(*) FROM email_login_tokens WHERE used_at IS NOT NULL";

    let mut chromium = Chromium::launch().await;
    chromium.goto(link).await;
    let status = chromium.eval(WAIT_FOR_STATUS).await;
    assert_eq!(
        status.as_str(),
        Some("link-ready: Sign in as ada@example.com?")
    );
    let button = chromium
        .eval(r#"document.getElementById("email-link-signin").textContent"#)
        .await;
    assert_eq!(button.as_str(), Some("Sign in as ada@example.com"));
    let session = chromium
        .eval(r#"fetch("/api/auth/session").then((r) => r.status)"#)
        .await;
    assert_eq!(session, json!(401), "opening the link signed in");
    assert_eq!(t.scalar(used).await, 0, "opening the link used it");
    let address = chromium.eval("location.href").await;
    assert_eq!(
        address,
        json!(format!("{}/", app.origin())),
        "the token stays in the address bar"
    );

    assert_eq!(
        click(&mut chromium, "email-link-signin").await,
        "signed-in: Signed in from your email link: add a new passkey now."
    );
    assert_eq!(t.scalar(used).await, 1);
    let session = chromium
            .eval(r#"fetch("/api/auth/session").then((r) => r.json()).then((s) => s.session.auth_method)"#)
            .await;
    assert_eq!(session, json!("email_link"));
    chromium.close().await;
    app.stop().await;
});
