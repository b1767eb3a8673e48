//! Abuse limits: fixed windows counted in the database, so they hold across processes.

use chrono::{DateTime, Duration, Utc};
use raptor_store::{rate_limits, StoreError};

use crate::App;

/// How many attempts a window allows.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// What is limited, used in the key (`login`, `options`, …).
    pub name: &'static str,
    /// Attempts allowed per window.
    pub max: i64,
    /// Window length.
    pub window: Duration,
}

/// WebAuthn options (ceremony starts) per client address.
pub const OPTIONS_PER_IP: Limit = Limit {
    name: "options:ip",
    max: 60,
    window: Duration::minutes(1),
};
/// Sign-in attempts per client address.
pub const LOGIN_PER_IP: Limit = Limit {
    name: "login:ip",
    max: 30,
    window: Duration::minutes(5),
};
/// Sign-in attempts per account.
pub const LOGIN_PER_ACCOUNT: Limit = Limit {
    name: "login:account",
    max: 10,
    window: Duration::minutes(5),
};
/// Backup-code attempts per account.
pub const BACKUP_CODE_PER_ACCOUNT: Limit = Limit {
    name: "backup_code:account",
    max: 5,
    window: Duration::minutes(15),
};
/// Email-link requests per client address.
pub const EMAIL_LINK_PER_IP: Limit = Limit {
    name: "email_link:ip",
    max: 20,
    window: Duration::hours(1),
};
/// Email-link requests per address.
pub const EMAIL_LINK_PER_ACCOUNT: Limit = Limit {
    name: "email_link:account",
    max: 5,
    window: Duration::hours(1),
};

/// Why an attempt was not allowed.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Over the limit; try again after this many seconds.
    #[error("too many attempts; retry after {retry_after} s")]
    Exceeded {
        /// Seconds until the window ends.
        retry_after: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn window_start(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    let length = window.num_seconds().max(1);
    let start = now.timestamp().div_euclid(length) * length;
    DateTime::from_timestamp(start, 0).unwrap_or(now)
}

/// Counts one attempt against `limit` for `subject`; refused past the limit until the window
/// ends.
pub async fn check(app: &App, limit: Limit, subject: &str) -> Result<(), LimitError> {
    let now = app.now();
    let start = window_start(now, limit.window);
    let key = format!("{}:{subject}", limit.name);
    let count = rate_limits::hit(&app.db, &key, start).await?;
    if count > limit.max {
        let retry_after = (start + limit.window - now).num_seconds().max(1);
        return Err(LimitError::Exceeded {
            retry_after: retry_after.unsigned_abs(),
        });
    }
    Ok(())
}
