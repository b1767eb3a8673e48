//! The job queue on both dialects: enqueue and dedupe, claims under a lease, fenced
//! outcomes, heartbeat, rescue, release, operator cancel and retry, stats and pruning.
//! Time is passed in, never slept through.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use raptor_domain::JobState;
use raptor_store::jobs::{self, ClaimedJob, Enqueued, Job, NewJob};
use raptor_store::outbox;
use raptor_testdb::{dual_test, TestDb};
use serde_json::{json, Value};

const W1: &str = "web.1:101:aaaa0001";
const W2: &str = "web.2:202:bbbb0002";
const LEASE: Duration = Duration::seconds(60);

fn new_job<'a>(queue: &'a str, payload: &'a Value, run_at: DateTime<Utc>) -> NewJob<'a> {
    NewJob {
        queue,
        kind: "test.echo",
        payload,
        max_attempts: 5,
        run_at,
        unique_key: None,
    }
}

/// Enqueues on its own and returns the new id.
async fn add(t: &TestDb, job: &NewJob<'_>, now: DateTime<Utc>) -> i64 {
    match jobs::enqueue_alone(t.db(), job, now)
        .await
        .expect("enqueue")
    {
        Enqueued::Created(id) => id,
        Enqueued::Duplicate => panic!("unexpected duplicate for {job:?}"),
    }
}

async fn get(t: &TestDb, id: i64) -> Job {
    jobs::get(t.db(), id)
        .await
        .expect("get")
        .expect("job exists")
}

/// Claims for `worker` at `now`, leased for [`LEASE`].
async fn claim(
    t: &TestDb,
    queue: &str,
    worker: &str,
    limit: i64,
    now: DateTime<Utc>,
) -> Vec<ClaimedJob> {
    jobs::claim(t.db(), queue, None, worker, limit, now, now + LEASE)
        .await
        .expect("claim")
}

fn ids(claimed: &[ClaimedJob]) -> Vec<i64> {
    claimed.iter().map(|j| j.id).collect()
}

dual_test!(
    a_job_enqueued_in_a_rolled_back_transaction_does_not_exist,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let payload = json!({ "n": 1 });
        {
            let mut tx = t.db().begin().await.expect("begin");
            let enqueued = jobs::enqueue(&mut tx, &new_job("default", &payload, now), now)
                .await
                .expect("enqueue");
            assert!(matches!(enqueued, Enqueued::Created(_)), "{enqueued:?}");
            // Dropped without commit: rolled back.
        }
        assert_eq!(t.scalar("SELECT count(*) FROM job_queue").await, 0);
        assert!(claim(t, "default", W1, 10, now).await.is_empty());

        let mut tx = t.db().begin().await.expect("begin");
        let id = jobs::enqueue(&mut tx, &new_job("default", &payload, now), now)
            .await
            .expect("enqueue")
            .id()
            .expect("created");
        tx.commit().await.expect("commit");
        let job = get(t, id).await;
        assert_eq!(job.state, JobState::Queued);
        assert_eq!(job.queue, "default");
        assert_eq!(job.kind, "test.echo");
        assert_eq!(job.payload, payload);
        assert_eq!((job.attempts, job.max_attempts), (0, 5));
        assert_eq!((job.run_at, job.created_at), (now, now));
        assert_eq!(job.locked_by, None);
        assert_eq!(job.lease_until, None);
        assert_eq!(job.finished_at, None);
        assert_eq!(job.unique_key, None);
    }
);

dual_test!(a_unique_key_is_spent_until_its_job_is_canceled, Head, |t| {
    let now = raptor_testdb::now();
    let payload = json!({});
    let keyed = |key| NewJob {
        unique_key: Some(key),
        ..new_job("default", &payload, now)
    };
    let first = add(t, &keyed("cron:v1:tick:1"), now).await;
    assert_eq!(
        jobs::enqueue_alone(t.db(), &keyed("cron:v1:tick:1"), now)
            .await
            .expect("again"),
        Enqueued::Duplicate
    );
    assert_eq!(
        get(t, first).await.unique_key.as_deref(),
        Some("cron:v1:tick:1")
    );

    // A duplicate does not spoil the transaction it happens in.
    let mut tx = t.db().begin().await.expect("begin");
    let dup = jobs::enqueue(&mut tx, &keyed("cron:v1:tick:1"), now)
        .await
        .expect("dup in tx");
    assert_eq!(dup, Enqueued::Duplicate);
    let other = jobs::enqueue(&mut tx, &keyed("cron:v1:tick:2"), now)
        .await
        .expect("other key in tx");
    assert!(matches!(other, Enqueued::Created(_)), "{other:?}");
    tx.commit().await.expect("commit");

    // Jobs without a key never collide.
    add(t, &new_job("default", &payload, now), now).await;
    add(t, &new_job("default", &payload, now), now).await;

    // A finished job still holds its key.
    let claimed = claim(t, "default", W1, 1, now).await;
    assert_eq!(ids(&claimed), vec![first]);
    assert!(jobs::complete(t.db(), first, W1, 1, now)
        .await
        .expect("complete"));
    assert_eq!(
        jobs::enqueue_alone(t.db(), &keyed("cron:v1:tick:1"), now)
            .await
            .expect("after success"),
        Enqueued::Duplicate
    );

    // Canceling frees it.
    let canceled = other.id().expect("id");
    assert!(jobs::cancel(t.db(), canceled, now).await.expect("cancel"));
    let again = add(t, &keyed("cron:v1:tick:2"), now).await;
    assert_ne!(again, canceled);
    assert_eq!(
        t.scalar("SELECT count(*) FROM job_queue WHERE unique_key = 'cron:v1:tick:2'")
            .await,
        2
    );
});

dual_test!(
    claims_take_due_jobs_of_one_queue_oldest_first_up_to_the_limit,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let payload = json!({ "to": "ada" });
        let newest = add(
            t,
            &new_job("default", &payload, now - Duration::minutes(1)),
            now,
        )
        .await;
        let oldest = add(
            t,
            &new_job("default", &payload, now - Duration::minutes(3)),
            now,
        )
        .await;
        let middle = add(
            t,
            &new_job("default", &payload, now - Duration::minutes(2)),
            now,
        )
        .await;
        let later = add(
            t,
            &new_job("default", &payload, now + Duration::hours(1)),
            now,
        )
        .await;
        let elsewhere = add(t, &new_job("mail", &payload, now), now).await;
        outbox::store(t.db(), &json!({ "to": "x@example.com" }), now)
            .await
            .expect("outbox");

        assert!(claim(t, "default", W1, 0, now).await.is_empty(), "limit 0");
        let first = claim(t, "default", W1, 2, now).await;
        assert_eq!(ids(&first), vec![oldest, middle]);
        for claimed in &first {
            assert_eq!(claimed.attempts, 1);
            assert_eq!(claimed.max_attempts, 5);
            assert_eq!(claimed.payload, payload);
            assert_eq!(claimed.queue, "default");
            assert_eq!(claimed.kind, "test.echo");
            let stored = get(t, claimed.id).await;
            assert_eq!(stored.state, JobState::Running);
            assert_eq!(stored.locked_by.as_deref(), Some(W1));
            assert_eq!(stored.locked_at, Some(now));
            assert_eq!(stored.lease_until, Some(now + LEASE));
        }
        assert_eq!(first[0].run_at, now - Duration::minutes(3));

        assert_eq!(ids(&claim(t, "default", W2, 10, now).await), vec![newest]);
        assert!(
            claim(t, "default", W2, 10, now).await.is_empty(),
            "not due yet"
        );
        assert!(claim(t, "outbox", W2, 10, now).await.is_empty(), "outbox");
        assert_eq!(
            ids(&claim(t, "default", W2, 10, now + Duration::hours(1)).await),
            vec![later]
        );
        assert_eq!(ids(&claim(t, "mail", W2, 10, now).await), vec![elsewhere]);
        assert_eq!(
            t.scalar(
                "SELECT count(*) FROM job_queue WHERE queue = 'outbox' AND status = 'succeeded'"
            )
            .await,
            1
        );
    }
);

dual_test!(concurrent_claimers_never_share_a_job, Head, |t| {
    let now = raptor_testdb::now();
    let payload = json!({});
    let mut all = BTreeSet::new();
    for i in 0..40 {
        all.insert(
            add(
                t,
                &new_job("default", &payload, now - Duration::seconds(i)),
                now,
            )
            .await,
        );
    }
    let mut claimers = Vec::new();
    for worker in 0..4 {
        let db = t.db().clone();
        claimers.push(tokio::spawn(async move {
            let worker_id = format!("web.{worker}:1:0000000{worker}");
            let mut mine = Vec::new();
            loop {
                let batch = jobs::claim(&db, "default", None, &worker_id, 3, now, now + LEASE)
                    .await
                    .expect("claim");
                assert!(batch.len() <= 3, "{} jobs over the limit", batch.len());
                if batch.is_empty() {
                    return mine;
                }
                for job in &batch {
                    assert_eq!(job.attempts, 1, "job {} claimed twice", job.id);
                }
                mine.extend(batch.iter().map(|j| j.id));
            }
        }));
    }
    let mut claimed = Vec::new();
    for claimer in claimers {
        claimed.extend(claimer.await.expect("claimer"));
    }
    let distinct: BTreeSet<i64> = claimed.iter().copied().collect();
    assert_eq!(
        claimed.len(),
        40,
        "some job claimed twice or missed: {claimed:?}"
    );
    assert_eq!(distinct, all);
    assert_eq!(
        t.scalar("SELECT count(*) FROM job_queue WHERE status = 'running' AND attempts = 1")
            .await,
        40
    );
});

dual_test!(
    a_failing_job_is_retried_until_it_runs_out_of_attempts,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let payload = json!({});
        let id = add(
            t,
            &NewJob {
                max_attempts: 3,
                ..new_job("default", &payload, now)
            },
            now,
        )
        .await;
        let mut at = now;
        for attempt in 1..=2 {
            let claimed = claim(t, "default", W1, 1, at).await;
            assert_eq!(claimed[0].attempts, attempt);
            let retry_at = at + Duration::seconds(30);
            assert!(
                jobs::fail(t.db(), id, W1, attempt, at, "timeout", false, retry_at)
                    .await
                    .expect("fail")
            );
            let job = get(t, id).await;
            assert_eq!(job.state, JobState::Queued);
            assert_eq!(job.run_at, retry_at);
            assert_eq!(job.attempts, attempt);
            assert_eq!(job.last_error.as_deref(), Some("timeout"));
            assert_eq!((job.finished_at, job.lease_until), (None, None));
            assert!(
                claim(t, "default", W1, 1, at).await.is_empty(),
                "backing off"
            );
            at = retry_at;
        }
        let claimed = claim(t, "default", W1, 1, at).await;
        assert_eq!(claimed[0].attempts, 3);
        assert!(jobs::fail(
            t.db(),
            id,
            W1,
            3,
            at,
            "timeout again",
            false,
            at + Duration::minutes(1)
        )
        .await
        .expect("fail"));
        let job = get(t, id).await;
        assert_eq!(job.state, JobState::Failed);
        assert_eq!(job.finished_at, Some(at));
        assert_eq!(job.run_at, at, "run_at is the due time of the last attempt");
        assert_eq!(job.last_error.as_deref(), Some("timeout again"));
        assert!(claim(t, "default", W1, 1, at + Duration::hours(1))
            .await
            .is_empty());
    }
);

dual_test!(
    a_permanent_failure_ends_the_job_at_once_and_stores_a_clean_short_error,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let payload = json!({});
        let id = add(t, &new_job("default", &payload, now), now).await;
        claim(t, "default", W1, 1, now).await;
        let error = format!("refused\0{}", "x".repeat(3000));
        assert!(jobs::fail(
            t.db(),
            id,
            W1,
            1,
            now,
            &error,
            true,
            now + Duration::minutes(1)
        )
        .await
        .expect("fail"));
        let job = get(t, id).await;
        assert_eq!(job.state, JobState::Failed);
        assert_eq!((job.attempts, job.max_attempts), (1, 5));
        assert_eq!(job.finished_at, Some(now));
        let stored = job.last_error.expect("error stored");
        assert_eq!(stored.chars().count(), jobs::ERROR_MAX_CHARS);
        assert!(stored.starts_with("refusedxxx"), "{}", &stored[..20]);
    }
);

dual_test!(
    a_worker_that_lost_its_job_cannot_complete_or_fail_it,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let payload = json!({});
        let id = add(t, &new_job("default", &payload, now), now).await;
        claim(t, "default", W1, 1, now).await;

        // W1 stalls past its lease; the job is rescued.
        let later = now + Duration::minutes(2);
        assert_eq!(
            jobs::rescue(t.db(), later, later - Duration::seconds(30))
                .await
                .expect("rescue"),
            1
        );
        assert!(!jobs::complete(t.db(), id, W1, 1, later)
            .await
            .expect("late complete"));
        assert_eq!(get(t, id).await.state, JobState::Queued);

        // W2 runs it again; W1's late outcomes still change nothing.
        assert_eq!(claim(t, "default", W2, 1, later).await[0].attempts, 2);
        let before = get(t, id).await;
        assert!(!jobs::complete(t.db(), id, W1, 1, later)
            .await
            .expect("stale complete"));
        assert!(!jobs::fail(t.db(), id, W1, 1, later, "stale", true, later)
            .await
            .expect("stale fail"));
        assert!(!jobs::complete(t.db(), id, W2, 1, later)
            .await
            .expect("wrong attempt"));
        assert!(!jobs::complete(t.db(), id + 1000, W2, 2, later)
            .await
            .expect("no job"));
        assert_eq!(get(t, id).await, before);
        assert_eq!(before.state, JobState::Running);
        assert_eq!(before.locked_by.as_deref(), Some(W2));

        assert!(jobs::complete(t.db(), id, W2, 2, later)
            .await
            .expect("complete"));
        let job = get(t, id).await;
        assert_eq!(job.state, JobState::Succeeded);
        assert_eq!(job.finished_at, Some(later));
        assert_eq!((job.lease_until, job.last_error), (None, None));
        assert_eq!(job.locked_by.as_deref(), Some(W2), "who ran it is kept");
        assert!(!jobs::complete(t.db(), id, W2, 2, later)
            .await
            .expect("twice"));
    }
);

dual_test!(a_heartbeat_extends_the_leases_its_worker_holds, Head, |t| {
    let now = raptor_testdb::now();
    let payload = json!({});
    let a = add(
        t,
        &new_job("default", &payload, now - Duration::seconds(3)),
        now,
    )
    .await;
    let b = add(
        t,
        &new_job("default", &payload, now - Duration::seconds(2)),
        now,
    )
    .await;
    let c = add(
        t,
        &new_job("default", &payload, now - Duration::seconds(1)),
        now,
    )
    .await;
    assert_eq!(ids(&claim(t, "default", W1, 2, now).await), vec![a, b]);
    assert_eq!(ids(&claim(t, "default", W2, 1, now).await), vec![c]);

    let renewed = now + Duration::seconds(45) + LEASE;
    assert_eq!(
        jobs::heartbeat(t.db(), W1, &[a, b, c], renewed)
            .await
            .expect("heartbeat"),
        vec![a, b],
        "another worker's job is not renewed"
    );
    assert_eq!(get(t, a).await.lease_until, Some(renewed));
    assert_eq!(get(t, b).await.lease_until, Some(renewed));
    assert_eq!(get(t, c).await.lease_until, Some(now + LEASE));

    // Past the first lease, only W2's job is rescued.
    let check = now + LEASE + Duration::seconds(30);
    assert_eq!(jobs::rescue(t.db(), check, check).await.expect("rescue"), 1);
    assert_eq!(get(t, c).await.state, JobState::Queued);
    assert!(jobs::heartbeat(t.db(), W2, &[c], renewed)
        .await
        .expect("lost")
        .is_empty());

    assert!(jobs::complete(t.db(), a, W1, 1, check)
        .await
        .expect("complete"));
    assert_eq!(
        jobs::heartbeat(t.db(), W1, &[a, b], renewed)
            .await
            .expect("heartbeat"),
        vec![b]
    );
    // A job the worker no longer runs (its outcome could not be written) is not held: its
    // lease lapses and rescue takes it.
    let later = renewed + Duration::seconds(45);
    assert!(jobs::heartbeat(t.db(), W1, &[], later)
        .await
        .expect("heartbeat")
        .is_empty());
    assert_eq!(get(t, b).await.lease_until, Some(renewed));
});

dual_test!(
    rescue_requeues_expired_leases_and_fails_jobs_on_their_last_attempt,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let payload = json!({});
        let spare = add(
            t,
            &NewJob {
                max_attempts: 3,
                ..new_job("default", &payload, now - Duration::seconds(2))
            },
            now,
        )
        .await;
        let last = add(
            t,
            &NewJob {
                max_attempts: 1,
                ..new_job("default", &payload, now - Duration::seconds(1))
            },
            now,
        )
        .await;
        let healthy = add(t, &new_job("default", &payload, now), now).await;
        claim(t, "default", W1, 2, now).await;
        jobs::claim(
            t.db(),
            "default",
            None,
            W2,
            1,
            now,
            now + Duration::hours(1),
        )
        .await
        .expect("claim");

        let at = now + Duration::minutes(5);
        let expired_before = at - Duration::seconds(30);
        assert_eq!(
            jobs::rescue(t.db(), at, now + LEASE)
                .await
                .expect("not yet"),
            0,
            "a lease ending exactly at the cut-off is still held"
        );
        assert_eq!(
            jobs::rescue(t.db(), at, expired_before)
                .await
                .expect("rescue"),
            2
        );
        let job = get(t, spare).await;
        assert_eq!(job.state, JobState::Queued);
        assert_eq!((job.run_at, job.attempts), (at, 1));
        assert_eq!(job.lease_until, None);
        assert_eq!(
            job.last_error.as_deref(),
            Some("lease expired: worker died or stalled")
        );
        let job = get(t, last).await;
        assert_eq!(job.state, JobState::Failed);
        assert_eq!(job.finished_at, Some(at));
        assert_eq!(
            job.last_error.as_deref(),
            Some("lease expired on the final attempt")
        );
        assert_eq!(get(t, healthy).await.state, JobState::Running);
        assert_eq!(
            jobs::rescue(t.db(), at, expired_before)
                .await
                .expect("again"),
            0
        );
        assert_eq!(claim(t, "default", W2, 5, at).await[0].attempts, 2);
    }
);

dual_test!(
    release_on_shutdown_requeues_without_spending_an_attempt,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let payload = json!({});
        for i in 0..3 {
            add(
                t,
                &new_job("default", &payload, now - Duration::seconds(3 - i)),
                now,
            )
            .await;
        }
        let mine = ids(&claim(t, "default", W1, 2, now).await);
        let theirs = ids(&claim(t, "default", W2, 1, now).await);
        let at = now + Duration::seconds(20);
        assert_eq!(jobs::release(t.db(), W1, at).await.expect("release"), 2);
        for id in &mine {
            let job = get(t, *id).await;
            assert_eq!(job.state, JobState::Queued);
            assert_eq!((job.attempts, job.run_at, job.lease_until), (0, at, None));
            assert_eq!(job.last_error.as_deref(), Some("interrupted by shutdown"));
        }
        assert_eq!(get(t, theirs[0]).await.state, JobState::Running);
        assert_eq!(jobs::release(t.db(), W1, at).await.expect("again"), 0);
        let again = claim(t, "default", W2, 5, at).await;
        assert_eq!(ids(&again), mine);
        assert!(again.iter().all(|j| j.attempts == 1));
    }
);

dual_test!(
    cancel_stops_only_queued_jobs_and_retry_revives_failed_or_canceled_ones,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let payload = json!({});
        let queued = add(
            t,
            &new_job("default", &payload, now + Duration::hours(1)),
            now,
        )
        .await;
        let running = add(t, &new_job("default", &payload, now), now).await;
        claim(t, "default", W1, 1, now).await;

        assert!(!jobs::retry(t.db(), queued, now)
            .await
            .expect("retry queued"));
        assert!(!jobs::retry(t.db(), running, now)
            .await
            .expect("retry running"));
        assert!(!jobs::cancel(t.db(), running, now)
            .await
            .expect("cancel running"));
        assert!(!jobs::cancel(t.db(), queued + 1000, now)
            .await
            .expect("no job"));
        assert!(jobs::cancel(t.db(), queued, now).await.expect("cancel"));
        let job = get(t, queued).await;
        assert_eq!(
            (job.state, job.finished_at),
            (JobState::Canceled, Some(now))
        );
        assert!(!jobs::cancel(t.db(), queued, now).await.expect("twice"));

        let at = now + Duration::minutes(1);
        assert!(jobs::retry(t.db(), queued, at)
            .await
            .expect("retry canceled"));
        let job = get(t, queued).await;
        assert_eq!(job.state, JobState::Queued);
        assert_eq!((job.run_at, job.finished_at), (at, None));
        assert_eq!((job.attempts, job.max_attempts), (0, 5), "attempts left");
        assert_eq!(ids(&claim(t, "default", W2, 5, at).await), vec![queued]);

        // A job out of attempts gets exactly one more.
        let dead = add(
            t,
            &NewJob {
                max_attempts: 1,
                ..new_job("default", &payload, at)
            },
            at,
        )
        .await;
        claim(t, "default", W1, 1, at).await;
        assert!(jobs::fail(t.db(), dead, W1, 1, at, "boom", false, at)
            .await
            .expect("fail"));
        assert_eq!(get(t, dead).await.state, JobState::Failed);
        assert!(jobs::retry(t.db(), dead, at).await.expect("retry failed"));
        let job = get(t, dead).await;
        assert_eq!(
            (job.state, job.attempts, job.max_attempts),
            (JobState::Queued, 1, 2)
        );
        assert_eq!(
            job.last_error.as_deref(),
            Some("boom"),
            "the last error is kept"
        );
        assert_eq!(claim(t, "default", W1, 1, at).await[0].attempts, 2);
        assert!(jobs::fail(t.db(), dead, W1, 2, at, "boom", false, at)
            .await
            .expect("fail"));
        assert_eq!(get(t, dead).await.state, JobState::Failed);

        // A canceled job whose key a newer job took is not revived beside it.
        let keyed = NewJob {
            unique_key: Some("report:7"),
            ..new_job("default", &payload, at + Duration::hours(1))
        };
        let old = add(t, &keyed, at).await;
        assert!(jobs::cancel(t.db(), old, at).await.expect("cancel"));
        let new = add(t, &keyed, at).await;
        assert!(!jobs::retry(t.db(), old, at).await.expect("retry taken key"));
        assert_eq!(get(t, old).await.state, JobState::Canceled);
        assert_eq!(get(t, new).await.state, JobState::Queued);
    }
);

dual_test!(
    list_shows_newest_first_and_the_outbox_only_by_name,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let payload = json!({});
        let mail = outbox::store(t.db(), &json!({ "to": "x@example.com" }), now)
            .await
            .expect("outbox");
        let a = add(t, &new_job("default", &payload, now), now).await;
        let b = add(t, &new_job("reports", &payload, now), now).await;
        let c = add(
            t,
            &new_job("default", &payload, now + Duration::hours(1)),
            now,
        )
        .await;
        claim(t, "default", W1, 1, now).await;

        let listed = |jobs: Vec<Job>| jobs.iter().map(|j| j.id).collect::<Vec<_>>();
        let all = jobs::list(t.db(), None, None, 10).await.expect("list");
        assert_eq!(listed(all), vec![c, b, a]);
        assert_eq!(
            listed(jobs::list(t.db(), None, None, 2).await.expect("list")),
            vec![c, b]
        );
        assert_eq!(
            listed(
                jobs::list(t.db(), Some(JobState::Queued), None, 10)
                    .await
                    .expect("queued")
            ),
            vec![c, b]
        );
        assert_eq!(
            listed(
                jobs::list(t.db(), Some(JobState::Running), Some("default"), 10)
                    .await
                    .expect("running")
            ),
            vec![a]
        );
        assert_eq!(
            listed(
                jobs::list(t.db(), None, Some("default"), 10)
                    .await
                    .expect("default")
            ),
            vec![c, a]
        );
        assert!(jobs::list(t.db(), Some(JobState::Succeeded), None, 10)
            .await
            .expect("succeeded")
            .is_empty());
        let outbox_rows = jobs::list(t.db(), None, Some("outbox"), 10)
            .await
            .expect("outbox");
        assert_eq!(listed(outbox_rows.clone()), vec![mail]);
        assert_eq!(outbox_rows[0].state, JobState::Succeeded);
        assert_eq!(outbox_rows[0].payload, json!({ "to": "x@example.com" }));
        assert!(jobs::get(t.db(), c + 1000).await.expect("get").is_none());
    }
);

dual_test!(
    stats_count_each_queue_and_state_and_age_the_oldest_due_job,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let payload = json!({});
        let empty = jobs::stats(t.db(), now).await.expect("stats");
        assert!(empty.counts.is_empty());
        assert_eq!(empty.oldest_ready_age_secs, None);

        outbox::store(t.db(), &json!({}), now - Duration::hours(3))
            .await
            .expect("outbox");
        add(
            t,
            &new_job("default", &payload, now + Duration::minutes(5)),
            now,
        )
        .await;
        let only_future = jobs::stats(t.db(), now).await.expect("stats");
        assert_eq!(only_future.oldest_ready_age_secs, None, "nothing is due");

        let run = add(
            t,
            &new_job("default", &payload, now - Duration::minutes(10)),
            now,
        )
        .await;
        add(
            t,
            &new_job("default", &payload, now - Duration::seconds(90)),
            now,
        )
        .await;
        add(
            t,
            &new_job("mail", &payload, now - Duration::seconds(10)),
            now,
        )
        .await;
        let done = add(t, &new_job("mail", &payload, now - Duration::hours(2)), now).await;
        assert_eq!(ids(&claim(t, "default", W1, 1, now).await), vec![run]);
        assert_eq!(ids(&claim(t, "mail", W1, 1, now).await), vec![done]);
        assert!(jobs::complete(t.db(), done, W1, 1, now)
            .await
            .expect("complete"));

        let stats = jobs::stats(t.db(), now).await.expect("stats");
        assert_eq!(stats.count("default", JobState::Queued), 2);
        assert_eq!(stats.count("default", JobState::Running), 1);
        assert_eq!(stats.count("mail", JobState::Queued), 1);
        assert_eq!(stats.count("mail", JobState::Succeeded), 1);
        assert_eq!(stats.count("outbox", JobState::Succeeded), 0);
        assert!(
            stats.counts.iter().all(|c| c.queue != "outbox"),
            "{stats:?}"
        );
        assert_eq!(stats.counts.len(), 4, "{stats:?}");
        assert_eq!(stats.oldest_ready_age_secs, Some(90));
        let later = jobs::stats(t.db(), now + Duration::minutes(10))
            .await
            .expect("stats later");
        assert_eq!(later.oldest_ready_age_secs, Some(690));
    }
);

dual_test!(
    prune_removes_old_finished_jobs_in_batches_and_keeps_the_outbox_and_recent_ones,
    Head,
    |t| {
        let now = raptor_testdb::now();
        let old = now - Duration::days(30);
        let payload = json!({});
        let outcome = |id, worker: &'static str, at| async move {
            let claimed = jobs::claim(t.db(), "default", None, worker, 1, at, at + LEASE)
                .await
                .expect("claim");
            assert_eq!(ids(&claimed), vec![id]);
        };

        // Old outcomes: one succeeded (then copied past two batches), one failed, one canceled.
        let succeeded = add(t, &new_job("default", &payload, old), old).await;
        outcome(succeeded, W1, old).await;
        assert!(jobs::complete(t.db(), succeeded, W1, 1, old)
            .await
            .expect("complete"));
        let failed = add(t, &new_job("default", &payload, old), old).await;
        outcome(failed, W1, old).await;
        assert!(jobs::fail(t.db(), failed, W1, 1, old, "no", true, old)
            .await
            .expect("fail"));
        let canceled = add(
            t,
            &new_job("default", &payload, old + Duration::days(1)),
            old,
        )
        .await;
        assert!(jobs::cancel(t.db(), canceled, old).await.expect("cancel"));
        for _ in 0..11 {
            t.execute(
                "INSERT INTO job_queue (queue, kind, payload, status, attempts, max_attempts, \
                 run_at, locked_at, locked_by, created_at, finished_at) \
                 SELECT queue, kind, payload, status, attempts, max_attempts, run_at, locked_at, \
                 locked_by, created_at, finished_at FROM job_queue \
                 WHERE queue = 'default' AND status = 'succeeded'",
            )
            .await;
        }
        let old_succeeded = 2048;

        // Kept: the outbox, recent outcomes, and anything not finished however old.
        for _ in 0..3 {
            outbox::store(t.db(), &json!({}), old)
                .await
                .expect("outbox");
        }
        let recent_done = add(
            t,
            &new_job("default", &payload, now - Duration::hours(1)),
            now,
        )
        .await;
        outcome(recent_done, W2, now - Duration::hours(1)).await;
        assert!(
            jobs::complete(t.db(), recent_done, W2, 1, now - Duration::hours(1))
                .await
                .expect("complete")
        );
        // Failed 3 days ago: older than the success retention, younger than the failure one.
        let recent_failed = add(
            t,
            &new_job("default", &payload, now - Duration::days(3)),
            now,
        )
        .await;
        outcome(recent_failed, W2, now - Duration::days(3)).await;
        assert!(jobs::fail(
            t.db(),
            recent_failed,
            W2,
            1,
            now - Duration::days(3),
            "no",
            true,
            now
        )
        .await
        .expect("fail"));
        let waiting = add(t, &new_job("default", &payload, old), old).await;

        let pruned = jobs::prune(t.db(), now - Duration::days(1), now - Duration::days(14))
            .await
            .expect("prune");
        assert_eq!(pruned, old_succeeded + 2);
        assert_eq!(
            t.scalar("SELECT count(*) FROM job_queue WHERE queue = 'outbox'")
                .await,
            3
        );
        let left: BTreeSet<i64> = jobs::list(t.db(), None, None, 100)
            .await
            .expect("list")
            .iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(left, BTreeSet::from([recent_done, recent_failed, waiting]));
        assert_eq!(
            jobs::prune(t.db(), now - Duration::days(1), now - Duration::days(14))
                .await
                .expect("again"),
            0
        );
    }
);
