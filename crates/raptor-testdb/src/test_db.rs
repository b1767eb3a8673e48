//! One fresh database per test, on either dialect.

use std::sync::atomic::{AtomicU64, Ordering};

use raptor_domain::timeframe::Timeframe;
use raptor_store::migrate::Migrator;
use raptor_store::{DatabaseUrl, Db, Dialect};

use crate::postgres;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The schema a test database starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// No tables at all: for migration tests.
    Empty,
    /// The embedded schema at head.
    Head,
}

enum Home {
    Sqlite {
        /// Removed, with the database file, when this drops.
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
    },
    Postgres(String),
}

/// A database that exists for one test. [`TestDb::finish`] removes it; a test that panics
/// before finishing has it removed when the value drops.
pub struct TestDb {
    url: String,
    db: Db,
    home: Home,
    removed: bool,
}

impl TestDb {
    /// A fresh database on `dialect`, connected.
    ///
    /// # Panics
    /// When it cannot be created: the test fails, it never skips.
    pub async fn create(dialect: Dialect, start: Start) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let (url, home) = match dialect {
            Dialect::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("raptor-test-")
                    .tempdir()
                    .expect("temporary directory");
                let path = dir.path().join("raptor.db");
                (
                    format!("sqlite:///{}", path.display()),
                    Home::Sqlite { _dir: dir, path },
                )
            }
            Dialect::Postgres => {
                let name = format!("raptor_test_{}_{n}", std::process::id());
                let template = match start {
                    Start::Head => postgres::template().await,
                    Start::Empty => "template0",
                };
                admin_sql(&drop_database(&name)).await;
                admin_sql(&format!(
                    "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
                ))
                .await;
                (postgres::database_url(&name), Home::Postgres(name))
            }
        };
        let parsed = DatabaseUrl::parse(&url).expect("test URL parses");
        let db = Db::connect(&parsed)
            .await
            .expect("connect to the test database");
        if start == Start::Head && dialect == Dialect::Sqlite {
            Migrator::embedded()
                .upgrade(&db, "head")
                .await
                .expect("migrate the test database");
        }
        Self {
            url,
            db,
            home,
            removed: false,
        }
    }

    /// The connected database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Its dialect.
    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// A URL another process (or a second pool) can open.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL parsed.
    pub fn database_url(&self) -> DatabaseUrl {
        DatabaseUrl::parse(&self.url).expect("test URL parses")
    }

    /// A second, independent connection pool on the same database.
    pub async fn connect_again(&self) -> Db {
        Db::connect(&self.database_url())
            .await
            .expect("second pool")
    }

    /// The SQLite file (None on PostgreSQL).
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match &self.home {
            Home::Sqlite { path, .. } => Some(path),
            Home::Postgres(_) => None,
        }
    }

    /// Runs raw SQL on a connection of its own, bypassing the application's pool.
    pub async fn execute(&self, sql: &str) {
        if let Err(e) = self.try_execute(sql).await {
            panic!("{sql}: {e}");
        }
    }

    /// Runs raw SQL as the owner with `table`'s triggers out of the way, as someone tampering
    /// with the database directly would. PostgreSQL disables them inside the statement's
    /// transaction; SQLite has no switch, so they are dropped and created again around it.
    pub async fn execute_bypassing_triggers(&self, table: &str, sql: &str) {
        use sqlx::Connection;
        match &self.home {
            Home::Sqlite { path, .. } => {
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .expect("connect");
                let triggers: Vec<(String, String)> = sqlx::query_as(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = $1",
                )
                .bind(table)
                .fetch_all(&mut conn)
                .await
                .expect("triggers");
                let drop: String = triggers
                    .iter()
                    .map(|(name, _)| format!("DROP TRIGGER {name};\n"))
                    .collect();
                let create: String = triggers
                    .iter()
                    .map(|(_, sql)| format!("{sql};\n"))
                    .collect();
                let script = format!("BEGIN;\n{drop}{sql};\n{create}COMMIT;");
                sqlx::raw_sql(&script)
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{script}: {e}"));
            }
            Home::Postgres(_) => {
                self.execute(&format!(
                    "BEGIN; ALTER TABLE {table} DISABLE TRIGGER USER; {sql}; \
                     ALTER TABLE {table} ENABLE TRIGGER USER; COMMIT;"
                ))
                .await;
            }
        }
    }

    /// Runs raw SQL on a connection of its own and returns the database's refusal, if any.
    pub async fn try_execute(&self, sql: &str) -> Result<(), String> {
        use sqlx::Connection;
        let outcome = match &self.home {
            Home::Sqlite { path, .. } => {
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .expect("connect");
                sqlx::raw_sql(sql).execute(&mut conn).await.map(drop)
            }
            Home::Postgres(_) => {
                let mut conn = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::raw_sql(sql).execute(&mut conn).await.map(drop)
            }
        };
        outcome.map_err(|e| e.to_string())
    }

    /// Runs a query returning one integer (a count, say) on a connection of its own.
    pub async fn scalar(&self, sql: &str) -> i64 {
        use sqlx::Connection;
        let outcome = match &self.home {
            Home::Sqlite { path, .. } => {
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .expect("connect");
                sqlx::query_scalar(sql).fetch_one(&mut conn).await
            }
            Home::Postgres(_) => {
                let mut conn = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::query_scalar(sql).fetch_one(&mut conn).await
            }
        };
        outcome.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Closes the pool and removes the database.
    pub async fn finish(mut self) {
        self.db.close().await;
        if let Home::Postgres(name) = &self.home {
            admin_sql(&drop_database(name)).await;
        }
        self.removed = true;
    }
}

impl Drop for TestDb {
    /// SQLite's directory goes with its `TempDir`; a PostgreSQL database that
    /// [`TestDb::finish`] did not reach (the test panicked) is dropped here, from a thread with
    /// a runtime of its own because `drop` cannot await.
    fn drop(&mut self) {
        let Home::Postgres(name) = &self.home else {
            return;
        };
        if self.removed {
            return;
        }
        let sql = drop_database(name);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(admin_sql(&sql));
        })
        .join();
    }
}

fn drop_database(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")
}

/// Runs maintenance SQL on the test server's `postgres` database.
pub(crate) async fn admin_sql(sql: &str) {
    use sqlx::{Connection, PgConnection};
    let mut admin = PgConnection::connect(postgres::admin_url())
        .await
        .expect("connect to the test server");
    sqlx::raw_sql(sql)
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = admin.close().await;
}

impl TestDb {
    /// Stores one-minute bars of `symbol` as `(start, price)` pairs (open = high = low = close).
    pub async fn put_prices(&self, symbol: &str, prices: &[(chrono::DateTime<chrono::Utc>, f64)]) {
        self.put_bars(
            symbol,
            Timeframe::Min1,
            prices.iter().map(|(t, p)| (*t, *p, *p, *p, *p)).collect(),
        )
        .await;
    }

    /// Stores bars of `symbol` as `(start, open, high, low, close)`.
    pub async fn put_bars(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        bars: Vec<(chrono::DateTime<chrono::Utc>, f64, f64, f64, f64)>,
    ) {
        let bars: Vec<raptor_store::market::StoredBar> = bars
            .into_iter()
            .map(
                |(ts, open, high, low, close)| raptor_store::market::StoredBar {
                    ts,
                    open,
                    high,
                    low,
                    close,
                    volume: 100.0,
                    trade_count: None,
                    vwap: None,
                },
            )
            .collect();
        let mut tx = self.db.begin().await.expect("begin");
        raptor_store::market::upsert_bars(&mut tx, symbol, timeframe, &bars)
            .await
            .expect("bars");
        tx.commit().await.expect("commit");
    }
}
