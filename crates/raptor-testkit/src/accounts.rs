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

/// A browser signed up as an admin, with a bootstrap token issued as the CLI issues it.
pub async fn admin(app: &TestApp, db: &raptor_store::Db, email: &str) -> Browser {
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
    let reply = SoftAuthenticator::new(app.origin())
        .sign_up(&mut browser, email, Some(&token))
        .await;
    assert_eq!(
        reply.status, 200,
        "admin sign-up of {email}: {:?}",
        reply.body
    );
    browser
}

/// The id of the user a browser is signed in as.
pub async fn user_id(browser: &mut Browser) -> i64 {
    let session = browser.get("/api/auth/session").await;
    session.body["user"]["id"].as_i64().expect("signed in")
}

/// A browser signed up as a customer and granted `support` by `admin`.
pub async fn support_staff(app: &TestApp, admin: &mut Browser, email: &str) -> Browser {
    let mut staff = customer(app, email).await;
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
