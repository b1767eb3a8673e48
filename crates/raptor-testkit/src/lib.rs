//! Test support for Raptor. Every storage and API test runs on SQLite and on PostgreSQL
//! through [`dual_test!`], each case in a fresh database of its own.
//!
//! PostgreSQL comes from `RAPTOR_TEST_DATABASE_URL` when set (a role that may create
//! databases), otherwise from a throwaway cluster started from the local server binaries. When
//! neither is possible the PostgreSQL cases fail, saying how to install them; they never skip.

pub mod accounts;
mod alpaca;
mod app;
mod chromium;
mod passkey;
mod postgres;
mod postmark;
mod proxy;
mod serve;
mod test_db;

pub use alpaca::FakeAlpaca;
pub use app::{Browser, Reply, TestApp, TestAppBuilder};
pub use chromium::Chromium;
pub use passkey::SoftAuthenticator;
pub use postgres::{admin_url, server_addr};
pub use postmark::FakePostmark;
pub use proxy::TcpProxy;
pub use raptor_store::Dialect;
pub use serve::ServeProcess;
pub use test_db::{Start, TestDb};

/// Defines `mod $name { fn sqlite(); fn postgres(); }`: the same async body run once on each
/// dialect, each time against a fresh [`TestDb`] in the given [`Start`] state.
///
/// ```text
/// dual_test!(upgrade_creates_users, Empty, |t| {
///     Migrator::embedded().upgrade(t.db(), "head").await.unwrap();
/// });
/// ```
#[macro_export]
macro_rules! dual_test {
    ($name:ident, $start:ident, |$db:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let test_db =
                    $crate::TestDb::create($crate::Dialect::Sqlite, $crate::Start::$start).await;
                {
                    let $db = &test_db;
                    $body
                }
                test_db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let test_db =
                    $crate::TestDb::create($crate::Dialect::Postgres, $crate::Start::$start).await;
                {
                    let $db = &test_db;
                    $body
                }
                test_db.finish().await;
            }
        }
    };
}
