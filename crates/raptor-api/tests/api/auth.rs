//! Accounts over real HTTP on both dialects: passkey sign-up and sign-in with a software
//! authenticator, sessions, and every rejected ceremony.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::sync::Arc;

use chrono::{Duration, Utc};
use raptor_app::{Clock, FixedClock};
use raptor_store::{audit, users};
use raptor_testkit::{
    accounts, assert_problem, dual_test, Browser, Dialect, SoftAuthenticator, TestApp, TestDb,
};
use serde_json::{json, Value};

const EMAIL: &str = "ada@example.com";

async fn audit_reasons(t: &TestDb, action: &str) -> Vec<(String, Value)> {
    audit::recent(t.db(), Some(action), 50)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| (e.outcome, e.details.map(|d| d.0).unwrap_or(Value::Null)))
        .collect()
}

async fn signed_up(app: &TestApp) -> (Browser, SoftAuthenticator) {
    let mut browser = app.browser();
    let mut key = SoftAuthenticator::new(app.origin());
    let reply = key.sign_up(&mut browser, EMAIL, None).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    (browser, key)
}

/// The same base64url value with its last byte changed: a forged signature.
pub(crate) fn flip_base64url(value: &Value) -> Value {
    let mut bytes = URL_SAFE_NO_PAD
        .decode(value.as_str().expect("base64url"))
        .expect("decode");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    json!(URL_SAFE_NO_PAD.encode(bytes))
}

dual_test!(
    sign_up_sign_out_and_sign_in_again_with_the_same_passkey,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut browser = app.browser();
        let mut key = SoftAuthenticator::new(app.origin());

        let reply = key.sign_up(&mut browser, "  Ada@Example.com ", None).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body["user"]["email"], EMAIL);
        assert_eq!(reply.body["roles"], json!(["customer"]));
        let set_cookie = reply.headers["set-cookie"].to_str().expect("ascii");
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(set_cookie.contains(attribute), "{set_cookie}");
        }
        assert!(
            !set_cookie.contains("Secure"),
            "plain-http localhost cannot use Secure: {set_cookie}"
        );

        let session = browser.get("/api/auth/session").await;
        assert_eq!(session.status, 200, "{:?}", session.body);
        assert_eq!(session.body["user"]["email"], EMAIL);
        assert_eq!(session.body["session"]["auth_method"], "passkey");
        let user_id = session.body["user"]["id"].as_i64().expect("id");
        let cash = users::paper_cash(t.db(), user_id)
            .await
            .expect("cash")
            .expect("an account");
        assert_eq!(cash.to_string().parse::<f64>().ok(), Some(100_000.0));

        let old_cookie = browser.cookie.clone();
        assert_eq!(
            browser.post("/api/auth/logout", json!({})).await.status,
            200
        );
        assert_eq!(browser.cookie, None, "logout clears the cookie");
        let mut stale = app.browser();
        stale.cookie = old_cookie.clone();
        assert_eq!(
            stale.get("/api/auth/session").await.status,
            401,
            "a revoked session still works"
        );

        let reply = key.sign_in(&mut browser, EMAIL).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert!(
            browser.cookie.is_some() && browser.cookie != old_cookie,
            "a fresh session cookie"
        );
        assert_eq!(browser.get("/api/auth/session").await.status, 200);
        let logins = audit_reasons(t, "auth.login").await;
        assert_eq!(logins.first().map(|l| l.0.as_str()), Some("success"));
        app.stop().await;
    }
);

dual_test!(
    signature_counter_and_last_use_are_recorded_at_every_sign_in,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let (mut browser, mut key) = signed_up(&app).await;
        for _ in 0..2 {
            assert_eq!(key.sign_in(&mut browser, EMAIL).await.status, 200);
        }
        assert_eq!(
            t.scalar("SELECT sign_count FROM webauthn_credentials")
                .await,
            2
        );
        assert_eq!(
            t.scalar("SELECT count(*) FROM webauthn_credentials WHERE last_used_at IS NOT NULL")
                .await,
            1
        );
        app.stop().await;
    }
);

dual_test!(
    a_counter_that_goes_backwards_is_rejected_and_audited,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let (mut browser, mut key) = signed_up(&app).await;
        assert_eq!(key.sign_in(&mut browser, EMAIL).await.status, 200);
        // Another copy of this key has been seen at a much higher count: this one is a clone.
        let sql = match t.dialect() {
        Dialect::Sqlite => "UPDATE webauthn_credentials SET passkey = json_set(passkey, '$.cred.counter', 1000)",
        Dialect::Postgres => "UPDATE webauthn_credentials SET passkey = jsonb_set(passkey, '{cred,counter}', '1000')",
    };
        t.execute(sql).await;
        let reply = key.sign_in(&mut browser, EMAIL).await;
        assert_problem(&reply, 401, "counter_regressed");
        let failures = audit_reasons(t, "auth.login").await;
        assert_eq!(failures[0].0, "failure");
        assert_eq!(failures[0].1["reason"], "counter_regressed");
        app.stop().await;
    }
);

dual_test!(a_replayed_ceremony_is_refused_and_audited, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let mut browser = app.browser();
    let mut key = SoftAuthenticator::new(app.origin());
    let options = browser
        .post(
            "/api/auth/register/options",
            json!({ "email": EMAIL, "display_name": "Ada" }),
        )
        .await;
    let finish = json!({ "ceremony_id": options.body["ceremony_id"], "credential": key.create(&options.body) });
    assert_eq!(
        browser
            .post("/api/auth/register", finish.clone())
            .await
            .status,
        200
    );
    let replay = browser.post("/api/auth/register", finish).await;
    assert_problem(&replay, 400, "unknown_ceremony");
    assert_eq!(
        audit_reasons(t, "auth.register").await[0].1["reason"],
        "unknown_ceremony"
    );
    assert_eq!(t.scalar("SELECT count(*) FROM users").await, 1);
    app.stop().await;
});

/// A server whose clock stands still until the test moves it.
/// Makes every new session fail to insert while `failing_sessions` holds a row: a fault in
/// the transaction that finishes a ceremony, after the answer was verified.
async fn make_session_inserts_fail(t: &TestDb) {
    t.execute("CREATE TABLE failing_sessions (on_purpose INTEGER)")
        .await;
    t.execute("INSERT INTO failing_sessions VALUES (1)").await;
    match t.dialect() {
        Dialect::Sqlite => {
            t.execute(
                "CREATE TRIGGER fail_sessions BEFORE INSERT ON sessions \
                 WHEN EXISTS (SELECT 1 FROM failing_sessions) \
                 BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
            )
            .await
        }
        Dialect::Postgres => {
            t.execute(
                "CREATE FUNCTION fail_sessions() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF EXISTS (SELECT 1 FROM failing_sessions) THEN \
                 RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$",
            )
            .await;
            t.execute(
                "CREATE TRIGGER fail_sessions BEFORE INSERT ON sessions \
                 FOR EACH ROW EXECUTE FUNCTION fail_sessions()",
            )
            .await
        }
    }
}

dual_test!(
    a_sign_in_whose_commit_failed_can_be_answered_again_and_succeeds_once,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let (_, mut key) = signed_up(&app).await;
        make_session_inserts_fail(t).await;
        let mut browser = app.browser();
        let options = browser
            .post("/api/auth/login/options", json!({ "email": EMAIL }))
            .await;
        let answer = json!({ "ceremony_id": options.body["ceremony_id"], "credential": key.get(&options.body) });
        let failed = browser.post("/api/auth/login", answer.clone()).await;
        assert_eq!(failed.status, 500, "{:?}", failed.body);
        assert_eq!(browser.get("/api/auth/session").await.status, 401);

        t.execute("DELETE FROM failing_sessions").await;
        let retried = browser.post("/api/auth/login", answer.clone()).await;
        assert_eq!(retried.status, 200, "{:?}", retried.body);
        assert_eq!(browser.get("/api/auth/session").await.status, 200);
        let replay = browser.post("/api/auth/login", answer).await;
        assert_problem(&replay, 400, "unknown_ceremony");
        app.stop().await;
    }
);

dual_test!(a_refused_answer_uses_its_ceremony_up, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let (_, mut key) = signed_up(&app).await;
    let mut browser = app.browser();
    let options = browser
        .post("/api/auth/login/options", json!({ "email": EMAIL }))
        .await;
    let credential = key.get(&options.body);
    let mut forged = credential.clone();
    forged["response"]["signature"] = flip_base64url(&credential["response"]["signature"]);
    let refused = browser
        .post(
            "/api/auth/login",
            json!({ "ceremony_id": options.body["ceremony_id"], "credential": forged }),
        )
        .await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    let genuine = browser
        .post(
            "/api/auth/login",
            json!({ "ceremony_id": options.body["ceremony_id"], "credential": credential }),
        )
        .await;
    assert_problem(&genuine, 400, "unknown_ceremony");
    assert_eq!(browser.get("/api/auth/session").await.status, 401);
    app.stop().await;
});

async fn app_with_clock(t: &TestDb) -> (TestApp, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let app = TestApp::builder(t.db().clone())
        .clock(clock.clone())
        .spawn()
        .await;
    (app, clock)
}

dual_test!(a_ceremony_expires_five_minutes_after_it_began, Head, |t| {
    let (app, clock) = app_with_clock(t).await;
    let (mut browser, mut key) = signed_up(&app).await;
    let options = browser
        .post("/api/auth/login/options", json!({ "email": EMAIL }))
        .await;
    clock.advance(Duration::minutes(5));
    let reply = browser
        .post("/api/auth/login", json!({ "ceremony_id": options.body["ceremony_id"], "credential": key.get(&options.body) }))
        .await;
    assert_problem(&reply, 400, "ceremony_expired");
    app.stop().await;
});

dual_test!(a_passkey_made_for_another_origin_is_rejected, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let mut browser = app.browser();
    // Same RP id (localhost) but another origin: a page on another port asked for it.
    let mut key = SoftAuthenticator::new("http://localhost:1");
    let reply = key.sign_up(&mut browser, EMAIL, None).await;
    assert_problem(&reply, 400, "passkey_rejected");
    assert_eq!(
        t.scalar("SELECT count(*) FROM users").await,
        0,
        "nothing half-written"
    );
    assert_eq!(audit_reasons(t, "auth.register").await[0].0, "failure");
    app.stop().await;
});

dual_test!(a_passkey_for_another_relying_party_is_rejected, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let mut browser = app.browser();
    let mut options = browser
        .post(
            "/api/auth/register/options",
            json!({ "email": EMAIL, "display_name": "Ada" }),
        )
        .await;
    options.body["publicKey"]["rp"]["id"] = json!("evil.example");
    let mut key = SoftAuthenticator::new("https://evil.example");
    let reply = browser
        .post("/api/auth/register", json!({ "ceremony_id": options.body["ceremony_id"], "credential": key.create(&options.body) }))
        .await;
    assert_problem(&reply, 400, "passkey_rejected");
    app.stop().await;
});

dual_test!(a_tampered_signature_is_rejected, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let (mut browser, mut key) = signed_up(&app).await;
    let options = browser
        .post("/api/auth/login/options", json!({ "email": EMAIL }))
        .await;
    let mut credential = key.get(&options.body);
    credential["response"]["signature"] = flip_base64url(&credential["response"]["signature"]);
    let reply = browser
        .post(
            "/api/auth/login",
            json!({ "ceremony_id": options.body["ceremony_id"], "credential": credential }),
        )
        .await;
    assert_problem(&reply, 401, "assertion_rejected");
    assert_eq!(audit_reasons(t, "auth.login").await[0].0, "failure");
    app.stop().await;
});

dual_test!(an_unknown_credential_is_rejected, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let (mut browser, mut key) = signed_up(&app).await;
    let options = browser
        .post("/api/auth/login/options", json!({ "email": EMAIL }))
        .await;
    let mut credential = key.get(&options.body);
    let unknown = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    credential["id"] = unknown.clone();
    credential["rawId"] = unknown;
    let reply = browser
        .post(
            "/api/auth/login",
            json!({ "ceremony_id": options.body["ceremony_id"], "credential": credential }),
        )
        .await;
    assert_eq!(reply.status, 401, "{:?}", reply.body);
    app.stop().await;
});

dual_test!(
    a_ceremony_begun_on_one_server_finishes_on_another,
    Head,
    |t| {
        let first = TestApp::spawn(t.db().clone()).await;
        let second_db = t.connect_again().await;
        let second = first.spawn_sibling(second_db.clone()).await;
        let mut on_first = first.browser();
        let mut key = SoftAuthenticator::new(first.origin());
        let options = on_first
            .post(
                "/api/auth/register/options",
                json!({ "email": EMAIL, "display_name": "Ada" }),
            )
            .await;
        let mut on_second = second.browser();
        let reply = on_second
        .post("/api/auth/register", json!({ "ceremony_id": options.body["ceremony_id"], "credential": key.create(&options.body) }))
        .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        // And the session issued by the second server is good on the first.
        on_first.cookie = on_second.cookie.clone();
        assert_eq!(on_first.get("/api/auth/session").await.status, 200);
        first.stop().await;
        second.stop().await;
        second_db.close().await;
    }
);

dual_test!(
    passkeys_can_be_added_renamed_and_deleted_but_never_the_last,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let (mut browser, _first_key) = signed_up(&app).await;
        let mut second_key = SoftAuthenticator::new(app.origin());
        let options = browser.post("/api/auth/passkeys/options", json!({})).await;
        assert_eq!(options.status, 200, "{:?}", options.body);
        let added = browser
        .post("/api/auth/passkeys", json!({ "ceremony_id": options.body["ceremony_id"], "credential": second_key.create(&options.body), "name": "Laptop" }))
        .await;
        assert_eq!(added.status, 201, "{:?}", added.body);
        assert_eq!(added.body["name"], "Laptop");

        let listed = browser.get("/api/auth/passkeys").await;
        let ids: Vec<i64> = listed
            .body
            .as_array()
            .expect("list")
            .iter()
            .map(|k| k["id"].as_i64().expect("id"))
            .collect();
        assert_eq!(ids.len(), 2);
        let renamed = browser
            .patch(
                &format!("/api/auth/passkeys/{}", ids[1]),
                json!({ "name": "Work laptop" }),
            )
            .await;
        assert_eq!(renamed.status, 204, "{:?}", renamed.body);
        assert_eq!(
            browser.get("/api/auth/passkeys").await.body[1]["name"],
            "Work laptop"
        );

        assert_eq!(
            browser
                .delete(&format!("/api/auth/passkeys/{}", ids[0]))
                .await
                .status,
            204
        );
        let last = browser
            .delete(&format!("/api/auth/passkeys/{}", ids[1]))
            .await;
        assert_problem(&last, 409, "last_passkey");
        assert_eq!(
            browser.delete("/api/auth/passkeys/999999").await.status,
            404
        );
        // The remaining passkey still signs in.
        assert_eq!(second_key.sign_in(&mut browser, EMAIL).await.status, 200);
        app.stop().await;
    }
);

dual_test!(ids_that_are_not_numbers_are_a_problem, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let (mut browser, _key) = signed_up(&app).await;
    for reply in [
        browser.delete("/api/auth/sessions/abc").await,
        browser.delete("/api/auth/passkeys/abc").await,
        browser
            .patch("/api/auth/passkeys/abc", json!({ "name": "Laptop" }))
            .await,
    ] {
        assert_problem(&reply, 400, "invalid_parameter");
    }
    app.stop().await;
});

dual_test!(other_sessions_can_be_listed_and_revoked, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let (mut laptop, mut key) = signed_up(&app).await;
    let mut phone = app.browser();
    assert_eq!(key.sign_in(&mut phone, EMAIL).await.status, 200);
    let list = laptop.get("/api/auth/sessions").await;
    let sessions = list.body.as_array().expect("sessions");
    assert_eq!(sessions.len(), 2);
    let other = sessions
        .iter()
        .find(|s| s["current"] == false)
        .expect("the phone's session");
    let id = other["id"].as_i64().expect("id");
    assert_eq!(
        laptop
            .delete(&format!("/api/auth/sessions/{id}"))
            .await
            .status,
        204
    );
    assert_eq!(phone.get("/api/auth/session").await.status, 401);
    assert_eq!(laptop.get("/api/auth/session").await.status, 200);
    app.stop().await;
});

dual_test!(
    cookie_requests_from_other_origins_or_without_json_are_refused,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let (browser, _key) = signed_up(&app).await;
        let mut elsewhere = browser.clone();
        elsewhere.origin = Some("https://evil.example".into());
        let reply = elsewhere.post("/api/auth/logout", json!({})).await;
        assert_problem(&reply, 403, "origin_mismatch");
        let mut no_origin = browser.clone();
        no_origin.origin = None;
        let reply = no_origin.post("/api/auth/logout", json!({})).await;
        assert_problem(&reply, 403, "origin_required");
        // Our origin first, another after it: one of two is not believed.
        let twice = browser
            .request(reqwest::Method::POST, "/api/auth/logout")
            .header("Origin", "https://evil.example")
            .json(&json!({}))
            .send()
            .await
            .expect("request");
        assert_eq!(twice.status().as_u16(), 403);
        let body: serde_json::Value = twice.json().await.expect("a problem body");
        assert_eq!(body["code"], "origin_mismatch", "{body}");
        let mut still_in = browser.clone();
        assert_eq!(
            still_in.get("/api/auth/session").await.status,
            200,
            "refused requests had no effect"
        );

        let form = app
            .client
            .post(app.url("/api/auth/login/options"))
            .header("Origin", app.origin())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("email=ada%40example.com")
            .send()
            .await
            .expect("request");
        assert_eq!(form.status().as_u16(), 415);
        app.stop().await;
    }
);

dual_test!(
    bad_sign_up_input_names_the_field_and_writes_nothing,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut browser = app.browser();
        let reply = browser
            .post(
                "/api/auth/register/options",
                json!({ "email": "not-an-email", "display_name": "Ada" }),
            )
            .await;
        assert_eq!(
            (reply.status, reply.body["field"].as_str()),
            (422, Some("email")),
            "{:?}",
            reply.body
        );
        let reply = browser
            .post(
                "/api/auth/register/options",
                json!({ "email": EMAIL, "display_name": "   " }),
            )
            .await;
        assert_eq!(
            (reply.status, reply.body["field"].as_str()),
            (422, Some("display_name"))
        );
        let reply = browser
            .post("/api/auth/register/options", json!({ "email": EMAIL }))
            .await;
        assert_eq!(reply.status, 422);
        assert!(
            reply.body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("display_name"),
            "{:?}",
            reply.body
        );
        let reply = browser
            .post(
                "/api/auth/register/options",
                json!({ "email": EMAIL, "display_name": "Ada", "admin": true }),
            )
            .await;
        assert_eq!(
            reply.status, 422,
            "unknown fields are refused: {:?}",
            reply.body
        );
        let reply = browser
            .post(
                "/api/auth/register",
                json!({ "ceremony_id": "x", "credential": { "id": 1 } }),
            )
            .await;
        assert_eq!(reply.status, 422);
        assert_eq!(
            t.scalar("SELECT count(*) FROM webauthn_challenges").await,
            0
        );
        assert_eq!(t.scalar("SELECT count(*) FROM users").await, 0);
        app.stop().await;
    }
);

dual_test!(a_taken_email_cannot_sign_up_again, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    signed_up(&app).await;
    let reply = app
        .browser()
        .post(
            "/api/auth/register/options",
            json!({ "email": EMAIL, "display_name": "Impostor" }),
        )
        .await;
    assert_problem(&reply, 409, "email_taken");
    app.stop().await;
});

dual_test!(
    sign_in_options_do_not_reveal_whether_an_account_exists,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        signed_up(&app).await;
        let mut browser = app.browser();
        let known = browser
            .post("/api/auth/login/options", json!({ "email": EMAIL }))
            .await;
        let unknown = browser
            .post(
                "/api/auth/login/options",
                json!({ "email": "nobody@example.com" }),
            )
            .await;
        assert_eq!((known.status, unknown.status), (200, 200));
        assert!(known.body["publicKey"]["challenge"].is_string());
        assert!(unknown.body["publicKey"]["challenge"].is_string());
        app.stop().await;
    }
);

dual_test!(
    backup_codes_sign_in_once_each_and_regenerating_voids_the_old_set,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let (mut browser, _key) = signed_up(&app).await;
        let generated = browser.post("/api/auth/backup-codes", json!({})).await;
        assert_eq!(generated.status, 201, "{:?}", generated.body);
        let codes: Vec<String> =
            serde_json::from_value(generated.body["codes"].clone()).expect("codes");
        assert_eq!(codes.len(), 10);
        assert_eq!(
            browser.get("/api/auth/backup-codes").await.body["remaining"],
            10
        );

        let mut lost_phone = app.browser();
        let typed = codes[0].to_uppercase().replace('-', " ");
        let reply = lost_phone
            .post(
                "/api/auth/backup-codes/login",
                json!({ "email": EMAIL, "code": typed }),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(
            lost_phone.get("/api/auth/session").await.body["session"]["auth_method"],
            "backup_code"
        );
        let again = app
            .browser()
            .post(
                "/api/auth/backup-codes/login",
                json!({ "email": EMAIL, "code": codes[0] }),
            )
            .await;
        assert_problem(&again, 401, "invalid_backup_code");
        assert_eq!(
            browser.get("/api/auth/backup-codes").await.body["remaining"],
            9
        );

        assert_eq!(
            browser
                .post("/api/auth/backup-codes", json!({}))
                .await
                .status,
            201
        );
        let old = app
            .browser()
            .post(
                "/api/auth/backup-codes/login",
                json!({ "email": EMAIL, "code": codes[1] }),
            )
            .await;
        assert_eq!(
            old.status, 401,
            "an old code still works after regenerating"
        );
        app.stop().await;
    }
);

dual_test!(
    an_email_link_signs_in_once_and_unknown_addresses_get_the_same_answer,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let (mut ada, _key) = signed_up(&app).await;
        accounts::verify_email(&app, &mut ada, EMAIL).await;
        let mut browser = app.browser();
        let unknown = browser
            .post(
                "/api/auth/email-link",
                json!({ "email": "nobody@example.com" }),
            )
            .await;
        let known = browser
            .post("/api/auth/email-link", json!({ "email": EMAIL }))
            .await;
        assert_eq!((unknown.status, known.status), (202, 202));
        assert_eq!(
            unknown.body, known.body,
            "the answer reveals whether an account exists"
        );
        // Both requests did the same work: one job each, no token minted, nothing mailed.
        assert_eq!(
            t.scalar("SELECT count(*) FROM job_queue WHERE kind = 'mail.sign_in_link'")
                .await,
            2
        );
        assert_eq!(
            t.scalar("SELECT count(*) FROM email_login_tokens WHERE purpose = 'login'")
                .await,
            0
        );
        assert_eq!(app.run_jobs().await, 2);
        let mail: Vec<_> = app
            .mail_sent()
            .into_iter()
            .filter(|mail| mail["tag"] == "email_link")
            .collect();
        assert_eq!(mail.len(), 1, "{mail:?}");
        assert_eq!(mail[0]["to"], EMAIL);
        let body = mail[0]["text_body"].as_str().expect("body");
        let token = body
            .split("#token=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("a link");

        let reply = browser
            .post("/api/auth/email-link/login", json!({ "token": token }))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(
            browser.get("/api/auth/session").await.body["session"]["auth_method"],
            "email_link"
        );
        let again = app
            .browser()
            .post("/api/auth/email-link/login", json!({ "token": token }))
            .await;
        assert_problem(&again, 400, "invalid_link");
        app.stop().await;
    }
);

dual_test!(
    roles_are_enforced_per_route_and_changes_are_audited,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let (mut customer, _key) = signed_up(&app).await;
        let customer_id = customer.get("/api/auth/session").await.body["user"]["id"]
            .as_i64()
            .expect("id");
        assert_eq!(
            app.browser()
                .get(&format!("/api/admin/customers/{customer_id}"))
                .await
                .status,
            401
        );
        let reply = customer
            .get(&format!("/api/admin/customers/{customer_id}"))
            .await;
        assert_problem(&reply, 403, "permission_required");

        let now = raptor_testkit::now();
        let token = "operator-issued-bootstrap-token";
        let hash = <sha2::Sha256 as sha2::Digest>::digest(token.as_bytes());
        raptor_store::tokens::issue_bootstrap(
            t.db(),
            &hash,
            "test",
            now,
            now + chrono::Duration::hours(1),
        )
        .await
        .expect("token");
        let mut admin = app.browser();
        let mut admin_key = SoftAuthenticator::new(app.origin());
        let reply = admin_key
            .sign_up(&mut admin, "root@example.com", Some(token))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body["roles"], json!(["customer", "admin"]));
        let reuse = app
        .browser()
        .post("/api/auth/register/options", json!({ "email": "eve@example.com", "display_name": "Eve", "bootstrap_token": token }))
        .await;
        assert_problem(&reuse, 400, "invalid_bootstrap_token");

        // Whoever signed up first with an address need not own it: no role until it is proven.
        let roles_path = format!("/api/admin/users/{customer_id}/roles");
        let support = json!({ "role": "support" });
        let refused = admin.post(&roles_path, support.clone()).await;
        assert_problem(&refused, 409, "email_not_verified");
        accounts::verify_email(&app, &mut customer, EMAIL).await;
        let granted = admin.post(&roles_path, support).await;
        assert_eq!(granted.status, 200, "{:?}", granted.body);
        assert_eq!(granted.body["roles"], json!(["customer", "support"]));
        assert_eq!(
            customer
                .get(&format!("/api/admin/customers/{customer_id}"))
                .await
                .status,
            200,
            "support reads users"
        );
        let escalate = customer
            .post(
                &format!("/api/admin/users/{customer_id}/roles"),
                json!({ "role": "admin" }),
            )
            .await;
        assert_eq!(escalate.status, 403, "support cannot grant roles");
        let bad = admin
            .post(
                &format!("/api/admin/users/{customer_id}/roles"),
                json!({ "role": "root" }),
            )
            .await;
        assert_eq!(
            (bad.status, bad.body["field"].as_str()),
            (422, Some("role"))
        );
        let revoked = admin
            .delete(&format!("/api/admin/users/{customer_id}/roles/support"))
            .await;
        assert_eq!(revoked.body["roles"], json!(["customer"]));
        assert_eq!(
            customer
                .get(&format!("/api/admin/customers/{customer_id}"))
                .await
                .status,
            403
        );

        let grants = audit_reasons(t, "role.grant").await;
        assert!(
            grants.iter().any(|(_, d)| d["role"] == "support"),
            "{grants:?}"
        );
        assert_eq!(audit_reasons(t, "role.revoke").await.len(), 1);
        app.stop().await;
    }
);

dual_test!(ceremony_starts_are_rate_limited_across_servers, Head, |t| {
    // A clock that stands still, so the 61 requests cannot straddle the minute's window.
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let first = TestApp::builder(t.db().clone()).clock(clock).spawn().await;
    let second_db = t.connect_again().await;
    let second = first.spawn_sibling(second_db.clone()).await;
    let (mut a, mut b) = (first.browser(), second.browser());
    for i in 0..60 {
        let browser = if i % 2 == 0 { &mut a } else { &mut b };
        let reply = browser.post("/api/auth/login/options", json!({})).await;
        assert_eq!(reply.status, 200, "attempt {i}: {:?}", reply.body);
    }
    let limited = a.post("/api/auth/login/options", json!({})).await;
    assert_eq!(limited.status, 429, "{:?}", limited.body);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    first.stop().await;
    second.stop().await;
    second_db.close().await;
});

dual_test!(
    sessions_end_after_the_idle_timeout_and_at_their_absolute_end,
    Head,
    |t| {
        let (app, clock) = app_with_clock(t).await;
        let (mut idle, mut key) = signed_up(&app).await;
        clock.advance(Duration::hours(23));
        assert_eq!(idle.get("/api/auth/session").await.status, 200);
        clock.advance(Duration::hours(24) + Duration::seconds(1));
        assert_eq!(
            idle.get("/api/auth/session").await.status,
            401,
            "an idle session still works"
        );

        // Used every 20 hours, a session never idles out, yet it ends 14 days after sign-in.
        let mut busy = app.browser();
        assert_eq!(key.sign_in(&mut busy, EMAIL).await.status, 200);
        let signed_in_at = clock.now();
        loop {
            clock.advance(Duration::hours(20));
            let status = busy.get("/api/auth/session").await.status;
            if clock.now() - signed_in_at < Duration::days(14) {
                assert_eq!(status, 200, "a session in use ended early");
            } else {
                assert_eq!(status, 401, "a session outlived its absolute end");
                break;
            }
        }
        app.stop().await;
    }
);
