//! Mail on the job queue, on both databases: a job exists only when its transaction commits,
//! an email-link request does the same work whatever the address, and the worker sends,
//! retries or gives up by what the provider said.

use std::sync::{Arc, Mutex};

use raptor_domain::{Email, JobState};
use raptor_store::jobs as store;
use raptor_testdb::{dual_test, TestDb};
use reqwest::Url;

use super::delivery::{self, MAIL_ATTEMPTS};
use super::*;
use crate::jobs::{self, Worker, WorkerConfig};
use crate::{email_links, App, Client};

const FROM: &str = "Raxx <no-reply@raxx.app>";

/// Records what it is asked to send; fails with `refusal` when one is set.
#[derive(Debug, Default)]
struct Recording {
    sent: Mutex<Vec<OutgoingEmail>>,
    refusal: Mutex<Option<u16>>,
}

impl Recording {
    fn sent(&self) -> Vec<OutgoingEmail> {
        self.sent.lock().expect("lock").clone()
    }
}

impl Mailer for Recording {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> MailFuture<'a> {
        Box::pin(async move {
            if let Some(status) = *self.refusal.lock().expect("lock") {
                return Err(MailError::Refused {
                    status,
                    code: 406,
                    message: "inactive recipient".into(),
                });
            }
            self.sent.lock().expect("lock").push(email.clone());
            Ok(())
        })
    }
}

fn app_with_recorder(t: &TestDb) -> (App, Arc<Recording>) {
    let mailer = Arc::new(Recording::default());
    (App::new(t.db().clone()).with_mailer(mailer.clone()), mailer)
}

fn worker(app: &App) -> Worker {
    let config = WorkerConfig {
        schedule: false,
        ..WorkerConfig::default()
    };
    Worker::new(app.clone(), jobs::standard(), config)
}

fn reply() -> OutgoingEmail {
    OutgoingEmail {
        from: FROM.into(),
        to: "ada@example.com".into(),
        subject: "Re: Order stuck [ticket 1]".into(),
        text_body: "It filled at 10:31.".into(),
        tag: "support_reply".into(),
        reply_to: None,
        headers: Vec::new(),
    }
}

dual_test!(
    a_mail_enqueued_in_a_rolled_back_transaction_is_never_sent,
    Head,
    |t| {
        let (app, mailer) = app_with_recorder(t);
        let mut tx = app.db.begin().await.expect("begin");
        delivery::enqueue(&app, &mut tx, &reply())
            .await
            .expect("enqueue");
        drop(tx);
        assert_eq!(t.scalar("SELECT count(*) FROM job_queue").await, 0);
        assert_eq!(worker(&app).drain().await.expect("drain"), 0);

        let mut tx = app.db.begin().await.expect("begin");
        delivery::enqueue(&app, &mut tx, &reply())
            .await
            .expect("enqueue");
        tx.commit().await.expect("commit");
        assert_eq!(worker(&app).drain().await.expect("drain"), 1);
        assert_eq!(mailer.sent(), vec![reply()]);
    }
);

dual_test!(
    a_refused_mail_fails_at_once_and_a_provider_error_is_retried,
    Head,
    |t| {
        let (app, mailer) = app_with_recorder(t);
        let enqueue = || async {
            let mut tx = app.db.begin().await.expect("begin");
            let id = delivery::enqueue(&app, &mut tx, &reply())
                .await
                .expect("enqueue")
                .id()
                .expect("new job");
            tx.commit().await.expect("commit");
            id
        };
        *mailer.refusal.lock().expect("lock") = Some(422);
        let refused = enqueue().await;
        assert_eq!(worker(&app).drain().await.expect("drain"), 1);
        let job = store::get(&app.db, refused)
            .await
            .expect("get")
            .expect("job");
        assert_eq!((job.state, job.attempts), (JobState::Failed, 1));
        assert!(
            job.last_error
                .as_deref()
                .unwrap_or_default()
                .contains("406"),
            "{job:?}"
        );
        assert_eq!(job.max_attempts, MAIL_ATTEMPTS);

        *mailer.refusal.lock().expect("lock") = Some(503);
        let unavailable = enqueue().await;
        assert_eq!(worker(&app).drain().await.expect("drain"), 1);
        let job = store::get(&app.db, unavailable)
            .await
            .expect("get")
            .expect("job");
        assert_eq!(job.state, JobState::Queued, "a 503 is worth another try");
        assert!(job.run_at > app.now());
        assert!(mailer.sent().is_empty());
    }
);

dual_test!(
    an_email_link_request_does_the_same_work_for_known_and_unknown_addresses,
    Head,
    |t| {
        let (app, mailer) = app_with_recorder(t);
        crate::test_support::user(&app, "ada@example.com", &[]).await;
        let client = Client {
            ip: Some("203.0.113.7".into()),
            user_agent: Some("test".into()),
            request_id: Some("req-1".into()),
        };
        let page = Url::parse("https://raxx.example/signin/email").expect("url");
        for address in ["ada@example.com", "nobody@example.com"] {
            let email = Email::parse(address).expect("email");
            email_links::request(&app, &email, &client, FROM, &page)
                .await
                .expect("request");
        }
        let queued = store::list(&app.db, None, Some("default"), 10)
            .await
            .expect("list");
        assert_eq!(queued.len(), 2, "{queued:?}");
        for job in &queued {
            assert_eq!(job.kind, email_links::SEND_LINK);
            let mut keys: Vec<&str> = job
                .payload
                .as_object()
                .expect("an object")
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                ["email", "from", "ip", "link_to", "request_id", "user_agent"],
                "the payload must carry no token"
            );
            assert_eq!(job.payload["link_to"], "https://raxx.example/signin/email");
        }
        assert_eq!(
            t.scalar("SELECT count(*) FROM email_login_tokens").await,
            0,
            "a token was minted in the request"
        );
        assert!(mailer.sent().is_empty());

        assert_eq!(worker(&app).drain().await.expect("drain"), 2);
        let sent = mailer.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].to, "ada@example.com");
        assert_eq!(t.scalar("SELECT count(*) FROM email_login_tokens").await, 1);
        let token = sent[0]
            .text_body
            .split("https://raxx.example/signin/email#token=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("a link");
        let signed_in = email_links::sign_in(&app, token, &client)
            .await
            .expect("the link signs in");
        assert_eq!(signed_in.user.email, "ada@example.com");
        let audited = raptor_store::audit::recent(&app.db, Some("auth.email_link.request"), 10)
            .await
            .expect("audit");
        assert_eq!(audited.len(), 1, "{audited:?}");
        assert_eq!(audited[0].request_id.as_deref(), Some("req-1"));
        let states: Vec<JobState> = store::list(&app.db, None, Some("default"), 10)
            .await
            .expect("list")
            .iter()
            .map(|job| job.state)
            .collect();
        assert_eq!(states, [JobState::Succeeded, JobState::Succeeded]);
    }
);
