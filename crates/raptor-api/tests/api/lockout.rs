//! Nobody can lock an owner out or make the server spend without bound: failed passkey
//! assertions lock no account, backup-code limits are per (account, client), email links
//! coalesce per address, every backup-code attempt runs the same hashes, and new sets of codes
//! are rate-limited. Clients are told apart by `X-Forwarded-For` behind a trusted proxy.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use raptor_app::FixedClock;
use raptor_testkit::{
    accounts, assert_problem, dual_test, Browser, SoftAuthenticator, TestApp, TestDb,
};

use crate::auth::flip_base64url;
use serde_json::{json, Value};

const EMAIL: &str = "ada@example.com";
const OWNER_IP: &str = "198.51.100.7";
const STRANGER_IP: &str = "203.0.113.9";

/// A server behind a trusted proxy whose clock stands still at one minute past midnight UTC,
/// so every limit's window has just begun and nothing rolls over mid-test.
async fn app_behind_proxy(t: &TestDb) -> (TestApp, Arc<FixedClock>) {
    let midnight = Utc::now().timestamp().div_euclid(86_400) * 86_400;
    let start = DateTime::from_timestamp(midnight + 60, 0).expect("a time");
    let clock = Arc::new(FixedClock::new(start));
    let app = TestApp::builder(t.db().clone())
        .trust_proxy()
        .clock(clock.clone())
        .spawn()
        .await;
    (app, clock)
}

fn browser_from(app: &TestApp, ip: &str) -> Browser {
    let mut browser = app.browser();
    browser.forwarded_for = Some(ip.to_owned());
    browser
}

async fn owner(app: &TestApp) -> (Browser, SoftAuthenticator) {
    let mut browser = browser_from(app, OWNER_IP);
    let mut key = SoftAuthenticator::new(app.origin());
    let reply = key.sign_up(&mut browser, EMAIL, None).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    accounts::verify_email(app, &mut browser, EMAIL).await;
    (browser, key)
}

async fn new_codes(browser: &mut Browser) -> Vec<String> {
    let generated = browser.post("/api/auth/backup-codes", json!({})).await;
    assert_eq!(generated.status, 201, "{:?}", generated.body);
    serde_json::from_value(generated.body["codes"].clone()).expect("codes")
}

fn retry_after(reply: &raptor_testkit::Reply) -> i64 {
    reply.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds")
}

dual_test!(
    forged_assertions_from_a_stranger_do_not_lock_out_the_owners_passkey,
    Head,
    |t| {
        let (app, _clock) = app_behind_proxy(t).await;
        let (_, mut key) = owner(&app).await;
        let mut stranger = browser_from(&app, STRANGER_IP);
        for attempt in 0..12 {
            let options = stranger
                .post("/api/auth/login/options", json!({ "email": EMAIL }))
                .await;
            assert_eq!(options.status, 200, "{:?}", options.body);
            let mut forged = key.get(&options.body);
            forged["response"]["signature"] = flip_base64url(&forged["response"]["signature"]);
            let reply = stranger
                .post(
                    "/api/auth/login",
                    json!({ "ceremony_id": options.body["ceremony_id"], "credential": forged }),
                )
                .await;
            assert_eq!(
                reply.status, 401,
                "forged assertion {attempt}: {:?}",
                reply.body
            );
        }
        let mut owners_phone = browser_from(&app, OWNER_IP);
        let reply = key.sign_in(&mut owners_phone, EMAIL).await;
        assert_eq!(
            reply.status, 200,
            "the owner was locked out: {:?}",
            reply.body
        );
        app.stop().await;
    }
);

dual_test!(
    a_strangers_wrong_backup_codes_never_refuse_the_owners_valid_code,
    Head,
    |t| {
        let (app, clock) = app_behind_proxy(t).await;
        let (mut owner_browser, _key) = owner(&app).await;
        let codes = new_codes(&mut owner_browser).await;
        let mut stranger = browser_from(&app, STRANGER_IP);
        let guess = |code: &str| json!({ "email": EMAIL, "code": code });
        for _ in 0..5 {
            let miss = stranger
                .post("/api/auth/backup-codes/login", guess("aaaa-bbbb-cccc"))
                .await;
            assert_problem(&miss, 401, "invalid_backup_code");
        }
        let limited = stranger
            .post("/api/auth/backup-codes/login", guess(&codes[0]))
            .await;
        assert_problem(&limited, 429, "rate_limited");
        assert!(retry_after(&limited) <= 15 * 60, "{:?}", limited.headers);

        let mut owners_laptop = browser_from(&app, OWNER_IP);
        let reply = owners_laptop
            .post("/api/auth/backup-codes/login", guess(&codes[1]))
            .await;
        assert_eq!(reply.status, 200, "the owner was refused: {:?}", reply.body);

        // The stranger's waits grow: 5 more after 15 minutes, then none for hours.
        clock.advance(Duration::minutes(15));
        for _ in 0..5 {
            let miss = stranger
                .post("/api/auth/backup-codes/login", guess("aaaa-bbbb-cccc"))
                .await;
            assert_problem(&miss, 401, "invalid_backup_code");
        }
        clock.advance(Duration::minutes(15));
        let longer = stranger
            .post("/api/auth/backup-codes/login", guess("aaaa-bbbb-cccc"))
            .await;
        assert_problem(&longer, 429, "rate_limited");
        assert!(retry_after(&longer) > 15 * 60, "{:?}", longer.headers);
        app.stop().await;
    }
);

dual_test!(
    strangers_asking_for_the_owners_link_neither_lock_out_nor_flood_the_owner,
    Head,
    |t| {
        let (app, clock) = app_behind_proxy(t).await;
        owner(&app).await;
        for n in 0..8 {
            let reply = browser_from(&app, &format!("203.0.113.{n}"))
                .post("/api/auth/email-link", json!({ "email": EMAIL }))
                .await;
            assert_eq!(reply.status, 202, "{:?}", reply.body);
        }
        let mut owner_browser = browser_from(&app, OWNER_IP);
        let asked = owner_browser
            .post("/api/auth/email-link", json!({ "email": EMAIL }))
            .await;
        assert_eq!(asked.status, 202, "the owner was refused: {:?}", asked.body);
        assert_eq!(app.run_jobs().await, 9);
        let mails_to_owner = || {
            app.mail_sent()
                .into_iter()
                .filter(|mail| mail["to"] == EMAIL && mail["tag"] == "email_link")
                .collect::<Vec<_>>()
        };
        let mails = mails_to_owner();
        assert_eq!(mails.len(), 1, "nine requests, one mail: {mails:?}");

        // The one link sent works for the owner, who reads it in their own inbox.
        let token = mails[0]["text_body"]
            .as_str()
            .and_then(|body| body.split("#token=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .expect("a link");
        let reply = owner_browser
            .post("/api/auth/email-link/login", json!({ "token": token }))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);

        clock.advance(Duration::minutes(5));
        let again = browser_from(&app, OWNER_IP)
            .post("/api/auth/email-link", json!({ "email": EMAIL }))
            .await;
        assert_eq!(again.status, 202);
        app.run_jobs().await;
        assert_eq!(mails_to_owner().len(), 2, "a later window sends again");
        app.stop().await;
    }
);

dual_test!(
    a_backup_code_attempt_runs_the_same_hashes_for_known_and_unknown_accounts,
    Head,
    |t| {
        let (app, _clock) = app_behind_proxy(t).await;
        let (mut owner_browser, _key) = owner(&app).await;
        new_codes(&mut owner_browser).await;
        let pool = &app.use_cases().hashing;
        let attempt = |email: &'static str, ip: &'static str| {
            let mut browser = browser_from(&app, ip);
            async move {
                let before = pool.operations();
                let reply = browser
                    .post(
                        "/api/auth/backup-codes/login",
                        json!({ "email": email, "code": "aaaa-bbbb-cccc" }),
                    )
                    .await;
                (reply, pool.operations() - before)
            }
        };
        let (unknown, unknown_work) = attempt("nobody@example.com", "203.0.113.1").await;
        let (known, known_work) = attempt(EMAIL, "203.0.113.2").await;
        let answer = |reply: &raptor_testkit::Reply| {
            let mut body = reply.body.clone();
            body["request_id"] = Value::Null;
            (reply.status, body)
        };
        assert_eq!(answer(&unknown), answer(&known), "the answers differ");
        assert_eq!(unknown.status, 401);
        assert_eq!(
            (unknown_work, known_work),
            (10, 10),
            "an unknown account must cost the same hashes as a known one"
        );
        app.stop().await;
    }
);

dual_test!(
    new_sets_of_backup_codes_are_limited_per_account,
    Head,
    |t| {
        let (app, _clock) = app_behind_proxy(t).await;
        let (mut owner_browser, _key) = owner(&app).await;
        for _ in 0..5 {
            new_codes(&mut owner_browser).await;
        }
        let limited = owner_browser
            .post("/api/auth/backup-codes", json!({}))
            .await;
        assert_problem(&limited, 429, "rate_limited");
        assert!((1..=3600).contains(&retry_after(&limited)));
        app.stop().await;
    }
);
