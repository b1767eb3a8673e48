//! Outbound email through Postmark's HTTP API, against a local fake speaking its format.

use std::sync::Arc;

use raptor_app::mail::{MailError, Mailer, OutgoingEmail, PostmarkMailer};
use raptor_testkit::{dual_test, FakePostmark, SoftAuthenticator, TestApp};
use serde_json::json;

fn message() -> OutgoingEmail {
    OutgoingEmail {
        from: "Raxx <no-reply@raxx.app>".into(),
        to: "ada@example.com".into(),
        subject: "Hello".into(),
        text_body: "Body".into(),
        tag: "test",
    }
}

#[tokio::test]
async fn postmark_receives_the_message_in_its_own_format() {
    let fake = FakePostmark::start("server-token").await;
    PostmarkMailer::new(fake.url(), "server-token")
        .send(&message())
        .await
        .expect("sent");
    let received = fake.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["To"], "ada@example.com");
    assert_eq!(received[0]["From"], "Raxx <no-reply@raxx.app>");
    assert_eq!(received[0]["TextBody"], "Body");
    assert_eq!(received[0]["MessageStream"], "outbound");
}

#[tokio::test]
async fn a_wrong_server_token_is_reported_with_postmarks_code_and_not_echoed() {
    let fake = FakePostmark::start("server-token").await;
    let err = PostmarkMailer::new(fake.url(), "wrong-token-abc")
        .send(&message())
        .await
        .expect_err("refused");
    assert!(matches!(err, MailError::Refused { code: 10, .. }), "{err}");
    assert!(!err.to_string().contains("wrong-token-abc"), "{err}");
    assert!(fake.received().is_empty());
}

#[tokio::test]
async fn an_unreachable_provider_is_a_transport_error() {
    let err = PostmarkMailer::new("http://127.0.0.1:1", "t")
        .send(&message())
        .await
        .expect_err("no server");
    assert!(matches!(err, MailError::Transport(_)), "{err}");
}

dual_test!(
    email_links_go_out_through_postmark_when_configured,
    Head,
    |t| {
        let fake = FakePostmark::start("server-token").await;
        let mailer = Arc::new(PostmarkMailer::new(fake.url(), "server-token"));
        let app = TestApp::spawn_with_mailer(t.db().clone(), mailer).await;
        let mut browser = app.browser();
        let mut key = SoftAuthenticator::new(app.origin());
        assert_eq!(
            key.sign_up(&mut browser, "ada@example.com", None)
                .await
                .status,
            200
        );
        let reply = app
            .browser()
            .post(
                "/api/auth/email-link",
                json!({ "email": "ada@example.com" }),
            )
            .await;
        assert_eq!(reply.status, 202);
        let received = fake.received();
        assert_eq!(received.len(), 1, "{received:?}");
        assert!(received[0]["TextBody"]
            .as_str()
            .unwrap_or_default()
            .contains("/signin/email#token="));
        assert!(raptor_store::outbox::recent(t.db(), 5)
            .await
            .expect("outbox")
            .is_empty());
        app.stop().await;
    }
);
