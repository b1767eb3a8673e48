//! The app fixture cleans up after a test that panics: no server answers on its port and its
//! database is gone, on both dialects.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

use futures_util::FutureExt;
use raptor_testkit::{admin_url, dual_app_test, AppFixture, Dialect, Start, TestApp, TestDb};
use sqlx::{Connection, PgConnection};

/// What a test would leave behind: the server's address and where its database lives.
struct Traces {
    addr: String,
    database_url: String,
    sqlite_path: Option<PathBuf>,
}

/// Runs a test that panics mid-way (here, on the test's own thread, as in
/// [`dual_app_test!`]) and returns what it had created.
async fn panicking_test(dialect: Dialect) -> Traces {
    let mut traces = None;
    let outcome = AssertUnwindSafe(async {
        let fixture = AppFixture::spawn(dialect, Start::Head).await;
        let (status, _) = fixture.app().get_json("/healthz").await;
        assert_eq!(status, 200, "the server answered before the panic");
        traces = Some(Traces {
            addr: fixture.app().url("").replace("http://", ""),
            database_url: fixture.db().url().to_owned(),
            sqlite_path: fixture.db().sqlite_path().map(PathBuf::from),
        });
        panic!("a failing assertion");
    })
    .catch_unwind()
    .await;
    assert!(outcome.is_err(), "the test body should have panicked");
    traces.expect("the fixture was created")
}

async fn assert_nothing_left(dialect: Dialect) {
    let traces = panicking_test(dialect).await;
    let connected = tokio::net::TcpStream::connect(&traces.addr).await;
    assert!(
        connected.is_err(),
        "a server still listens on {} after its test panicked",
        traces.addr
    );
    match dialect {
        Dialect::Sqlite => {
            let path = traces.sqlite_path.expect("a SQLite file");
            assert!(!path.exists(), "{} was left behind", path.display());
        }
        Dialect::Postgres => {
            let url = url::Url::parse(&traces.database_url).expect("database URL");
            let name = url.path().trim_start_matches('/');
            let mut admin = PgConnection::connect(admin_url()).await.expect("admin");
            let left: i64 =
                sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
                    .bind(name)
                    .fetch_one(&mut admin)
                    .await
                    .expect("count databases");
            assert_eq!(left, 0, "database {name} was left behind");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_app_test_leaves_no_server_and_no_sqlite_file() {
    assert_nothing_left(Dialect::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_app_test_leaves_no_server_and_no_postgres_database() {
    assert_nothing_left(Dialect::Postgres).await;
}

/// Dropping a server waits for it: nothing answers once `drop` has returned, even with a
/// keep-alive connection open, so a database removed next is not in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_test_app_has_closed_its_port_when_drop_returns() {
    let t = TestDb::create(Dialect::Sqlite, Start::Head).await;
    let app = TestApp::spawn(t.db().clone()).await;
    let (status, _) = app.get_json("/healthz").await;
    assert_eq!(status, 200);
    let addr = app.url("").replace("http://", "");
    drop(app);
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "{addr} still accepts connections after the TestApp dropped"
    );
    t.finish().await;
}

dual_app_test!(the_fixture_serves_its_own_database, |t, app| {
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["db"], t.dialect().name());
});
