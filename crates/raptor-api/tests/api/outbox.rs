//! The local outbox (mail's development mode, with no Postmark token) on both dialects: it
//! keeps each message with its links' secrets redacted, while the recipient's links work.

use raptor_testkit::{accounts, dual_test, TestApp};
use serde_json::json;

const EMAIL: &str = "ada@example.com";

dual_test!(
    the_outbox_keeps_a_link_mail_with_its_token_redacted,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        accounts::customer(&app, EMAIL).await;
        let token = accounts::mailed_link_token(&app, EMAIL).await;

        let outbox: Vec<_> = raptor_store::outbox::recent(t.db(), 10)
            .await
            .expect("outbox")
            .into_iter()
            .filter(|mail| mail["tag"] == "email_link")
            .collect();
        assert_eq!(outbox.len(), 1, "{outbox:?}");
        assert_eq!(outbox[0]["to"], EMAIL);
        let stored = outbox[0].to_string();
        assert!(
            !stored.contains(&token),
            "the outbox holds the token: {stored}"
        );
        let body = outbox[0]["text_body"].as_str().expect("body");
        assert!(
            body.contains(&format!("{}/signin/email#token=<redacted>", app.origin())),
            "{body}"
        );
        // The recipient's link still works.
        let reply = app
            .browser()
            .post("/api/auth/email-link/login", json!({ "token": token }))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        app.stop().await;
    }
);

dual_test!(
    the_outbox_keeps_a_confirmation_mail_with_both_tokens_redacted,
    Head,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let reply = app
            .browser()
            .post("/api/marketing/subscribe", json!({ "email": EMAIL }))
            .await;
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        app.run_jobs().await;
        let sent = app.mail_sent();
        let outbox = raptor_store::outbox::recent(t.db(), 10)
            .await
            .expect("outbox");
        assert_eq!((sent.len(), outbox.len()), (1, 1));
        let origin = app.origin();
        assert_eq!(
            outbox[0]["text_body"],
            format!(
                "Confirm that you want Raxx news at this address:\n\n\
                 {origin}/api/marketing/confirm?token=<redacted>\n\n\
                 Changed your mind? Unsubscribe any time:\n\n\
                 {origin}/api/marketing/unsubscribe?token=<redacted>\n"
            )
        );
        assert_eq!(
            outbox[0]["headers"][0],
            json!({
                "name": "List-Unsubscribe",
                "value": format!("<{origin}/api/marketing/unsubscribe?token=<redacted>>"),
            })
        );
        assert_ne!(sent[0]["text_body"], outbox[0]["text_body"]);
        app.stop().await;
    }
);
