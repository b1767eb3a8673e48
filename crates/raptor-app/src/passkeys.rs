//! A signed-in user's passkeys: list, rename, delete (never the last one).

use raptor_domain::{DisplayName, InvalidInput};
use raptor_store::audit::{self, AuditEvent};
use raptor_store::passkeys::{self, NewPasskey, Removal, StoredPasskey};
use raptor_store::StoreError;
use serde_json::json;

use crate::App;

/// Why a passkey change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The new name breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The user has no passkey of that id.
    #[error("you have no passkey {0}")]
    Unknown(i64),
    /// A passkey just added could not be read back (the store lost it).
    #[error("the new passkey {0} vanished")]
    Vanished(i64),
    /// The passkey is registered to an account already.
    #[error("this passkey is already registered")]
    AlreadyRegistered,
    /// Deleting it would leave the account without a way in.
    #[error("this is your only passkey; add another before deleting it")]
    LastOne,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The user's passkeys.
pub async fn list(app: &App, user_id: i64) -> Result<Vec<StoredPasskey>, StoreError> {
    passkeys::of_user(&app.db, user_id).await
}

/// Renames one of the user's passkeys.
pub async fn rename(app: &App, user_id: i64, id: i64, name: &str) -> Result<(), PasskeyError> {
    let name = DisplayName::parse("name", name)?;
    if !passkeys::rename(&app.db, user_id, id, name.as_str()).await? {
        return Err(PasskeyError::Unknown(id));
    }
    Ok(())
}

/// Deletes one of the user's passkeys, audited with `audit_event`; the last one stays.
pub async fn delete(
    app: &App,
    user_id: i64,
    id: i64,
    audit_event: &AuditEvent,
) -> Result<(), PasskeyError> {
    let now = app.now();
    let mut tx = app.db.begin().await?;
    match passkeys::delete(&mut tx, user_id, id).await? {
        Removal::NotFound => Err(PasskeyError::Unknown(id)),
        Removal::LastOne => Err(PasskeyError::LastOne),
        Removal::Deleted => {
            audit::record(&mut tx, audit_event, now).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}

/// Adds a verified passkey to the user's account, audited with `audit_event` (whose details
/// gain the new id); the passkey as stored.
pub async fn add(
    app: &App,
    passkey: &NewPasskey<'_>,
    audit_event: &AuditEvent,
) -> Result<StoredPasskey, PasskeyError> {
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let id = passkeys::insert(&mut tx, passkey, now)
        .await
        .map_err(|err| match err {
            err if err.is_unique_violation() => PasskeyError::AlreadyRegistered,
            err => err.into(),
        })?;
    let event = AuditEvent {
        details: Some(json!({ "passkey_id": id })),
        ..audit_event.clone()
    };
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    list(app, passkey.user_id)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or(PasskeyError::Vanished(id))
}
