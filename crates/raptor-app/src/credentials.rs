//! Changing how an account signs in: adding or removing a passkey, a new set of backup codes.
//! A stolen session must not become a lasting takeover, so a change needs a session that
//! proved who the user is within [`STEP_UP_WINDOW`], and in the change's own transaction it
//! ends the user's other sessions and revokes their API keys, is audited and emails the user. A change that rolls back
//! does none of that.

use chrono::{DateTime, Utc};
use raptor_domain::STEP_UP_WINDOW;
use raptor_store::audit::{self, AuditEvent};
use raptor_store::sessions::Session;
use raptor_store::users::User;
use raptor_store::{passkeys, StoreError, Tx};
use serde_json::{json, Value};

use crate::mail::{delivery, OutgoingEmail};
use crate::sessions::{proved_identity_recently, IDLE_TIMEOUT};
use crate::App;

/// Who changes their credentials, through which session, and how the notice is sent.
#[derive(Debug, Clone)]
pub struct Changer<'a> {
    /// The signed-in user.
    pub user: &'a User,
    /// The session asking; it stays signed in while the user's others end.
    pub session: &'a Session,
    /// The change's audit entry; its details gain what changed and `revoked_sessions`.
    pub audit: AuditEvent,
    /// The notice's sender, e.g. `Raxx <no-reply@raxx.app>`.
    pub mail_from: &'a str,
    /// The sign-in page the notice points to.
    pub sign_in_url: &'a str,
}

/// The session has not proved who the user is recently enough to change credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StepUpRequired {
    /// The account has a passkey: prove it again (a step-up).
    #[error(
        "changing passkeys, backup codes or API keys needs a session that proved who you are within the \
         last {minutes} minutes; prove one of your passkeys again at /api/auth/step-up and retry",
        minutes = STEP_UP_WINDOW.num_minutes()
    )]
    ProvePasskey,
    /// The account has no passkey to prove: sign in again.
    #[error(
        "changing passkeys, backup codes or API keys needs a session that proved who you are within the \
         last {minutes} minutes; your account has no passkey, so sign in again (an emailed \
         sign-in link works) and retry",
        minutes = STEP_UP_WINDOW.num_minutes()
    )]
    SignInAgain,
    /// The session ended while the change was being made (an email link claimed the account,
    /// or another change signed it out): nothing changed.
    #[error("your session ended while the change was being made; nothing changed; sign in again")]
    SessionEnded,
}

/// Refuses a credential change from a session that neither began nor proved a passkey within
/// [`STEP_UP_WINDOW`] of now.
pub async fn require_fresh<E>(app: &App, session: &Session) -> Result<(), E>
where
    E: From<StepUpRequired> + From<StoreError>,
{
    if proved_identity_recently(session, app.now()) {
        return Ok(());
    }
    let has_passkey = !passkeys::of_user(&app.db, session.user_id)
        .await?
        .is_empty();
    Err(if has_passkey {
        StepUpRequired::ProvePasskey
    } else {
        StepUpRequired::SignInAgain
    }
    .into())
}

/// What changed, for the notice.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Change<'a> {
    /// A passkey of this name was added.
    PasskeyAdded(&'a str),
    /// The passkey of this name was removed.
    PasskeyRemoved(&'a str),
    /// A new set of backup codes replaced the old one.
    BackupCodesReplaced,
}

/// Finishes a credential change inside `tx`: with the user's row held, checks the changer's
/// session is still live (a claim by email link may have ended it meanwhile; then nothing is
/// written), ends the changer's other live sessions, records the audit entry with `details`
/// and `revoked_sessions`, enqueues the notice, and commits. Returns how many sessions ended.
pub(crate) async fn commit<E>(
    app: &App,
    mut tx: Tx,
    by: &Changer<'_>,
    change: Change<'_>,
    details: Value,
    now: DateTime<Utc>,
) -> Result<u64, E>
where
    E: From<StepUpRequired> + From<StoreError>,
{
    raptor_store::users::lock(&mut tx, by.user.id).await?;
    if !raptor_store::sessions::is_live(&mut tx, by.session.id, now).await? {
        return Err(StepUpRequired::SessionEnded.into());
    }
    let revoked = raptor_store::sessions::revoke_others(
        &mut tx,
        by.user.id,
        by.session.id,
        now,
        now - IDLE_TIMEOUT,
    )
    .await?;
    let mut details = match details {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    details.insert("revoked_sessions".to_owned(), json!(revoked));
    let keys = raptor_store::api_keys::revoke_all(&mut tx, by.user.id, now).await?;
    details.insert("revoked_api_keys".to_owned(), json!(keys));
    let event = AuditEvent {
        details: Some(Value::Object(details)),
        ..by.audit.clone()
    };
    audit::record(&mut tx, &event, now).await?;
    delivery::enqueue(app, &mut tx, &notice(by, change, revoked, now)).await?;
    tx.commit().await?;
    Ok(revoked)
}

/// The email telling the user what changed, when, from where, and what to do if it was not
/// them. It carries no secret: never a code, a token or a link that signs in.
fn notice(by: &Changer<'_>, change: Change<'_>, revoked: u64, now: DateTime<Utc>) -> OutgoingEmail {
    let (subject, what) = match change {
        Change::PasskeyAdded(name) => (
            "A passkey was added to your Raxx account",
            format!("A passkey named \"{name}\" was added to your Raxx account."),
        ),
        Change::PasskeyRemoved(name) => (
            "A passkey was removed from your Raxx account",
            format!("The passkey named \"{name}\" was removed from your Raxx account."),
        ),
        Change::BackupCodesReplaced => (
            "New backup codes for your Raxx account",
            "A new set of backup codes was made for your Raxx account; the previous codes no \
             longer work."
                .to_owned(),
        ),
    };
    let ip = by.audit.ip.as_deref().unwrap_or("an unknown address");
    let browser = by
        .audit
        .user_agent
        .as_deref()
        .unwrap_or("an unknown browser");
    let others = match revoked {
        0 => String::new(),
        1 => "Your one other signed-in session was signed out.\n\n".to_owned(),
        n => format!("Your {n} other signed-in sessions were signed out.\n\n"),
    };
    let text_body = format!(
        "Hello {name},\n\n\
         {what}\n\n\
         When: {when}\n\
         From: {ip}\n\
         Browser: {browser}\n\n\
         {others}\
         If this was you, there is nothing more to do.\n\n\
         If it was not you, someone else may be signed in to your account:\n\
         1. Open {sign_in} and ask for a sign-in link by email; sign in with the link we send \
         to this address.\n\
         2. Remove every passkey you do not recognise (removing one signs every other session \
         out), and add a passkey of your own if yours is gone.\n\
         3. Make a new set of backup codes.\n",
        name = by.user.display_name,
        when = now.format("%Y-%m-%d %H:%M UTC"),
        sign_in = by.sign_in_url,
    );
    OutgoingEmail {
        from: by.mail_from.to_owned(),
        to: by.user.email.clone(),
        subject: subject.to_owned(),
        text_body,
        tag: "credential_change".to_owned(),
        ..OutgoingEmail::default()
    }
}

#[cfg(test)]
mod tests {
    use raptor_store::{backup_codes as stored_codes, sessions as stored_sessions, users};
    use raptor_testdb::dual_test;

    use crate::backup_codes::{self, BackupCodeError};
    use crate::secrets::token_hash;
    use crate::sessions::{self, IDLE_TIMEOUT};
    use crate::{App, Client};

    use super::*;

    dual_test!(
        a_change_whose_session_ended_meanwhile_changes_nothing,
        Head,
        |t| {
            let app = App::new(t.db().clone());
            let now = app.now();
            let user_id = crate::test_support::user(&app, "ada@example.com", &[]).await;
            let mut tx = app.db.begin().await.expect("begin");
            let client = Client::default();
            let issued = sessions::issue(&mut tx, user_id, "passkey", &client, now)
                .await
                .expect("session");
            tx.commit().await.expect("commit");
            let user = users::by_id(&app.db, user_id)
                .await
                .expect("user")
                .expect("found");
            // The request loaded its session, then a claim by email link ended it.
            let session =
                stored_sessions::live(&app.db, &token_hash(&issued.token), now, now - IDLE_TIMEOUT)
                    .await
                    .expect("lookup")
                    .expect("live");
            let mut tx = app.db.begin().await.expect("begin");
            stored_sessions::revoke_all(&mut tx, user_id, None, now)
                .await
                .expect("revoke");
            tx.commit().await.expect("commit");

            let by = Changer {
                user: &user,
                session: &session,
                audit: AuditEvent::default(),
                mail_from: "Raxx <no-reply@raxx.app>",
                sign_in_url: "http://localhost/",
            };
            let refused = backup_codes::regenerate(&app, &by).await;
            assert!(
                matches!(
                    refused,
                    Err(BackupCodeError::StepUpRequired(
                        StepUpRequired::SessionEnded
                    ))
                ),
                "{refused:?}"
            );
            let codes = stored_codes::unused(&app.db, user_id).await.expect("codes");
            assert!(codes.is_empty(), "codes were written: {}", codes.len());
            assert_eq!(t.scalar("SELECT count(*) FROM job_queue").await, 0);
        }
    );
}
