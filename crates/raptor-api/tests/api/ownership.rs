//! Email ownership and what answers tell about accounts: an address is proven by a mailed
//! link before anything that depends on it trusts the account, a recovery link takes a
//! squatted account away from the squatter, sign-in options look the same for every address,
//! and sign-up's "taken" answer is rate-limited.

use raptor_testkit::{accounts, assert_problem, dual_app_test, SoftAuthenticator};
use serde_json::{json, Value};

const ADA: &str = "ada@example.com";

async fn session_user(browser: &mut raptor_testkit::Browser) -> Value {
    let session = browser.get("/api/auth/session").await;
    assert_eq!(session.status, 200, "{:?}", session.body);
    session.body["user"].clone()
}

dual_app_test!(a_sign_up_mails_a_link_that_proves_the_address, |t, app| {
    let mut ada = accounts::customer(app, ADA).await;
    assert_eq!(session_user(&mut ada).await["email_verified"], false);

    let token = accounts::emailed_token(app, ADA, "/verify-email")
        .await
        .expect("sign-up mails a verification link");
    // A verification link signs nobody in, and a sign-in link verifies nothing.
    let as_sign_in = app
        .browser()
        .post("/api/auth/email-link/login", json!({ "token": token }))
        .await;
    assert_problem(&as_sign_in, 400, "invalid_link");

    // The link alone is not enough: the account's own sign-in must be there too.
    let signed_out = app
        .browser()
        .post("/api/auth/verify-email", json!({ "token": token }))
        .await;
    assert_problem(&signed_out, 401, "not_signed_in");
    let mut eve = accounts::customer(app, "eve@example.com").await;
    let someone_else = eve
        .post("/api/auth/verify-email", json!({ "token": token }))
        .await;
    assert_problem(&someone_else, 400, "invalid_link");
    assert_eq!(session_user(&mut eve).await["email_verified"], false);

    let verified = ada
        .post("/api/auth/verify-email", json!({ "token": token }))
        .await;
    assert_eq!(verified.status, 200, "{:?}", verified.body);
    assert_eq!(verified.body["user"]["email"], ADA);
    assert_eq!(verified.body["user"]["email_verified"], true);
    assert_eq!(session_user(&mut ada).await["email_verified"], true);
    let again = ada
        .post("/api/auth/verify-email", json!({ "token": token }))
        .await;
    assert_problem(&again, 400, "invalid_link");
    assert_problem(
        &ada.post("/api/auth/verify-email/resend", json!({})).await,
        409,
        "email_already_verified",
    );
    let audited = raptor_store::audit::recent(t.db(), Some("auth.email_verify"), 10)
        .await
        .expect("audit");
    let outcomes: Vec<&str> = audited.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["failure", "success", "failure"], "newest first");
});

dual_app_test!(
    every_verification_link_works_until_one_is_used_and_asking_is_limited,
    |_t, app| {
        let mut ada = accounts::customer(app, ADA).await;
        let first = accounts::emailed_token(app, ADA, "/verify-email")
            .await
            .expect("the sign-up's link");
        for _ in 0..3 {
            let resent = ada.post("/api/auth/verify-email/resend", json!({})).await;
            assert_eq!(resent.status, 202, "{:?}", resent.body);
            assert_eq!(resent.body["email"], ADA);
        }
        let refused = ada.post("/api/auth/verify-email/resend", json!({})).await;
        assert_problem(&refused, 429, "rate_limited");
        assert!(refused.headers.contains_key("retry-after"));
        let newest = accounts::emailed_token(app, ADA, "/verify-email")
            .await
            .expect("a new link");
        assert_ne!(newest, first);
        // A user who opens the first mail they find is not told it is stale.
        let old = ada
            .post("/api/auth/verify-email", json!({ "token": first }))
            .await;
        assert_eq!(old.status, 200, "{:?}", old.body);
        let spent = ada
            .post("/api/auth/verify-email", json!({ "token": newest }))
            .await;
        assert_problem(&spent, 400, "invalid_link");
        let anonymous = app
            .browser()
            .post("/api/auth/verify-email/resend", json!({}))
            .await;
        assert_problem(&anonymous, 401, "not_signed_in");
    }
);

dual_app_test!(
    a_recovery_link_takes_a_squatted_account_away_from_the_squatter,
    |t, app| {
        // Eve signs up with Ada's address before Ada does, and never proves it.
        let mut eve = app.browser();
        let mut eves_key = SoftAuthenticator::new(app.origin());
        assert_eq!(eves_key.sign_up(&mut eve, ADA, None).await.status, 200);
        let mut eve_elsewhere = app.browser();
        assert_eq!(eves_key.sign_in(&mut eve_elsewhere, ADA).await.status, 200);

        let mut eve_again = app.browser();
        let before = eve_again
            .post("/api/auth/login/options", json!({ "email": ADA }))
            .await;

        // The confirmation mail reaches Ada; clicking it does not confirm Eve's account.
        let confirmation = accounts::emailed_token(app, ADA, "/verify-email")
            .await
            .expect("the sign-up's confirmation mail");
        let clicked = app
            .browser()
            .post("/api/auth/verify-email", json!({ "token": confirmation }))
            .await;
        assert_problem(&clicked, 401, "not_signed_in");

        // Ada cannot sign up, so she asks for a link: it reaches her inbox, not Eve's.
        let taken = app
            .browser()
            .post(
                "/api/auth/register/options",
                json!({ "email": ADA, "display_name": "Ada" }),
            )
            .await;
        assert_problem(&taken, 409, "email_taken");
        let mut ada = accounts::email_link_session(app, ADA).await;
        let user = session_user(&mut ada).await;
        assert_eq!(user["email_verified"], true);

        // Everything Eve had is gone: her sessions, and her passkey no longer signs in.
        assert_problem(&eve.get("/api/auth/session").await, 401, "not_signed_in");
        assert_problem(
            &eve_elsewhere.get("/api/auth/session").await,
            401,
            "not_signed_in",
        );
        let after = app
            .browser()
            .post("/api/auth/login/options", json!({ "email": ADA }))
            .await;
        let eves_ids = allowed_ids(&before.body);
        assert!(
            allowed_ids(&after.body)
                .iter()
                .all(|id| !eves_ids.contains(id)),
            "Eve's passkey is still offered"
        );
        let credential = eves_key.get(&before.body);
        let retry = eve_again
            .post(
                "/api/auth/login",
                json!({ "ceremony_id": before.body["ceremony_id"], "credential": credential }),
            )
            .await;
        assert_problem(&retry, 401, "unknown_credential");
        let passkeys = ada.get("/api/auth/passkeys").await;
        assert_eq!(passkeys.body, json!([]), "Eve's passkey is still listed");
        let audited = raptor_store::audit::recent(t.db(), Some("auth.email_link"), 1)
            .await
            .expect("audit");
        let details = audited[0].details.clone().expect("details").0;
        assert_eq!(details["claimed"], true);
        assert_eq!(details["passkeys_removed"], 1);
        assert_eq!(details["sessions_revoked"], 2);
    }
);

dual_app_test!(
    a_recovery_link_into_a_verified_account_keeps_its_passkeys_and_sessions,
    |_t, app| {
        let mut ada = app.browser();
        let mut key = SoftAuthenticator::new(app.origin());
        assert_eq!(key.sign_up(&mut ada, ADA, None).await.status, 200);
        accounts::verify_email(app, &mut ada, ADA).await;
        let mut recovered = accounts::email_link_session(app, ADA).await;
        assert_eq!(session_user(&mut recovered).await["email_verified"], true);
        assert_eq!(ada.get("/api/auth/session").await.status, 200);
        assert_eq!(key.sign_in(&mut app.browser(), ADA).await.status, 200);
    }
);

/// The parts of sign-in options that differ per request or per account blanked, and the
/// allow-list cut to its first entry: what is left is what an observer could compare.
fn shape(options: &Value) -> Value {
    let mut shape = options.clone();
    shape["ceremony_id"] = json!("…");
    shape["publicKey"]["challenge"] = json!("…");
    if let Some(allowed) = shape["publicKey"]["allowCredentials"].as_array_mut() {
        allowed.truncate(1);
        for credential in allowed {
            credential["id"] = json!("…");
        }
    }
    shape
}

fn allowed_ids(options: &Value) -> Vec<String> {
    options["publicKey"]["allowCredentials"]
        .as_array()
        .expect("an allow-list")
        .iter()
        .map(|c| c["id"].as_str().expect("an id").to_owned())
        .collect()
}

dual_app_test!(sign_in_options_do_not_tell_who_has_an_account, |_t, app| {
    accounts::customer(app, ADA).await;
    let ask = |email: &'static str| {
        let mut stranger = app.browser();
        async move {
            let reply = stranger
                .post("/api/auth/login/options", json!({ "email": email }))
                .await;
            assert_eq!(reply.status, 200, "{:?}", reply.body);
            reply.body
        }
    };
    let known = ask(ADA).await;
    let unknown = ask("nobody@example.com").await;
    let unknown_again = ask("nobody@example.com").await;
    let other_unknown = ask("somebody@example.com").await;
    // Same fields with the same values; an allow-list either way.
    assert_eq!(shape(&known), shape(&unknown));
    let (known_ids, unknown_ids) = (allowed_ids(&known), allowed_ids(&unknown));
    assert!((1..=2).contains(&unknown_ids.len()), "{unknown}");
    assert!(known.get("mediation").is_none() && unknown.get("mediation").is_none());
    // A decoy is as stable as a real id, and each address gets its own.
    assert_eq!(unknown_ids, allowed_ids(&unknown_again));
    assert_ne!(unknown_ids, allowed_ids(&other_unknown));
    assert_ne!(known_ids, unknown_ids);
});

dual_app_test!(
    sign_up_says_an_address_is_taken_only_so_often_per_client,
    |_t, app| {
        accounts::customer(app, ADA).await; // the kit's sign-up is this client's first start
        let mut prober = app.browser();
        for n in 1..10 {
            let email = if n % 2 == 0 {
                ADA.to_owned()
            } else {
                format!("probe{n}@example.com")
            };
            let reply = prober
                .post(
                    "/api/auth/register/options",
                    json!({ "email": email, "display_name": "Probe" }),
                )
                .await;
            assert!([200, 409].contains(&reply.status), "{n}: {:?}", reply.body);
        }
        let refused = prober
            .post(
                "/api/auth/register/options",
                json!({ "email": ADA, "display_name": "Probe" }),
            )
            .await;
        assert_problem(&refused, 429, "rate_limited");
    }
);
