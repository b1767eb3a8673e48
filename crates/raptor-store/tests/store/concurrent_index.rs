//! PostgreSQL only: a revision running `CREATE INDEX CONCURRENTLY` completes while a second
//! migrator waits for the migration lock. A migrator that waited inside `pg_advisory_lock`
//! would hold a snapshot the index build waits for, and the two would deadlock.

use std::time::Duration;

use raptor_store::migrate::{Migrator, Revision, Scripts};
use raptor_store::{Db, EngineSettings};
use raptor_testdb::{Dialect, Start, TestDb};
use sqlx::{Connection, PgConnection};

const fn postgres_only(id: &'static str, up: &'static str, transactional: bool) -> Revision {
    Revision {
        id,
        message: id,
        sqlite: Scripts { up: "", down: "" },
        postgres: Scripts { up, down: "" },
        transactional,
        foreign_keys_off: false,
    }
}

/// Polls a condition the test cannot be told about directly, failing after a generous bound.
async fn until(url: &str, sql: &str) {
    let mut conn = PgConnection::connect(url).await.expect("observer");
    for _ in 0..600 {
        let met: bool = sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .expect("poll");
        if met {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition never held: {sql}");
}

async fn pool(t: &TestDb, application_name: &str) -> Db {
    let settings = EngineSettings {
        max_connections: 2,
        application_name: application_name.to_owned(),
        ..EngineSettings::default()
    };
    Db::connect_with(&t.database_url(), &settings)
        .await
        .expect("pool")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_index_build_does_not_deadlock_a_waiting_migrator() {
    let t = TestDb::create(Dialect::Postgres, Start::Empty).await;
    t.execute("CREATE TABLE gate (id BIGINT); CREATE TABLE items (v TEXT);")
        .await;
    let migrator = Migrator::new(vec![
        postgres_only("0001_pass_the_gate", "SELECT count(*) FROM gate;", true),
        postgres_only(
            "0002_concurrent_index",
            "CREATE INDEX CONCURRENTLY ix_items_v ON items (v);",
            false,
        ),
    ]);

    // Hold the gate so the first migrator stops inside revision 0001, holding the lock.
    let mut holder = PgConnection::connect(t.url()).await.expect("holder");
    sqlx::raw_sql("BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE;")
        .execute(&mut holder)
        .await
        .expect("lock the gate");

    let first_db = pool(&t, "raptor-first").await;
    let first = tokio::spawn({
        let (m, db) = (migrator.clone(), first_db.clone());
        async move { m.upgrade(&db, "head").await }
    });
    until(
        t.url(),
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'raptor-first' \
         AND wait_event_type = 'Lock')",
    )
    .await;

    let second_db = pool(&t, "raptor-second").await;
    let second = tokio::spawn({
        let (m, db) = (migrator.clone(), second_db.clone());
        async move { m.upgrade(&db, "head").await }
    });
    until(
        t.url(),
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'raptor-second')",
    )
    .await;

    sqlx::raw_sql("COMMIT")
        .execute(&mut holder)
        .await
        .expect("open the gate");
    let bound = Duration::from_secs(120);
    let first = tokio::time::timeout(bound, first)
        .await
        .expect("first migrator hung");
    let second = tokio::time::timeout(bound, second)
        .await
        .expect("second migrator hung");
    let applied = first.expect("join").expect("first migrator").len()
        + second.expect("join").expect("second migrator").len();
    assert_eq!(applied, 2, "each revision applies exactly once");
    assert_eq!(
        t.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_items_v'")
            .await,
        1
    );
    first_db.close().await;
    second_db.close().await;
    t.finish().await;
}
