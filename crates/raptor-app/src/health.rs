//! Whether this process can serve: the database answers, and at which schema revision.

use raptor_store::{migrate, StoreError};

use crate::App;

/// Pings the database and reads its schema revision (`fixed_revision` when the serving role
/// may not read the history: role separation checks it once at start).
pub async fn check(app: &App, fixed_revision: Option<&str>) -> Result<Option<String>, StoreError> {
    app.db.ping().await?;
    match fixed_revision {
        Some(revision) => Ok(Some(revision.to_owned())),
        None => migrate::current_revision(&app.db).await,
    }
}
