//! Abuse limits at the edge: the use cases' counters, answered with 429 and `Retry-After`.

use raptor_app::limits::{self, LimitError};
pub use raptor_app::limits::{
    Limit, BACKUP_CODE_PER_ACCOUNT_AND_CLIENT, BACKUP_CODE_REGENERATIONS_PER_ACCOUNT,
    EMAIL_LINK_PER_IP, LOGIN_PER_ACCOUNT, LOGIN_PER_IP, OPTIONS_PER_IP, SIGN_UP_PER_IP,
};

use crate::{AppState, Problem};

/// Counts one attempt against `limit` for `subject`; 429 with `Retry-After` past the limit.
pub async fn check(state: &AppState, limit: Limit, subject: &str) -> Result<(), Problem> {
    Ok(limits::check(state, limit, subject).await?)
}

/// Counts one attempt against each of `limits` for `subject`; 429 with `Retry-After` from the
/// first that is over.
pub async fn check_all(state: &AppState, limits: &[Limit], subject: &str) -> Result<(), Problem> {
    Ok(limits::check_all(state, limits, subject).await?)
}

impl From<LimitError> for Problem {
    fn from(err: LimitError) -> Self {
        match err {
            LimitError::Exceeded { retry_after } => Problem::too_many_requests(retry_after),
            LimitError::Store(err) => err.into(),
        }
    }
}
