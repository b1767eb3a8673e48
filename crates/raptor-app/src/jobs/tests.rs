//! The worker over a real queue, on both databases: retries with backoff until the job is
//! failed, an operator's retry, recurring ticks enqueued once by many processes, and a dead
//! worker's job run again elsewhere.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::Duration;
use raptor_domain::JobState;
use raptor_store::jobs as store;
use raptor_store::{DatabaseUrl, Db};
use raptor_testdb::{dual_test, TestDb};
use serde_json::{json, Value};

use super::*;
use crate::FixedClock;

/// Counts its runs; fails with `Retry` while fewer than `succeed_from` runs have happened.
#[derive(Clone, Default)]
struct Counting {
    runs: Arc<AtomicUsize>,
    succeed_from: usize,
}

impl Handler for Counting {
    fn run<'a>(&'a self, _: &'a App, _: &'a Value) -> JobFuture<'a> {
        Box::pin(async move {
            let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
            if run < self.succeed_from {
                Err(JobError::Retry(format!("run {run} failed")))
            } else {
                Ok(())
            }
        })
    }
}

fn clocked(t: &TestDb) -> (App, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(raptor_testdb::now()));
    (App::new(t.db().clone()).with_clock(clock.clone()), clock)
}

fn worker(app: &App, registry: Registry) -> Worker {
    Worker::new(app.clone(), registry, WorkerConfig::default())
}

dual_test!(
    failures_back_off_then_fail_and_an_operator_retry_runs_it,
    Head,
    |t| {
        let (app, clock) = clocked(t);
        let handler = Counting {
            succeed_from: 4,
            ..Counting::default()
        };
        let worker = worker(&app, Registry::default().with("flaky", handler.clone()));
        let mut job = Job::new("flaky", json!({ "n": 1 }));
        job.max_attempts = 3;
        let id = enqueue_alone(&app, &job)
            .await
            .expect("enqueue")
            .id()
            .expect("new job");

        let mut waits = Vec::new();
        for attempt in 1..=3 {
            assert_eq!(worker.drain().await.expect("drain"), 1, "attempt {attempt}");
            let stored = store::get(&app.db, id).await.expect("get").expect("job");
            if attempt < 3 {
                assert_eq!(stored.state, JobState::Queued);
                let wait = stored.run_at - app.now();
                assert_eq!(
                    worker.drain().await.expect("drain"),
                    0,
                    "ran before its backoff"
                );
                waits.push(wait);
                clock.set(stored.run_at);
            } else {
                assert_eq!(stored.state, JobState::Failed);
                assert_eq!(stored.last_error.as_deref(), Some("run 3 failed"));
            }
        }
        assert!(
            waits[0] >= Duration::seconds(12) && waits[1] > waits[0],
            "{waits:?}"
        );
        assert_eq!(handler.runs.load(Ordering::SeqCst), 3);

        assert!(store::retry(&app.db, id, app.now()).await.expect("retry"));
        assert_eq!(worker.drain().await.expect("drain"), 1);
        let stored = store::get(&app.db, id).await.expect("get").expect("job");
        assert_eq!(stored.state, JobState::Succeeded);
        assert_eq!(handler.runs.load(Ordering::SeqCst), 4);
    }
);

dual_test!(a_job_no_worker_knows_waits_for_one_that_does, Head, |t| {
    // As during a deploy: a newer release enqueued a kind the running workers predate.
    let (app, _) = clocked(t);
    let id = enqueue_alone(&app, &Job::new("count", json!({})))
        .await
        .expect("enqueue")
        .id()
        .expect("new job");
    let older = worker(&app, Registry::default());
    assert_eq!(older.drain().await.expect("drain"), 0, "not claimed");
    let stored = store::get(&app.db, id).await.expect("get").expect("job");
    assert_eq!((stored.state, stored.attempts), (JobState::Queued, 0));

    let handler = Counting::default();
    let newer = worker(&app, Registry::default().with("count", handler.clone()));
    assert_eq!(newer.drain().await.expect("drain"), 1);
    let stored = store::get(&app.db, id).await.expect("get").expect("job");
    assert_eq!((stored.state, stored.attempts), (JobState::Succeeded, 1));
    assert_eq!(handler.runs.load(Ordering::SeqCst), 1);
});

dual_test!(
    each_tick_runs_once_however_many_processes_schedule_it,
    Head,
    |t| {
        let url = DatabaseUrl::parse(t.url()).expect("url");
        let clock = Arc::new(FixedClock::new(raptor_testdb::now()));
        let handler = Counting::default();
        let schedules = [Recurring {
            name: "count",
            kind: "count",
            every_seconds: 15,
        }];
        // Three processes, each with its own pool, schedule and work the same ticks.
        let mut apps = Vec::new();
        for _ in 0..3 {
            let db = Db::connect(&url).await.expect("connect");
            apps.push(App::new(db).with_clock(clock.clone()));
        }
        for tick in 0..4 {
            let created: usize = futures_util::future::join_all(
                apps.iter()
                    .map(|app| schedule::enqueue_due(app, &schedules)),
            )
            .await
            .into_iter()
            .map(|r| r.expect("enqueue"))
            .sum();
            assert_eq!(created, 1, "tick {tick}");
            let workers: Vec<_> = apps
                .iter()
                .map(|app| worker(app, Registry::default().with("count", handler.clone())))
                .collect();
            let ran: usize = futures_util::future::join_all(workers.iter().map(Worker::drain))
                .await
                .into_iter()
                .map(|r| r.expect("drain"))
                .sum();
            assert_eq!(ran, 1, "tick {tick}");
            clock.advance(Duration::seconds(15));
        }
        assert_eq!(handler.runs.load(Ordering::SeqCst), 4);
        for app in apps {
            app.db.close().await;
        }
    }
);

dual_test!(
    a_dead_workers_job_is_rescued_and_runs_once_elsewhere,
    Head,
    |t| {
        let (app, clock) = clocked(t);
        let handler = Counting::default();
        let id = enqueue_alone(&app, &Job::new("count", json!({})))
            .await
            .expect("enqueue")
            .id()
            .expect("new job");
        // A worker claims it and is killed: no outcome, no heartbeat.
        let now = app.now();
        let claimed = store::claim(
            &app.db,
            DEFAULT_QUEUE,
            None,
            "dead:1:x",
            10,
            now,
            now + Duration::seconds(60),
        )
        .await
        .expect("claim");
        assert_eq!(claimed.len(), 1);
        let survivor = worker(&app, standard().with("count", handler.clone()));
        assert_eq!(
            survivor.drain().await.expect("drain"),
            0,
            "the job is leased"
        );

        clock.advance(Duration::seconds(120));
        // The survivor takes the job back once its lease has run out, then runs it: once.
        survivor.drain().await.expect("drain");
        let stored = store::get(&app.db, id).await.expect("get").expect("job");
        assert_eq!(stored.state, JobState::Succeeded);
        assert_eq!(stored.attempts, 2);
        assert_eq!(handler.runs.load(Ordering::SeqCst), 1);
    }
);

/// Never finishes.
struct Hangs;

impl Handler for Hangs {
    fn run<'a>(&'a self, _: &'a App, _: &'a Value) -> JobFuture<'a> {
        Box::pin(std::future::pending())
    }
}

dual_test!(
    an_attempt_that_hangs_is_abandoned_and_retried_later,
    Head,
    |t| {
        let (app, _) = clocked(t);
        let config = WorkerConfig {
            job_timeout: std::time::Duration::from_millis(50),
            ..WorkerConfig::default()
        };
        let worker = Worker::new(
            app.clone(),
            Registry::default().with("hangs", Hangs),
            config,
        );
        let id = enqueue_alone(&app, &Job::new("hangs", json!({})))
            .await
            .expect("enqueue")
            .id()
            .expect("new job");
        assert_eq!(worker.drain().await.expect("drain"), 1);
        let stored = store::get(&app.db, id).await.expect("get").expect("job");
        assert_eq!(
            stored.state,
            JobState::Queued,
            "a hung attempt must free its slot"
        );
        assert!(stored.run_at > app.now(), "retried later, with backoff");
        assert!(
            stored
                .last_error
                .as_deref()
                .unwrap_or_default()
                .contains("longer than"),
            "{:?}",
            stored.last_error
        );
    }
);

/// Tells the test it started, then never finishes.
struct Blocks(
    tokio::sync::mpsc::UnboundedSender<&'static str>,
    &'static str,
);

impl Handler for Blocks {
    fn run<'a>(&'a self, _: &'a App, _: &'a Value) -> JobFuture<'a> {
        Box::pin(async move {
            let _ = self.0.send(self.1);
            std::future::pending().await
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_committed_job_wakes_an_idle_worker_without_waiting_for_the_poll() {
    let t = TestDb::create(raptor_testdb::Dialect::Postgres, raptor_testdb::Start::Head).await;
    let app = App::new(t.db().clone());
    let (started, mut starts) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(
        app.clone(),
        Registry::default()
            .with("first", Blocks(started.clone(), "first"))
            .with("second", Blocks(started, "second")),
        WorkerConfig {
            concurrency: 2,
            poll_every: std::time::Duration::from_secs(3600),
            drain_deadline: std::time::Duration::ZERO,
            schedule: false,
            ..WorkerConfig::default()
        },
    );
    enqueue_alone(&app, &Job::new("first", json!({})))
        .await
        .expect("enqueue");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    // The first claim took the one job and left a slot free; from now on the worker claims
    // again only when its hour-long poll ends, a job ends (this one never does), or it hears
    // of a new job.
    assert_eq!(starts.recv().await, Some("first"));
    enqueue_alone(&app, &Job::new("second", json!({})))
        .await
        .expect("enqueue");
    let heard = tokio::time::timeout(std::time::Duration::from_secs(30), starts.recv()).await;
    assert_eq!(
        heard.ok().flatten(),
        Some("second"),
        "the worker did not hear of the new job"
    );
    let _ = stop.send(true);
    running.await.expect("the worker stops");
    t.finish().await;
}
