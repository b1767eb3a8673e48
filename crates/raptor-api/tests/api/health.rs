//! `GET /healthz` over real HTTP on both dialects, including an unreachable database.

use std::sync::Arc;

use raptor_app::{health, FixedClock};
use raptor_store::migrate::Migrator;

fn head() -> &'static str {
    Migrator::embedded().head().expect("a head")
}
use raptor_testkit::{dual_test, Dialect, Start, TcpProxy, TestApp, TestDb};

dual_test!(healthz_reports_dialect_version_and_revision, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["db"], t.dialect().name());
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["revision"], head());
    app.stop().await;
});

dual_test!(
    healthz_on_an_empty_database_reports_no_revision,
    Empty,
    |t| {
        let app = TestApp::spawn(t.db().clone()).await;
        let (status, body) = app.get_json("/healthz").await;
        assert_eq!(status, 200, "{body}");
        assert!(body["revision"].is_null(), "{body}");
        app.stop().await;
    }
);

dual_test!(unknown_paths_get_a_problem_body, Head, |t| {
    let app = TestApp::spawn(t.db().clone()).await;
    let response = app
        .client
        .get(app.url("/api/nope"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("ascii"),
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["status"], 404);
    app.stop().await;
});

/// A health answer stands for [`health::REUSE_FOR`] after its check started, by the app's clock:
/// a test clock that stands still until moved makes each step exact.
struct Probe {
    app: TestApp,
    clock: Arc<FixedClock>,
}

impl Probe {
    async fn spawn(db: raptor_store::Db) -> Self {
        let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
        let app = TestApp::builder(db).clock(clock.clone()).spawn().await;
        Self { app, clock }
    }

    /// `/healthz` once the last answer has aged out: a new check.
    async fn fresh(&self) -> (u16, serde_json::Value) {
        self.clock
            .advance(chrono::Duration::from_std(health::REUSE_FOR).expect("short"));
        self.app.get_json("/healthz").await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_degrades_when_postgres_is_unreachable_and_recovers() {
    let t = TestDb::create(Dialect::Postgres, Start::Head).await;
    let (proxy, db) = TcpProxy::in_front_of(&t).await;
    let probe = Probe::spawn(db.clone()).await;
    assert_eq!(probe.fresh().await.0, 200);

    proxy.cut().await;
    let (status, body) = probe.app.get_json("/healthz").await;
    assert_eq!(status, 200, "the answer of a moment ago stands: {body}");
    let (status, body) = probe.fresh().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["db"], "postgresql");
    assert!(
        !body.to_string().contains("postgres@"),
        "connection details leaked: {body}"
    );

    proxy.restore();
    assert_eq!(probe.app.get_json("/healthz").await.0, 503);
    let (status, body) = probe.fresh().await;
    assert_eq!(status, 200, "did not recover: {body}");
    assert_eq!(body["revision"], head());
    probe.app.stop().await;
    db.close().await;
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_degrades_when_the_sqlite_file_disappears_and_recovers() {
    let t = TestDb::create(Dialect::Sqlite, Start::Head).await;
    let path = t.sqlite_path().expect("sqlite file").to_owned();
    let moved = path.with_extension("moved");
    let probe = Probe::spawn(t.db().clone()).await;
    assert_eq!(probe.fresh().await.0, 200);

    std::fs::rename(&path, &moved).expect("move the database away");
    let (status, body) = probe.fresh().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "degraded");

    std::fs::rename(&moved, &path).expect("put it back");
    assert_eq!(probe.fresh().await.0, 200);
    probe.app.stop().await;
    t.finish().await;
}
