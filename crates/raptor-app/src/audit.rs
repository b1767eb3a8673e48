//! Reading the audit log (writing happens inside each use case's own transaction).

use raptor_domain::InvalidInput;
use raptor_store::audit::{self, AuditEntry};
use raptor_store::StoreError;

use crate::App;

/// Most entries one read returns.
const MAX_ENTRIES: i64 = 1000;

/// Why the audit log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AuditLogError {
    /// The request breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The newest `limit` entries (1 to 1000), optionally of one action only.
pub async fn recent(
    app: &App,
    action: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEntry>, AuditLogError> {
    if !(1..=MAX_ENTRIES).contains(&limit) {
        return Err(InvalidInput::new("limit", "must be between 1 and 1000").into());
    }
    Ok(audit::recent(&app.db, action, limit).await?)
}
