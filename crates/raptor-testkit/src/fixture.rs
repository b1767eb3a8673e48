//! One test's server and database, owned together and removed together, panics included.

use raptor_testdb::{Dialect, Start, TestDb};

use crate::{TestApp, TestAppBuilder};

/// A [`TestApp`] over a fresh [`TestDb`]. [`AppFixture::finish`] stops the server (checking it
/// ran cleanly) and removes the database; a test that panics first has both done on drop: the
/// server is stopped before the database is removed, so the database never goes while a
/// server still answers from it.
pub struct AppFixture {
    // Fields drop in declaration order: the server first, then its database.
    app: TestApp,
    db: TestDb,
}

impl AppFixture {
    /// A server with the default configuration over a fresh database on `dialect`.
    pub async fn spawn(dialect: Dialect, start: Start) -> Self {
        Self::spawn_with(dialect, start, |builder| builder).await
    }

    /// A server configured by `configure` (a clock, a mailer…) over a fresh database.
    pub async fn spawn_with(
        dialect: Dialect,
        start: Start,
        configure: impl FnOnce(TestAppBuilder) -> TestAppBuilder,
    ) -> Self {
        let db = TestDb::create(dialect, start).await;
        let app = configure(TestApp::builder(db.db().clone())).spawn().await;
        Self { app, db }
    }

    /// The running server.
    pub fn app(&self) -> &TestApp {
        &self.app
    }

    /// Its database.
    pub fn db(&self) -> &TestDb {
        &self.db
    }

    /// Stops the server, checking it ran without error, then removes the database.
    pub async fn finish(self) {
        let Self { app, db } = self;
        app.stop().await;
        db.finish().await;
    }
}

/// Like [`dual_test!`](crate::dual_test), for API tests: `mod $name { fn sqlite(); fn
/// postgres(); }`, each running the body with `$db` a fresh [`TestDb`] at head and `$app` a
/// [`TestApp`] serving it. Both are cleaned up when the body ends, or when it panics.
///
/// ```text
/// dual_app_test!(the_health_check_names_the_dialect, |t, app| {
///     let (status, body) = app.get_json("/healthz").await;
///     assert_eq!((status, body["db"].as_str()), (200, Some(t.dialect().name())));
/// });
/// ```
#[macro_export]
macro_rules! dual_app_test {
    ($name:ident, |$db:ident, $app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let fixture =
                    $crate::AppFixture::spawn($crate::Dialect::Sqlite, $crate::Start::Head).await;
                {
                    #[allow(unused_variables)]
                    let $db = fixture.db();
                    let $app = fixture.app();
                    $body
                }
                fixture.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let fixture =
                    $crate::AppFixture::spawn($crate::Dialect::Postgres, $crate::Start::Head).await;
                {
                    #[allow(unused_variables)]
                    let $db = fixture.db();
                    let $app = fixture.app();
                    $body
                }
                fixture.finish().await;
            }
        }
    };
}
