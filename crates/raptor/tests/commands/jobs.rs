//! `raptor jobs`: what an operator sees of the queue and can do to it, on both dialects.

use std::future::Future;
use std::time::Duration;

use raptor_app::mail::delivery;
use raptor_app::mail::OutgoingEmail;
use raptor_app::App;
use raptor_domain::JobState;
use raptor_store::jobs::{self, NewJob};
use raptor_testkit::{dual_test, now, FakePostmark, PostmarkFailure, ServeProcess};
use serde_json::json;

use crate::common::{raptor, stderr, stdout, RAPTOR};

dual_test!(
    an_operator_finds_a_dead_job_retries_it_and_cancels_another,
    Head,
    |t| {
        let payload = json!({ "to": "ada@example.com" });
        let job = |kind| NewJob {
            queue: "default",
            kind,
            payload: &payload,
            max_attempts: 1,
            run_at: now(),
            unique_key: None,
        };
        let dead = jobs::enqueue_alone(t.db(), &job("mail.send"), now())
            .await
            .expect("enqueue")
            .id()
            .expect("id");
        let waiting = jobs::enqueue_alone(t.db(), &job("mail.later"), now())
            .await
            .expect("enqueue")
            .id()
            .expect("id");
        let claimed = jobs::claim(t.db(), "default", None, "w:1:a", 1, now(), now())
            .await
            .expect("claim");
        assert_eq!(claimed[0].id, dead);
        jobs::fail(
            t.db(),
            dead,
            "w:1:a",
            1,
            now(),
            "Postmark answered 500",
            false,
            now(),
        )
        .await
        .expect("fail");

        let cli = raptor().database(t.url());
        let out = cli
            .run(&["jobs", "list", "--state", "failed", "--json"])
            .await;
        assert!(out.status.success(), "{}", stderr(&out));
        let lines: Vec<serde_json::Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["id"], dead);
        assert_eq!(lines[0]["last_error"], "Postmark answered 500");

        let out = cli.run(&["jobs", "stats", "--json"]).await;
        let stats: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        let count = |state: &str| {
            stats["counts"]
                .as_array()
                .expect("counts")
                .iter()
                .find(|c| c["state"] == state)
                .map_or(0, |c| c["count"].as_i64().unwrap_or(0))
        };
        assert_eq!((count("failed"), count("queued")), (1, 1), "{stats}");

        let out = cli.run(&["db", "check", "--json"]).await;
        let check: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        assert_eq!(check["jobs"]["failed"], 1, "{check}");
        assert_eq!(check["jobs"]["queued"], 1, "{check}");
        assert!(check["jobs"]["oldest_ready_age_secs"].is_i64(), "{check}");

        let out = cli.run(&["jobs", "retry", &dead.to_string()]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let again = jobs::get(t.db(), dead).await.expect("get").expect("job");
        assert_eq!(again.state.as_str(), "queued");

        let out = cli.run(&["jobs", "cancel", &waiting.to_string()]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let out = cli.run(&["jobs", "cancel", &waiting.to_string()]).await;
        assert_eq!(
            out.status.code(),
            Some(1),
            "a second cancel must be refused"
        );
        assert!(stderr(&out).contains("not waiting"), "{}", stderr(&out));

        let out = cli.run(&["jobs", "list", "--state", "dead-ish"]).await;
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("unknown state"), "{}", stderr(&out));
    }
);

dual_test!(
    serve_processes_share_the_queue_and_run_each_job_once,
    Head,
    |t| {
        // Three servers over one database (two on SQLite, whose writers queue on one lock), each
        // with its own worker, take the jobs between them; none runs twice or is lost.
        let processes = if t.dialect().name() == "sqlite" { 2 } else { 3 };
        let mut servers = Vec::new();
        for _ in 0..processes {
            let server = ServeProcess::start(RAPTOR, t.url(), &["--worker-concurrency", "3"])
                .await
                .expect("serve starts");
            servers.push(server);
        }
        let payload = json!({});
        let mut ids = Vec::new();
        for n in 0..30 {
            let key = format!("shared-{n}");
            let job = NewJob {
                queue: "default",
                kind: "upkeep",
                payload: &payload,
                max_attempts: 3,
                run_at: now(),
                unique_key: Some(&key),
            };
            let id = jobs::enqueue_alone(t.db(), &job, now())
                .await
                .expect("enqueue");
            ids.push(id.id().expect("a new job"));
        }
        // Wait for the outcome the workers write (bounded: a stuck queue fails the test).
        let done = eventually("every job to finish", || async {
            let mut done = Vec::new();
            for id in &ids {
                let job = jobs::get(t.db(), *id).await.expect("get").expect("job");
                if job.state == JobState::Succeeded {
                    done.push(job);
                }
            }
            (done.len() == ids.len()).then_some(done)
        })
        .await;
        assert!(done.iter().all(|job| job.attempts == 1), "a job ran twice");
        for server in servers {
            assert!(
                server.terminate().await.success(),
                "a server did not stop cleanly"
            );
        }
    }
);

/// Polls `check` until it answers, for at most a minute (a stuck queue fails the test).
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..600 {
        if let Some(found) = check().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gave up waiting for {what}");
}

dual_test!(
    a_worker_killed_mid_job_leaves_it_to_finish_once_elsewhere,
    Head,
    |t| {
        const TOKEN: &str = "server-token";
        let postmark = FakePostmark::start(TOKEN).await;
        postmark.fail_with(PostmarkFailure::NoAnswer);
        let env = [
            ("POSTMARK_SERVER_TOKEN", TOKEN),
            ("RAPTOR_POSTMARK_API_URL", postmark.url()),
            ("RAPTOR_JOB_LEASE", "2"),
        ];
        let doomed = ServeProcess::start_with_env(RAPTOR, t.url(), &[], &env)
            .await
            .expect("serve starts");
        assert!(
            !doomed.log().contains("development mode"),
            "mail through Postmark is not development mode: {}",
            doomed.log()
        );
        let email = OutgoingEmail {
            from: "Raxx <no-reply@raxx.app>".into(),
            to: "ada@example.com".into(),
            subject: "Re: Order stuck [ticket 1]".into(),
            text_body: "It filled at 10:31.".into(),
            tag: "support_reply".into(),
            reply_to: None,
            headers: Vec::new(),
        };
        let app = App::new(t.db().clone());
        let mut tx = app.db.begin().await.expect("begin");
        let id = delivery::enqueue(&app, &mut tx, &email)
            .await
            .expect("enqueue")
            .id()
            .expect("a new job");
        tx.commit().await.expect("commit");

        // The only server claims the mail and is stuck sending it when it is killed.
        eventually("the first send to reach Postmark", || async {
            (postmark.attempts() == 1).then_some(())
        })
        .await;
        let running = jobs::get(t.db(), id).await.expect("get").expect("job");
        assert_eq!(running.state, JobState::Running);
        let first_worker = running.locked_by.clone().expect("a worker holds it");
        doomed.kill().await;
        postmark.heal();

        // Other servers (three in all on PostgreSQL) take the job back once its lease has
        // lapsed, and it is sent once.
        let survivors = if t.dialect().name() == "sqlite" { 1 } else { 2 };
        let mut servers = Vec::new();
        for _ in 0..survivors {
            let server = ServeProcess::start_with_env(RAPTOR, t.url(), &[], &env)
                .await
                .expect("serve starts");
            servers.push(server);
        }
        let done = eventually("the mail to be sent", || async {
            let job = jobs::get(t.db(), id).await.expect("get").expect("job");
            (job.state == JobState::Succeeded).then_some(job)
        })
        .await;
        assert_eq!(done.attempts, 2, "the killed attempt, then one more");
        assert_ne!(done.locked_by.as_deref(), Some(first_worker.as_str()));
        assert_eq!(postmark.received().len(), 1, "sent exactly once");
        assert_eq!(postmark.received()[0]["To"], "ada@example.com");

        // Every process scheduled the recurring work; each tick is one job that ran at most once.
        let ticks = t
            .scalar("SELECT count(*) FROM job_queue WHERE unique_key LIKE 'cron:%'")
            .await;
        let distinct = t
            .scalar(
                "SELECT count(DISTINCT unique_key) FROM job_queue WHERE unique_key LIKE 'cron:%'",
            )
            .await;
        assert!(ticks >= 3, "the recurring jobs were scheduled");
        assert_eq!(ticks, distinct, "a tick was enqueued twice");
        assert_eq!(
            t.scalar(
                "SELECT count(*) FROM job_queue WHERE unique_key LIKE 'cron:%' AND attempts > 1"
            )
            .await,
            0,
            "a tick ran twice"
        );
        for server in servers {
            assert!(
                server.terminate().await.success(),
                "a server did not stop cleanly"
            );
        }
    }
);
