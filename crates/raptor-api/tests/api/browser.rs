//! The real thing: headless Chromium signs up and signs in on the console page Raptor serves,
//! with Chromium's own WebAuthn stack and a virtual authenticator, on both dialects.

use std::sync::Arc;

use chrono::Duration;
use raptor_app::FixedClock;
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

/// Fills in the console's sign-up form and presses the button; the page's status after.
async fn sign_up_in_console(chromium: &mut Chromium, email: &str, name: &str) -> String {
    chromium
        .eval(&format!(
            r#"document.getElementById("email").value = {};
               document.getElementById("display-name").value = {};"#,
            json!(email),
            json!(name)
        ))
        .await;
    click(chromium, "signup").await
}

dual_test!(
    chromium_signs_up_signs_out_and_signs_in_with_a_discoverable_passkey,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut chromium = Chromium::launch().await;
        let authenticator = chromium.add_virtual_authenticator().await;
        chromium.goto(&format!("{}/", app.origin())).await;

        assert_eq!(
            sign_up_in_console(&mut chromium, "grace@example.com", "Grace Hopper").await,
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

/// Makes the page's `navigator.credentials.create` wait until the test releases it
/// (`__releaseCreate()`), flagging `__createAsked` when the page calls it.
const HOLD_CREATE: &str = r#"
(() => {
  const create = navigator.credentials.create.bind(navigator.credentials);
  let release;
  const released = new Promise((r) => { release = r; });
  window.__releaseCreate = release;
  window.__createAsked = false;
  navigator.credentials.create = async (options) => {
    window.__createAsked = true;
    await released;
    return create(options);
  };
})()"#;

/// Waits until the page asks for a new credential (`create`) or its status settles (`state:
/// text`).
const UNTIL_CREATE_OR_SETTLED: &str = r#"
(async () => {
  const status = document.getElementById("status");
  for (let i = 0; i < 600; i++) {
    if (window.__createAsked) return "create";
    const state = status.dataset.state;
    if (state !== "idle" && state !== "busy") return `${state}: ${status.textContent}`;
    await new Promise((r) => setTimeout(r, 50));
  }
  return `timeout: ${status.textContent}`;
})()"#;

/// Releases the held `create` and waits for the page's status to settle; returns `state: text`.
const RELEASE_AND_WAIT: &str = r#"
(async () => {
  const status = document.getElementById("status");
  window.__releaseCreate();
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const state = status.dataset.state;
    if (state !== "idle" && state !== "busy") return `${state}: ${status.textContent}`;
  }
  return `timeout: ${status.textContent}`;
})()"#;

dual_test!(
    chromium_proves_a_passkey_again_when_an_old_session_adds_one,
    Head,
    |t| {
        let clock = Arc::new(FixedClock::new(raptor_testkit::now()));
        let app = TestApp::builder(t.db().clone())
            .clock(clock.clone())
            .spawn()
            .await;
        let mut chromium = Chromium::launch().await;
        let laptop = chromium.add_virtual_authenticator().await;
        chromium.goto(&format!("{}/", app.origin())).await;
        assert_eq!(
            sign_up_in_console(&mut chromium, "grace@example.com", "Grace Hopper").await,
            "signed-in: Signed in as grace@example.com"
        );

        // Eleven minutes on the session may no longer change passkeys without a fresh proof.
        clock.advance(Duration::minutes(11));
        // The new passkey is made on another authenticator: the laptop's holds one of the
        // account's passkeys, which the options exclude. The test swaps authenticators once
        // the page has proved the old passkey and asks for a new one.
        chromium.eval(HOLD_CREATE).await;
        chromium
            .eval(
                r#"document.getElementById("status").dataset.state = "idle";
                 document.getElementById("add-passkey").click();"#,
            )
            .await;
        let asked = chromium.eval(UNTIL_CREATE_OR_SETTLED).await;
        assert_eq!(asked, "create", "the page never asked for the new passkey");
        chromium
            .call(
                "WebAuthn.removeVirtualAuthenticator",
                json!({ "authenticatorId": laptop }),
            )
            .await;
        chromium.add_virtual_authenticator().await;
        assert_eq!(
            chromium.eval(RELEASE_AND_WAIT).await,
            "signed-in: Passkey added"
        );
        assert_eq!(
            t.scalar("SELECT count(*) FROM webauthn_credentials").await,
            2
        );
        let step_ups = raptor_store::audit::recent(t.db(), Some("auth.step_up"), 10)
            .await
            .expect("audit");
        assert_eq!(step_ups.len(), 1);
        assert_eq!(step_ups[0].outcome, "success");
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
    let link = mail
        .iter()
        .filter_map(|mail| mail["text_body"].as_str())
        .flat_map(str::split_whitespace)
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

dual_test!(
    a_verification_link_asks_before_it_confirms_the_address,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut chromium = Chromium::launch().await;
        chromium.add_virtual_authenticator().await;
        chromium.goto(&format!("{}/", app.origin())).await;
        assert_eq!(
            sign_up_in_console(&mut chromium, "ada@example.com", "Ada Lovelace").await,
            "signed-in: Signed in as ada@example.com"
        );
        let token = accounts::emailed_token(&app, "ada@example.com", "/verify-email")
            .await
            .expect("a verification link");
        let verified = "SELECT count(*) FROM users WHERE email_verified_at IS NOT NULL";

        chromium
            .goto(&format!("{}/verify-email#token={token}", app.origin()))
            .await;
        let status = chromium.eval(WAIT_FOR_STATUS).await;
        assert_eq!(status.as_str(), Some("link-ready: Confirm your address?"));
        assert_eq!(t.scalar(verified).await, 0, "opening the link confirmed it");
        assert_eq!(
            click(&mut chromium, "verify-email").await,
            "verified: Address ada@example.com confirmed."
        );
        assert_eq!(t.scalar(verified).await, 1);
        chromium.close().await;
        app.stop().await;
    }
);
