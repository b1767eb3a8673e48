//! The application's clock: UTC, at the microsecond precision both dialects store.

use chrono::{DateTime, SubsecRound, Utc};

/// Now, truncated to microseconds so a value reads back equal from SQLite and PostgreSQL.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
