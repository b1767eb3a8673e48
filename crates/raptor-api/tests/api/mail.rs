//! Outbound email through Postmark's HTTP API, against a local fake speaking its format.

use std::sync::Arc;
use std::time::Duration;

use raptor_app::jobs::JobError;
use raptor_app::mail::{MailError, Mailer, OutgoingEmail, PostmarkMailer};
use raptor_testkit::{dual_test, FakePostmark, PostmarkFailure, SoftAuthenticator, TestApp};
use serde_json::json;

fn message() -> OutgoingEmail {
    OutgoingEmail {
        from: "Raxx <no-reply@raxx.app>".into(),
        to: "ada@example.com".into(),
        subject: "Hello".into(),
        text_body: "Body".into(),
        tag: "test".into(),
        reply_to: None,
        headers: Vec::new(),
    }
}

fn postmark(url: &str, token: &str) -> PostmarkMailer {
    PostmarkMailer::new(url, token).expect("an HTTP client")
}

#[tokio::test]
async fn postmark_receives_the_message_in_its_own_format() {
    let fake = FakePostmark::start("server-token").await;
    postmark(fake.url(), "server-token")
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
    let err = postmark(fake.url(), "wrong-token-abc")
        .send(&message())
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            MailError::Refused {
                status: 401,
                code: 10,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong-token-abc"), "{err}");
    assert!(fake.received().is_empty());
}

#[tokio::test]
async fn an_unreachable_provider_is_a_transport_error() {
    let err = postmark("http://127.0.0.1:1", "t")
        .send(&message())
        .await
        .expect_err("no server");
    assert!(matches!(err, MailError::Transport(_)), "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_failing_postmark_is_worth_a_retry_and_an_inactive_recipient_is_not() {
    let fake = FakePostmark::start("server-token").await;
    let mailer = postmark(fake.url(), "server-token");
    fake.fail_with(PostmarkFailure::ServerError);
    let err = mailer.send(&message()).await.expect_err("a 500");
    assert!(err.is_transient(), "{err}");
    assert!(matches!(JobError::from(err), JobError::Retry(_)));

    fake.fail_with(PostmarkFailure::InactiveRecipient);
    let err = mailer.send(&message()).await.expect_err("a 422");
    assert!(
        matches!(
            err,
            MailError::Refused {
                status: 422,
                code: 406,
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(JobError::from(err), JobError::Permanent(_)));

    fake.heal();
    mailer.send(&message()).await.expect("sent once healed");
    assert_eq!((fake.attempts(), fake.received().len()), (3, 1));
}

#[tokio::test]
async fn a_postmark_that_never_answers_is_cut_off_by_the_request_timeout() {
    // Accepts connections and reads nothing: the request can only end by timing out.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("address"));
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let mailer = PostmarkMailer::with_timeouts(
        &url,
        "t",
        Duration::from_secs(5),
        Duration::from_millis(300),
    )
    .expect("an HTTP client");
    let err = mailer.send(&message()).await.expect_err("timed out");
    assert!(matches!(err, MailError::Transport(_)), "{err}");
    assert!(err.is_transient());
    held.abort();
}

dual_test!(
    email_links_go_out_through_postmark_when_configured,
    Head,
    |t| {
        let fake = FakePostmark::start("server-token").await;
        let mailer = Arc::new(postmark(fake.url(), "server-token"));
        let app = TestApp::spawn_with_mailer(t.db().clone(), mailer).await;
        let mut browser = app.browser();
        let mut key = SoftAuthenticator::new(app.origin());
        assert_eq!(
            key.sign_up(&mut browser, "ada@example.com", None)
                .await
                .status,
            200
        );
        assert_eq!(app.run_jobs().await, 1, "the sign-up's verification mail");
        let verification = fake.received();
        assert_eq!(verification.len(), 1, "{verification:?}");
        assert!(verification[0]["TextBody"]
            .as_str()
            .unwrap_or_default()
            .contains("/verify-email#token="));
        let reply = app
            .browser()
            .post(
                "/api/auth/email-link",
                json!({ "email": "ada@example.com" }),
            )
            .await;
        assert_eq!(reply.status, 202);
        assert_eq!(fake.received().len(), 1, "sent from the request");
        assert_eq!(app.run_jobs().await, 1);
        let received = fake.received();
        assert_eq!(received.len(), 2, "{received:?}");
        assert!(received[1]["TextBody"]
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

dual_test!(
    an_email_link_request_answers_without_waiting_on_a_failing_postmark,
    Head,
    |t| {
        let fake = FakePostmark::start("server-token").await;
        let mailer = Arc::new(postmark(fake.url(), "server-token"));
        let app = TestApp::spawn_with_mailer(t.db().clone(), mailer).await;
        let mut key = SoftAuthenticator::new(app.origin());
        let mut browser = app.browser();
        assert_eq!(
            key.sign_up(&mut browser, "ada@example.com", None)
                .await
                .status,
            200
        );
        assert_eq!(app.run_jobs().await, 1, "the sign-up's verification mail");
        fake.fail_with(PostmarkFailure::ServerError);
        let reply = app
            .browser()
            .post(
                "/api/auth/email-link",
                json!({ "email": "ada@example.com" }),
            )
            .await;
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        assert_eq!(fake.attempts(), 1, "the request called Postmark");

        assert_eq!(app.run_jobs().await, 1);
        assert_eq!(fake.attempts(), 2);
        let jobs: Vec<_> = raptor_store::jobs::list(t.db(), None, Some("default"), 10)
            .await
            .expect("jobs")
            .into_iter()
            .filter(|job| job.kind == "mail.sign_in_link")
            .collect();
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        assert_eq!(jobs[0].state.as_str(), "queued", "a 500 is retried later");
        assert!(jobs[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("500")));
        app.stop().await;
    }
);
