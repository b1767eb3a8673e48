//! A stolen session must not become a lasting takeover: adding or removing a passkey and new
//! backup codes need a session that signed in or proved a passkey within the last ten minutes,
//! each change emails the user once, and it signs the user's other sessions out.

use std::sync::Arc;

use chrono::Duration;
use raptor_app::FixedClock;
use raptor_store::{audit, outbox};
use raptor_testkit::{
    accounts, assert_problem, dual_test, Browser, Reply, SoftAuthenticator, TestApp, TestDb,
};
use serde_json::{json, Value};

const EMAIL: &str = "ada@example.com";
const ADA_IP: &str = "198.51.100.7";

/// A server behind a trusted proxy whose clock stands still until the test moves it.
async fn app_with_clock(t: &TestDb) -> (TestApp, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(raptor_testkit::now()));
    let app = TestApp::builder(t.db().clone())
        .trust_proxy()
        .clock(clock.clone())
        .spawn()
        .await;
    (app, clock)
}

/// Ada, signed up with a passkey from her laptop at [`ADA_IP`].
async fn ada(app: &TestApp) -> (Browser, SoftAuthenticator) {
    let mut browser = app.browser();
    browser.forwarded_for = Some(ADA_IP.to_owned());
    let mut key = SoftAuthenticator::new(app.origin());
    let reply = key.sign_up(&mut browser, EMAIL, None).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    accounts::verify_email(app, &mut browser, EMAIL).await;
    (browser, key)
}

/// Another browser signed in as `email` with `key`.
async fn signed_in(app: &TestApp, key: &mut SoftAuthenticator, email: &str) -> Browser {
    let mut browser = app.browser();
    let reply = key.sign_in(&mut browser, email).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    browser
}

/// Starts adding a passkey: the options reply.
async fn add_options(browser: &mut Browser) -> Reply {
    browser.post("/api/auth/passkeys/options", json!({})).await
}

/// Finishes adding `key` as a passkey called `name` with `options`.
async fn add_finish(
    browser: &mut Browser,
    key: &mut SoftAuthenticator,
    options: &Reply,
    name: &str,
) -> Reply {
    let credential = key.create(&options.body);
    browser
        .post(
            "/api/auth/passkeys",
            json!({ "ceremony_id": options.body["ceremony_id"], "credential": credential, "name": name }),
        )
        .await
}

/// Adds `key` as a passkey called `name`; asserts it was added and returns its id.
async fn add_passkey(browser: &mut Browser, key: &mut SoftAuthenticator, name: &str) -> i64 {
    let options = add_options(browser).await;
    assert_eq!(options.status, 200, "{:?}", options.body);
    let added = add_finish(browser, key, &options, name).await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    added.body["id"].as_i64().expect("id")
}

async fn passkey_count(browser: &mut Browser) -> usize {
    let listed = browser.get("/api/auth/passkeys").await;
    listed.body.as_array().expect("passkeys").len()
}

/// The credential-change notices sent so far (the queue is run first), oldest first.
async fn notices(app: &TestApp, t: &TestDb) -> Vec<Value> {
    app.run_jobs().await;
    let mut sent: Vec<Value> = outbox::recent(t.db(), 100)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|mail| mail["tag"] == "credential_change")
        .collect();
    sent.reverse();
    sent
}

/// The details of the newest audit entry for `action`.
async fn last_audit(t: &TestDb, action: &str) -> Value {
    let entries = audit::recent(t.db(), Some(action), 1).await.expect("audit");
    let entry = entries.first().expect("an audit entry");
    assert_eq!(entry.outcome, "success");
    entry
        .details
        .as_ref()
        .map(|d| d.0.clone())
        .unwrap_or(Value::Null)
}

fn detail(reply: &Reply) -> String {
    reply.body["detail"].as_str().unwrap_or_default().to_owned()
}

dual_test!(
    a_stale_session_changes_no_credential_until_it_proves_a_passkey,
    Head,
    |t| {
        let (app, clock) = app_with_clock(t).await;
        let (mut laptop, mut key) = ada(&app).await;
        let mut phone_key = SoftAuthenticator::new(app.origin());
        let phone_id = add_passkey(&mut laptop, &mut phone_key, "Phone").await;
        let before = notices(&app, t).await.len();
        let started = add_options(&mut laptop).await;
        assert_eq!(started.status, 200, "{:?}", started.body);

        // Eleven minutes after the sign-in, the session may still read but not change.
        clock.advance(Duration::minutes(11));
        assert_eq!(laptop.get("/api/auth/passkeys").await.status, 200);
        let mut third = SoftAuthenticator::new(app.origin());
        let refusals = [
            add_options(&mut laptop).await,
            add_finish(&mut laptop, &mut third, &started, "Tablet").await,
            laptop
                .delete(&format!("/api/auth/passkeys/{phone_id}"))
                .await,
            laptop.post("/api/auth/backup-codes", json!({})).await,
        ];
        for refused in &refusals {
            assert_problem(refused, 403, "step_up_required");
            assert!(
                detail(refused).contains("/api/auth/step-up"),
                "the detail says how to prove it: {:?}",
                refused.body
            );
        }
        assert_eq!(
            passkey_count(&mut laptop).await,
            2,
            "nothing was added or removed"
        );
        assert_eq!(
            laptop.get("/api/auth/backup-codes").await.body["remaining"],
            0,
            "no codes were made"
        );
        assert_eq!(
            notices(&app, t).await.len(),
            before,
            "a refusal mails nothing"
        );
        // Renaming is not a credential change.
        let renamed = laptop
            .patch(
                &format!("/api/auth/passkeys/{phone_id}"),
                json!({ "name": "Old phone" }),
            )
            .await;
        assert_eq!(renamed.status, 204, "{:?}", renamed.body);

        let stepped = accounts::step_up(&mut laptop, &mut key).await;
        assert_eq!(stepped.status, 200, "{:?}", stepped.body);
        add_passkey(&mut laptop, &mut third, "Tablet").await;
        let removed = laptop
            .delete(&format!("/api/auth/passkeys/{phone_id}"))
            .await;
        assert_eq!(removed.status, 204, "{:?}", removed.body);
        let codes = laptop.post("/api/auth/backup-codes", json!({})).await;
        assert_eq!(codes.status, 201, "{:?}", codes.body);
        assert_eq!(notices(&app, t).await.len(), before + 3);

        // The step-up, too, counts for ten minutes only.
        clock.advance(Duration::minutes(11));
        assert_problem(
            &laptop.post("/api/auth/backup-codes", json!({})).await,
            403,
            "step_up_required",
        );
        app.stop().await;
    }
);

dual_test!(
    a_session_from_an_emailed_link_adds_a_passkey_at_once_but_not_later,
    Head,
    |t| {
        let (app, clock) = app_with_clock(t).await;
        let (mut laptop, _lost_key) = ada(&app).await;
        clock.advance(Duration::hours(2));

        let mut recovering = accounts::email_link_session(&app, EMAIL).await;
        let session = recovering.get("/api/auth/session").await;
        assert_eq!(session.body["session"]["auth_method"], "email_link");
        assert_eq!(session.body["session"]["passkey_proved_at"], Value::Null);
        let mut new_key = SoftAuthenticator::new(app.origin());
        add_passkey(&mut recovering, &mut new_key, "New phone").await;
        assert_eq!(passkey_count(&mut recovering).await, 2);
        assert_problem(&laptop.get("/api/auth/session").await, 401, "not_signed_in");
        assert_eq!(new_key.sign_in(&mut app.browser(), EMAIL).await.status, 200);

        // Eleven minutes on, the link's session proved nothing recently: it is told to prove
        // the passkey it just added.
        clock.advance(Duration::minutes(11));
        let stale = recovering.post("/api/auth/backup-codes", json!({})).await;
        assert_problem(&stale, 403, "step_up_required");
        assert!(detail(&stale).contains("10 minutes"), "{:?}", stale.body);
        let stepped = accounts::step_up(&mut recovering, &mut new_key).await;
        assert_eq!(stepped.status, 200, "{:?}", stepped.body);
        let codes = recovering.post("/api/auth/backup-codes", json!({})).await;
        assert_eq!(codes.status, 201, "{:?}", codes.body);
        app.stop().await;
    }
);

dual_test!(
    each_change_mails_the_user_once_and_a_refused_change_mails_nobody,
    Head,
    |t| {
        let (app, _clock) = app_with_clock(t).await;
        let (mut laptop, mut key) = ada(&app).await;
        let mut bob = accounts::customer(&app, "bob@example.com").await;
        assert!(
            notices(&app, t).await.is_empty(),
            "signing up mails no notice"
        );

        let mut phone_key = SoftAuthenticator::new(app.origin());
        let phone_id = add_passkey(&mut laptop, &mut phone_key, "Phone").await;
        let sent = notices(&app, t).await;
        assert_eq!(sent.len(), 1, "{sent:#?}");
        let added = &sent[0];
        assert_eq!(added["to"], EMAIL);
        assert_eq!(added["subject"], "A passkey was added to your Raxx account");
        let body = added["text_body"].as_str().expect("body");
        for needed in ["\"Phone\"", ADA_IP, "sign-in link by email", app.origin()] {
            assert!(body.contains(needed), "{needed:?} missing from {body}");
        }

        let codes = laptop.post("/api/auth/backup-codes", json!({})).await;
        assert_eq!(codes.status, 201, "{:?}", codes.body);
        let sent = notices(&app, t).await;
        assert_eq!(sent.len(), 2, "{sent:#?}");
        assert_eq!(sent[1]["subject"], "New backup codes for your Raxx account");
        let body = sent[1]["text_body"].as_str().expect("body");
        for code in codes.body["codes"].as_array().expect("codes") {
            let code = code.as_str().expect("a code");
            assert!(
                !body.contains(code),
                "the notice carries a backup code: {body}"
            );
        }

        let removed = laptop
            .delete(&format!("/api/auth/passkeys/{phone_id}"))
            .await;
        assert_eq!(removed.status, 204, "{:?}", removed.body);
        let sent = notices(&app, t).await;
        assert_eq!(sent.len(), 3, "{sent:#?}");
        assert_eq!(
            sent[2]["subject"],
            "A passkey was removed from your Raxx account"
        );
        assert!(sent[2]["text_body"]
            .as_str()
            .expect("body")
            .contains("\"Phone\""));

        // Refused and rolled-back changes mail nothing and sign nobody out.
        let mut phone = signed_in(&app, &mut key, EMAIL).await;
        let listed = laptop.get("/api/auth/passkeys").await;
        let last = listed.body[0]["id"].as_i64().expect("the last passkey");
        assert_problem(
            &laptop.delete(&format!("/api/auth/passkeys/{last}")).await,
            409,
            "last_passkey",
        );
        assert_problem(
            &laptop.delete("/api/auth/passkeys/999999").await,
            404,
            "not_found",
        );
        assert_problem(
            &bob.delete(&format!("/api/auth/passkeys/{last}")).await,
            404,
            "not_found",
        );
        assert_eq!(notices(&app, t).await.len(), 3);
        assert_eq!(phone.get("/api/auth/session").await.status, 200);
        app.stop().await;
    }
);

dual_test!(
    a_credential_change_signs_out_the_users_other_sessions_only,
    Head,
    |t| {
        let (app, _clock) = app_with_clock(t).await;
        let (mut laptop, mut key) = ada(&app).await;
        let mut bob = accounts::customer(&app, "bob@example.com").await;

        let mut phone = signed_in(&app, &mut key, EMAIL).await;
        let mut tablet = signed_in(&app, &mut key, EMAIL).await;
        let codes = laptop.post("/api/auth/backup-codes", json!({})).await;
        assert_eq!(codes.status, 201, "{:?}", codes.body);
        for other in [&mut phone, &mut tablet] {
            assert_problem(&other.get("/api/auth/session").await, 401, "not_signed_in");
        }
        assert_eq!(laptop.get("/api/auth/session").await.status, 200);
        assert_eq!(bob.get("/api/auth/session").await.status, 200);
        assert_eq!(
            last_audit(t, "backup_codes.generate").await["revoked_sessions"],
            2
        );
        let live = laptop.get("/api/auth/sessions").await;
        assert_eq!(live.body.as_array().expect("sessions").len(), 1);

        let mut phone = signed_in(&app, &mut key, EMAIL).await;
        let mut second_key = SoftAuthenticator::new(app.origin());
        let second_id = add_passkey(&mut laptop, &mut second_key, "Laptop 2").await;
        assert_problem(&phone.get("/api/auth/session").await, 401, "not_signed_in");
        let details = last_audit(t, "passkey.add").await;
        assert_eq!(details["revoked_sessions"], 1, "{details}");
        assert_eq!(details["passkey_id"], second_id, "{details}");

        let mut phone = signed_in(&app, &mut key, EMAIL).await;
        let removed = laptop
            .delete(&format!("/api/auth/passkeys/{second_id}"))
            .await;
        assert_eq!(removed.status, 204, "{:?}", removed.body);
        assert_problem(&phone.get("/api/auth/session").await, 401, "not_signed_in");
        let details = last_audit(t, "passkey.delete").await;
        assert_eq!(details["revoked_sessions"], 1, "{details}");
        assert_eq!(details["passkey_id"], second_id, "{details}");

        assert_eq!(laptop.get("/api/auth/session").await.status, 200);
        assert_eq!(bob.get("/api/auth/session").await.status, 200);
        app.stop().await;
    }
);
