//! Abuse limits: fixed windows counted in the database, so they hold across processes.

use chrono::{DateTime, Duration, Utc};
use raptor_store::rate_limits;

use crate::{AppState, Problem};

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

fn window_start(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    let length = window.num_seconds().max(1);
    let start = now.timestamp().div_euclid(length) * length;
    DateTime::from_timestamp(start, 0).unwrap_or(now)
}

/// Counts one attempt against `limit` for `subject`; 429 with `Retry-After` past the limit.
pub async fn check(state: &AppState, limit: Limit, subject: &str) -> Result<(), Problem> {
    let now = state.now();
    let start = window_start(now, limit.window);
    let key = format!("{}:{subject}", limit.name);
    let count = rate_limits::hit(&state.db, &key, start).await?;
    if count > limit.max {
        let retry_after = (start + limit.window - now).num_seconds().max(1);
        return Err(Problem::too_many_requests(retry_after.unsigned_abs()));
    }
    Ok(())
}
