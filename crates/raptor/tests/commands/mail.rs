//! Mail through the queue as an operator meets it: a Postmark that keeps failing leaves a dead
//! job with growing delays between its attempts, `raptor jobs list --state dead` shows it, and
//! after `raptor jobs retry` a `raptor worker` configured for Postmark sends it. Without
//! Postmark, `raptor serve` says mail is in development mode and keeps links out of the
//! outbox, and out of its log unless a developer asks for them there.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use raptor_app::jobs::{self, Worker, WorkerConfig};
use raptor_app::mail::delivery::{self, MAIL_ATTEMPTS};
use raptor_app::mail::{OutgoingEmail, PostmarkMailer};
use raptor_app::{App, FixedClock};
use raptor_domain::JobState;
use raptor_store::jobs as queue;
use raptor_testkit::{
    dual_test, now, Browser, FakePostmark, PostmarkFailure, ServeProcess, SoftAuthenticator,
};
use serde_json::json;

use crate::common::{public_url, raptor, serve, stderr, stdout};

const TOKEN: &str = "server-token";

fn reply() -> OutgoingEmail {
    OutgoingEmail {
        from: "Raxx <no-reply@raxx.app>".into(),
        to: "ada@example.com".into(),
        subject: "Re: Order stuck [ticket 1]".into(),
        text_body: "It filled at 10:31.".into(),
        tag: "support_reply".into(),
        reply_to: None,
        headers: Vec::new(),
    }
}

dual_test!(
    a_mail_postmark_keeps_failing_dies_and_an_operator_retry_sends_it,
    Head,
    |t| {
        let fake = FakePostmark::start(TOKEN).await;
        fake.fail_with(PostmarkFailure::ServerError);
        let clock = Arc::new(FixedClock::new(now()));
        let mailer = PostmarkMailer::new(fake.url(), TOKEN).expect("an HTTP client");
        let app = App::new(t.db().clone())
            .with_clock(clock.clone())
            .with_mailer(Arc::new(mailer));
        let mut tx = app.db.begin().await.expect("begin");
        let id = delivery::enqueue(&app, &mut tx, &reply())
            .await
            .expect("enqueue")
            .id()
            .expect("a new job");
        tx.commit().await.expect("commit");
        let config = WorkerConfig {
            schedule: false,
            ..WorkerConfig::default()
        };
        let worker = Worker::new(app.clone(), jobs::standard(), config);

        // Each failed attempt puts the next one later by the queue's backoff, read from the
        // stored run_at against the app's clock; the clock then moves to it.
        let mut waits = Vec::new();
        for attempt in 1..=MAIL_ATTEMPTS {
            assert_eq!(worker.drain().await.expect("drain"), 1, "attempt {attempt}");
            let job = queue::get(t.db(), id).await.expect("get").expect("job");
            assert_eq!(job.attempts, attempt);
            if attempt == MAIL_ATTEMPTS {
                assert_eq!(job.state, JobState::Failed, "out of attempts: dead");
                break;
            }
            assert_eq!(job.state, JobState::Queued, "attempt {attempt}");
            waits.push(job.run_at - app.now());
            assert_eq!(
                worker.drain().await.expect("drain"),
                0,
                "ran before its backoff"
            );
            clock.set(job.run_at);
        }
        assert!(
            waits.windows(2).all(|w| w[1] > w[0]),
            "the delays do not grow: {waits:?}"
        );
        assert!(waits[0] >= chrono::Duration::seconds(10), "{waits:?}");
        assert_eq!(
            fake.attempts(),
            usize::try_from(MAIL_ATTEMPTS).expect("small")
        );
        assert!(fake.received().is_empty());

        let cli = raptor().database(t.url());
        let out = cli
            .run(&["jobs", "list", "--state", "dead", "--json"])
            .await;
        assert!(out.status.success(), "{}", stderr(&out));
        let dead: Vec<serde_json::Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(dead.len(), 1, "{dead:?}");
        assert_eq!(dead[0]["id"], id);
        assert_eq!(dead[0]["kind"], delivery::SEND);
        assert!(
            dead[0]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("500")),
            "{}",
            dead[0]
        );

        fake.heal();
        let out = cli.run(&["jobs", "retry", &id.to_string()]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let mut worker_process = cli
            .env("POSTMARK_SERVER_TOKEN", TOKEN)
            .env("RAPTOR_POSTMARK_API_URL", fake.url())
            .command()
            .args(["worker", "--concurrency", "1"])
            .spawn()
            .expect("raptor worker starts");
        // Wait for the outcome the worker writes (bounded: a stuck queue fails the test).
        let mut job = queue::get(t.db(), id).await.expect("get").expect("job");
        for _ in 0..300 {
            if job.state == JobState::Succeeded {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
            job = queue::get(t.db(), id).await.expect("get").expect("job");
        }
        worker_process.kill().await.expect("stop the worker");
        assert_eq!(job.state, JobState::Succeeded, "{job:?}");
        let received = fake.received();
        assert_eq!(received.len(), 1, "{received:?}");
        assert_eq!(received[0]["To"], "ada@example.com");
        assert_eq!(received[0]["TextBody"], "It filled at 10:31.");
    }
);

/// Signs up `email` on `server` and asks for a sign-in link for it.
async fn ask_for_a_link(server: &ServeProcess, email: &str) {
    let origin = public_url(server);
    let mut browser = Browser::new(&server.base_url, &origin);
    let signed_up = SoftAuthenticator::new(&origin)
        .sign_up(&mut browser, email, None)
        .await;
    assert_eq!(signed_up.status, 200, "{:?}", signed_up.body);
    let asked = browser
        .post("/api/auth/email-link", json!({ "email": email }))
        .await;
    assert_eq!(asked.status, 202, "{:?}", asked.body);
}

dual_test!(
    without_postmark_serve_warns_of_development_mail_and_logs_links_only_when_asked,
    Head,
    |t| {
        // Plain development mode: one warning; the mail goes to the outbox, its link nowhere.
        let server = serve(t.url(), &[], &[]).await.expect("serve starts");
        let log = server.log();
        let warnings: Vec<&str> = log
            .lines()
            .filter(|line| line.contains("Mail is in development mode"))
            .collect();
        assert_eq!(warnings.len(), 1, "{log}");
        assert!(warnings[0].contains("WARN"), "{log}");
        ask_for_a_link(&server, "ada@example.com").await;
        server.log_line("email written to the local outbox").await;
        assert!(!server.log().contains("#token="), "{}", server.log());
        server.terminate().await;

        // Asked to log links, a developer's server prints the whole link, and it signs in.
        let env = [("RAPTOR_DEV_MAIL_LOG_LINKS", "1")];
        let server = serve(t.url(), &[], &env).await.expect("serve starts");
        ask_for_a_link(&server, "grace@example.com").await;
        let line = server.log_line("/signin/email#token=").await;
        assert!(line.contains("development mail link"), "{line}");
        let token = line
            .split("#token=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("a whole link in the log");
        assert_ne!(token, "<redacted>");
        let mut browser = Browser::new(&server.base_url, &public_url(&server));
        let reply = browser
            .post("/api/auth/email-link/login", json!({ "token": token }))
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let outbox: Vec<_> = raptor_store::outbox::recent(t.db(), 10)
            .await
            .expect("outbox")
            .into_iter()
            .filter(|mail| mail["tag"] == "email_link")
            .collect();
        assert_eq!(outbox.len(), 2, "{outbox:?}");
        assert!(
            outbox.iter().all(|mail| {
                mail["text_body"]
                    .as_str()
                    .is_some_and(|body| body.contains("/signin/email#token=<redacted>"))
            }),
            "{outbox:?}"
        );
        assert!(!outbox[0].to_string().contains(token));
        server.terminate().await;
    }
);
