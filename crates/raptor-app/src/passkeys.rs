//! A signed-in user's passkeys: list, add, rename, delete (never the last one).

use raptor_domain::{DisplayName, InvalidInput};
use raptor_store::passkeys::{self, Ceremony, NewPasskey, Removal, StoredPasskey};
use raptor_store::StoreError;
use serde_json::json;

use crate::ceremonies::{self, CeremonyError};
use crate::credentials::{self, Change, Changer, StepUpRequired};
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
    /// The session has not proved who the user is recently enough.
    #[error(transparent)]
    StepUpRequired(#[from] StepUpRequired),
    /// Deleting it would leave the account without a way in.
    #[error("this is your only passkey; add another before deleting it")]
    LastOne,
    /// The registration ceremony was finished by another request meanwhile.
    #[error(transparent)]
    Ceremony(#[from] CeremonyError),
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

/// Deletes one of `by`'s passkeys; the last one stays. Needs a session that proved who the
/// user is recently; ends the user's other sessions and emails them
/// ([`crate::credentials`]).
pub async fn delete(app: &App, by: &Changer<'_>, id: i64) -> Result<(), PasskeyError> {
    credentials::require_fresh::<PasskeyError>(app, by.session).await?;
    let user_id = by.user.id;
    let name = list(app, user_id)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .map(|k| k.name)
        .ok_or(PasskeyError::Unknown(id))?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    match passkeys::delete(&mut tx, user_id, id).await? {
        Removal::NotFound => Err(PasskeyError::Unknown(id)),
        Removal::LastOne => Err(PasskeyError::LastOne),
        Removal::Deleted => {
            let details = json!({ "passkey_id": id });
            let change = Change::PasskeyRemoved(&name);
            credentials::commit::<PasskeyError>(app, tx, by, change, details, now).await?;
            Ok(())
        }
    }
}

/// Adds a verified passkey to `by`'s account, using up the registration `ceremony` it
/// answered; the passkey as stored. Needs a session that proved who the user is recently; ends
/// the user's other sessions and emails them ([`crate::credentials`]).
pub async fn add(
    app: &App,
    by: &Changer<'_>,
    ceremony: &Ceremony,
    passkey: &NewPasskey<'_>,
) -> Result<StoredPasskey, PasskeyError> {
    credentials::require_fresh::<PasskeyError>(app, by.session).await?;
    let passkey = NewPasskey {
        user_id: by.user.id,
        ..passkey.clone()
    };
    let now = app.now();
    let mut tx = app.db.begin().await?;
    ceremonies::finish(&mut tx, ceremony).await?;
    let id = passkeys::insert(&mut tx, &passkey, now)
        .await
        .map_err(|err| match err {
            err if err.is_unique_violation() => PasskeyError::AlreadyRegistered,
            err => err.into(),
        })?;
    let details = json!({ "passkey_id": id });
    let change = Change::PasskeyAdded(passkey.name);
    credentials::commit::<PasskeyError>(app, tx, by, change, details, now).await?;
    list(app, by.user.id)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or(PasskeyError::Vanished(id))
}
