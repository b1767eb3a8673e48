//! Raptor's storage layer, the only code that speaks SQL: database URLs, the engine for
//! SQLite and PostgreSQL, schema migrations and schema introspection.

/// Runs one body against whichever pool a [`Db`] holds. The body is compiled once per
/// backend, so a single SQL text serves both dialects and cannot drift between them.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match &$db.pool {
            $crate::engine::Pool::Sqlite($pool) => $body,
            $crate::engine::Pool::Postgres($pool) => $body,
        }
    };
}

#[macro_use]
mod tx;

pub mod audit;
pub mod backtests;
pub mod backup_codes;
pub mod billing;
pub mod clock;
pub mod copy;
pub mod customers;
mod decimal;
mod engine;
mod error;
pub mod market;
pub mod marketing;
pub mod migrate;
pub mod outbox;
pub mod passkeys;
mod pg_copy;
pub mod privileges;
pub mod rate_limits;
pub mod schema;
pub mod sessions;
pub mod settings;
pub mod support;
pub mod tokens;
pub mod traces;
pub mod trading;
mod url;
pub mod users;
pub mod webhooks;

pub use decimal::{DbDecimal, SCALE as DECIMAL_SCALE};
pub use engine::{Db, EngineSettings};
pub use error::{StoreError, UrlError, ACCEPTED_FORMS};
pub use tx::Tx;
pub use url::{DatabaseUrl, Dialect, DEFAULT_SQLITE_FILE};
