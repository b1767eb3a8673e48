//! The database test kit: every storage test runs on SQLite and on PostgreSQL through
//! [`dual_test!`], each case in a fresh database of its own that is removed when the case
//! ends, whether it passed or panicked.
//!
//! PostgreSQL comes from `RAPTOR_TEST_DATABASE_URL` when set (a role that may create
//! databases), otherwise from a throwaway cluster started from the local server binaries. When
//! neither is possible the PostgreSQL cases fail, saying how to install them; they never skip.
//!
//! This crate knows nothing of HTTP: store tests build without the API. The app kit
//! (`raptor-testkit`) builds on it.

mod postgres;
mod test_db;

pub use postgres::{admin_url, server_addr, PgCluster};

/// Now, at the microsecond precision both dialects store (the app's `SystemClock` reading),
/// for rows a test writes straight into the store.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}
pub use raptor_store::Dialect;
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
