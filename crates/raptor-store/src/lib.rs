//! Raptor's storage layer, the only code that speaks SQL: database URLs, the engine for
//! SQLite and PostgreSQL, schema migrations and schema introspection.
//!
//! Every difference between the two dialects lives in the private `dialect` module; the
//! repositories write one SQL text per operation and never branch on the dialect.

#[macro_use]
mod dialect;

pub mod api_keys;
pub mod audit;
pub mod backtest_sweeps;
pub mod backtests;
pub mod backup_codes;
pub mod billing;
pub mod copy;
pub mod customers;
mod decimal;
mod engine;
mod error;
pub mod instance_keys;
pub mod jobs;
mod latest_bars;
pub mod market;
pub mod marketing;
pub mod migrate;
pub mod outbox;
pub mod passkeys;
pub mod privileges;
mod queued_runs;
pub mod rate_limits;
pub mod schema;
pub mod sessions;
pub mod settings;
pub mod support;
pub mod tokens;
pub mod traces;
pub mod trade_updates;
pub mod trading;
mod tx;
mod url;
pub mod users;
pub mod valuation;
pub mod waits;
pub mod watchlists;
pub mod webhooks;
mod write_turns;

pub use decimal::{DbDecimal, SCALE as DECIMAL_SCALE};
pub use dialect::Dialect;
pub use engine::{Db, EngineSettings, HeldConnection, PoolStatus};
pub use error::{StoreError, UrlError, ACCEPTED_FORMS};
pub use tx::Tx;
pub use url::{DatabaseUrl, DEFAULT_SQLITE_FILE};
