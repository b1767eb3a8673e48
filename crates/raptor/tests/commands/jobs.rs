//! `raptor jobs`: what an operator sees of the queue and can do to it, on both dialects.

use raptor_store::jobs::{self, NewJob};
use raptor_testkit::{dual_test, now, ServeProcess};
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
        let claimed = jobs::claim(t.db(), "default", "w:1:a", 1, now(), now())
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
        let mut done = Vec::new();
        for _ in 0..600 {
            done.clear();
            for id in &ids {
                let job = jobs::get(t.db(), *id).await.expect("get").expect("job");
                if job.state.as_str() == "succeeded" {
                    done.push(job);
                }
            }
            if done.len() == ids.len() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(done.len(), ids.len(), "not every job finished");
        assert!(done.iter().all(|job| job.attempts == 1), "a job ran twice");
        for server in servers {
            assert!(
                server.terminate().await.success(),
                "a server did not stop cleanly"
            );
        }
    }
);
