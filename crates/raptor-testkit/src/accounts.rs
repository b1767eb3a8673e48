//! Signed-in users for tests, made the way users make them: passkey ceremonies over HTTP.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::app::{Browser, TestApp};
use crate::passkey::SoftAuthenticator;

/// A browser signed up (and so signed in) as a new customer.
pub async fn customer(app: &TestApp, email: &str) -> Browser {
    let mut browser = app.browser();
    let reply = SoftAuthenticator::new(app.origin())
        .sign_up(&mut browser, email, None)
        .await;
    assert_eq!(reply.status, 200, "sign-up of {email}: {:?}", reply.body);
    browser
}

/// A browser signed up as an admin, with a bootstrap token issued as the CLI issues it, and
/// its address verified (the queue is run for that). Its session proved a passkey just now, so it may use the permissions that need a recent passkey
/// proof for the next ten minutes.
pub async fn admin(app: &TestApp, db: &raptor_store::Db, email: &str) -> Browser {
    admin_with_passkey(app, db, email).await.0
}

/// [`admin`], with the passkey, to sign in again (a step-up) later.
pub async fn admin_with_passkey(
    app: &TestApp,
    db: &raptor_store::Db,
    email: &str,
) -> (Browser, SoftAuthenticator) {
    let token = format!("bootstrap-{email}");
    let now = crate::now();
    raptor_store::tokens::issue_bootstrap(
        db,
        &Sha256::digest(token.as_bytes()),
        "test",
        now,
        now + chrono::Duration::hours(1),
    )
    .await
    .expect("bootstrap token");
    let mut browser = app.browser();
    let mut passkey = SoftAuthenticator::new(app.origin());
    let reply = passkey.sign_up(&mut browser, email, Some(&token)).await;
    assert_eq!(
        reply.status, 200,
        "admin sign-up of {email}: {:?}",
        reply.body
    );
    verify_email(app, &mut browser, email).await;
    (browser, passkey)
}

/// Asks for a sign-in link to `email`, lets a worker mail it, and returns the token of the
/// newest link mailed to `email` (read from what the server sent, as its recipient would).
pub async fn mailed_link_token(app: &TestApp, email: &str) -> String {
    let asked = app
        .browser()
        .post("/api/auth/email-link", json!({ "email": email }))
        .await;
    assert_eq!(
        asked.status, 202,
        "email-link for {email}: {:?}",
        asked.body
    );
    emailed_token(app, email, "/signin/email")
        .await
        .expect("a sign-in link in the mail sent")
}

/// A fresh browser signed in as `email` through an emailed sign-in link, as a user who lost
/// their passkey would.
pub async fn email_link_session(app: &TestApp, email: &str) -> Browser {
    let token = mailed_link_token(app, email).await;
    let mut browser = app.browser();
    let reply = browser
        .post("/api/auth/email-link/login", json!({ "token": token }))
        .await;
    assert_eq!(reply.status, 200, "email-link login: {:?}", reply.body);
    browser
}

/// The token of the newest link mailed to `email` that leads to `path` (`/verify-email`,
/// `/signin/email`), once the queued mail jobs ran; read from what the server sent.
pub async fn emailed_token(app: &TestApp, email: &str, path: &str) -> Option<String> {
    app.run_jobs().await;
    let marker = format!("{path}#token=");
    app.mail_sent()
        .iter()
        .filter(|mail| mail["to"] == email)
        .find_map(|mail| {
            let body = mail["text_body"].as_str()?;
            let rest = body.split(marker.as_str()).nth(1)?;
            rest.split_whitespace().next().map(str::to_owned)
        })
}

/// Proves `email`'s address with the verification link mailed at sign-up, from `browser`
/// signed in as that account, as its owner would.
pub async fn verify_email(app: &TestApp, browser: &mut Browser, email: &str) {
    let token = emailed_token(app, email, "/verify-email")
        .await
        .expect("a verification link in the mail sent");
    let reply = browser
        .post("/api/auth/verify-email", json!({ "token": token }))
        .await;
    assert_eq!(reply.status, 200, "verify-email: {:?}", reply.body);
}

/// A browser signed up as a customer who proved their address.
pub async fn verified_customer(app: &TestApp, email: &str) -> Browser {
    let mut browser = customer(app, email).await;
    verify_email(app, &mut browser, email).await;
    browser
}

/// The id of the user a browser is signed in as.
pub async fn user_id(browser: &mut Browser) -> i64 {
    let session = browser.get("/api/auth/session").await;
    session.body["user"]["id"].as_i64().expect("signed in")
}

/// A browser signed up as a customer, verified, and granted `support` by `admin`.
pub async fn support_staff(app: &TestApp, admin: &mut Browser, email: &str) -> Browser {
    let mut staff = verified_customer(app, email).await;
    let id = user_id(&mut staff).await;
    let granted = admin
        .post(
            &format!("/api/admin/users/{id}/roles"),
            json!({ "role": "support" }),
        )
        .await;
    assert_eq!(granted.status, 200, "{:?}", granted.body);
    staff
}

/// Steps a signed-in browser's session up with `passkey` (`/api/auth/step-up`): the same
/// session, with a fresh passkey proof.
pub async fn step_up(browser: &mut Browser, passkey: &mut SoftAuthenticator) -> crate::Reply {
    let options = browser.post("/api/auth/step-up/options", json!({})).await;
    assert_eq!(options.status, 200, "step-up/options: {:?}", options.body);
    let credential = passkey.get(&options.body);
    browser
        .post(
            "/api/auth/step-up",
            json!({ "ceremony_id": options.body["ceremony_id"], "credential": credential }),
        )
        .await
}

/// Makes an API key pair through `browser`'s session (which must be fresh) and returns a bot
/// holding it.
pub async fn bot(app: &TestApp, browser: &mut Browser) -> Browser {
    let made = browser.post("/api/keys", json!({ "name": "bot" })).await;
    assert_eq!(made.status, 201, "POST /api/keys: {:?}", made.body);
    let key_id = made.body["key_id"].as_str().expect("key_id");
    let secret = made.body["secret"].as_str().expect("secret");
    Browser::bot(&app.url(""), key_id, secret)
}
