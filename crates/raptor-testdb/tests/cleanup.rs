//! A test that panics leaves no database behind, on either dialect.

use raptor_testdb::{admin_url, Dialect, Start, TestDb};
use sqlx::{Connection, PgConnection};
use std::sync::mpsc;

/// Runs a test body, on a runtime of its own as `#[tokio::test]` does, that records where its
/// database lives and then panics.
fn panicking_test(dialect: Dialect) -> String {
    let (tell, told) = mpsc::channel();
    let test = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let t = TestDb::create(dialect, Start::Head).await;
            let home = match t.sqlite_path() {
                Some(path) => path.display().to_string(),
                None => t.url().rsplit('/').next().unwrap_or_default().to_owned(),
            };
            tell.send(home).expect("the runner listens");
            panic!("the test failed");
        })
    });
    assert!(test.join().is_err(), "the body panicked");
    told.recv().expect("the body said where its database was")
}

#[test]
fn a_panicking_sqlite_test_leaves_no_file() {
    let path = panicking_test(Dialect::Sqlite);
    assert!(!std::path::Path::new(&path).exists(), "{path} remains");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_postgres_test_leaves_no_database() {
    let name = panicking_test(Dialect::Postgres);
    assert!(name.starts_with("raptor_test_"), "{name}");
    let mut admin = PgConnection::connect(admin_url()).await.expect("connect");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .expect("count");
    assert_eq!(left, 0, "database {name} was left behind");
}
