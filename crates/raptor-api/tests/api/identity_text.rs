//! Emails and display names in one spelling, on both dialects: an internationalised domain
//! is one account however it is written, look-alike forms fold to plain text, and names or
//! addresses with bidi or invisible format characters are refused.

use raptor_testkit::{assert_problem, dual_test, SoftAuthenticator, TestApp};
use serde_json::json;

/// Asks to sign up (the first step of the ceremony) as `email` named `name`.
async fn register_options(app: &TestApp, email: &str, name: &str) -> raptor_testkit::Reply {
    app.browser()
        .post(
            "/api/auth/register/options",
            json!({ "email": email, "display_name": name }),
        )
        .await
}

dual_test!(
    two_spellings_of_one_internationalised_domain_are_one_account,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let mut browser = app.browser();
        let reply = SoftAuthenticator::new(app.origin())
            .sign_up(&mut browser, "Ada@Bücher.de", None)
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body["user"]["email"], "ada@xn--bcher-kva.de");

        for spelling in [
            "ada@xn--bcher-kva.de",
            "ADA@BÜCHER.DE",
            "ada@bu\u{308}cher.de",
            "ａｄａ＠ｂüｃｈｅｒ．ｄｅ",
        ] {
            let again = register_options(&app, spelling, "Ada").await;
            assert_problem(&again, 409, "email_taken");
        }
        assert_eq!(t.scalar("SELECT count(*) FROM users").await, 1);

        // A sign-in link asked for by the other spelling reaches the one account.
        let asked = app
            .browser()
            .post(
                "/api/auth/email-link",
                json!({ "email": "ada@xn--bcher-kva.de" }),
            )
            .await;
        assert_eq!(asked.status, 202);
        app.run_jobs().await;
        let mail: Vec<_> = app
            .mail_sent()
            .into_iter()
            .filter(|mail| mail["tag"] == "email_link")
            .collect();
        assert_eq!(mail.len(), 1, "{mail:?}");
        assert_eq!(mail[0]["to"], "ada@xn--bcher-kva.de");
        app.stop().await;
    }
);

dual_test!(
    addresses_with_bidi_or_invisible_characters_or_a_bad_domain_are_refused,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        for email in [
            "ada@exa\u{202E}mple.com",
            "ada\u{200B}@example.com",
            "\u{2066}ada@example.com\u{2069}",
            "ada@\u{1D173}example.com",
        ] {
            let reply = register_options(&app, email, "Ada").await;
            let body = assert_problem(&reply, 422, "invalid_field");
            assert_eq!(body["field"], "email", "{email:?}");
            assert!(
                body["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("invisible formatting characters")),
                "{email:?}: {body}"
            );
        }
        for email in ["ada@xn--zz.de", "ada@exa_mple.com"] {
            let reply = register_options(&app, email, "Ada").await;
            let body = assert_problem(&reply, 422, "invalid_field");
            assert!(
                body["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("not a valid (internationalised) domain name")),
                "{email}: {body}"
            );
        }
        assert_eq!(t.scalar("SELECT count(*) FROM users").await, 0);
        app.stop().await;
    }
);

dual_test!(
    display_names_fold_look_alikes_and_refuse_bidi_and_invisible_characters,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        for name in [
            "Ada\u{202E}ecalevoL",
            "\u{2067}Ada\u{2069}",
            "Ad\u{200B}a",
            "Ada\u{200F}",
            "Ada\u{1D173}",
            "Ada\u{0605}",
        ] {
            let reply = register_options(&app, "ada@example.com", name).await;
            let body = assert_problem(&reply, 422, "invalid_field");
            assert_eq!(body["field"], "display_name", "{name:?}");
        }

        // Full-width and mathematical letters are stored as the plain letters they show.
        let mut browser = app.browser();
        let mut key = SoftAuthenticator::new(app.origin());
        let options = browser
            .post(
                "/api/auth/register/options",
                json!({ "email": "ada@example.com", "display_name": "Ａｄａ \u{1D40B}ovelace" }),
            )
            .await;
        assert_eq!(options.status, 200, "{:?}", options.body);
        let credential = key.create(&options.body);
        let reply = browser
            .post(
                "/api/auth/register",
                json!({ "ceremony_id": options.body["ceremony_id"], "credential": credential }),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body["user"]["display_name"], "Ada Lovelace");
        assert_eq!(t.scalar("SELECT count(*) FROM users").await, 1);
        app.stop().await;
    }
);
