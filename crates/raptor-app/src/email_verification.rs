//! Proof that a user receives mail at their address: a link mailed at sign-up (and again on
//! request), used once. Until it is used the account is *unverified*: inbound mail is not filed
//! under it, no role can be granted to it, and a recovery link into it removes the passkeys and
//! sessions of whoever signed up with someone else's address (see [`crate::email_links`]).

use chrono::Duration;
use raptor_store::tokens::{self, LinkPurpose, NewLink};
use raptor_store::users::{self, User};
use raptor_store::{audit, StoreError, Tx};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::accounts::auth_event;
use crate::jobs::{self, Handler, JobError, JobFuture};
use crate::limits::{self, LimitError};
use crate::mail::{delivery, OutgoingEmail};
use crate::secrets::{new_token, token_hash};
use crate::{App, Client};

/// How long a verification link works: long enough to find the mail the next day.
const LINK_TTL: Duration = Duration::hours(24);

/// Mails a verification link; the job names the user, never a token, which the worker mints.
pub const SEND_VERIFICATION: &str = "mail.verify_email";

/// Why a verification link did not verify anything.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Unknown, used, expired, or made for another account: one answer for all.
    #[error(
        "this verification link is unknown, used, expired or for another account; sign in to \
         the account it was sent for, or ask for a new one"
    )]
    Invalid,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a verification mail comes from and leads to.
#[derive(Debug, Clone, Copy)]
pub struct VerificationMail<'a> {
    /// The sender.
    pub from: &'a str,
    /// The verification page; the token goes into its fragment.
    pub page: &'a Url,
}

/// What a [`SEND_VERIFICATION`] job knows.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerificationJob {
    /// The user whose address to prove.
    user_id: i64,
    /// The sender.
    from: String,
    /// The verification page.
    page: String,
}

/// Enqueues a verification mail for `user_id` inside `tx` (sign-up does, so the mail goes out
/// exactly when the account exists).
pub async fn enqueue(
    app: &App,
    tx: &mut Tx,
    user_id: i64,
    mail: VerificationMail<'_>,
) -> Result<(), StoreError> {
    let job = VerificationJob {
        user_id,
        from: mail.from.to_owned(),
        page: mail.page.to_string(),
    };
    jobs::enqueue(app, tx, &delivery::job(SEND_VERIFICATION, json!(job))).await?;
    Ok(())
}

/// Sends `user` a new verification link (the earlier ones keep working until one is used), at
/// most [`limits::VERIFICATION_MAILS_PER_ACCOUNT`] times per window. Nothing is sent to an
/// address that is already verified.
pub async fn resend(app: &App, user: &User, mail: VerificationMail<'_>) -> Result<(), LimitError> {
    if user.email_verified() {
        return Ok(());
    }
    let key = user.id.to_string();
    limits::check(app, limits::VERIFICATION_MAILS_PER_ACCOUNT, &key).await?;
    let mut tx = app.db.begin().await?;
    enqueue(app, &mut tx, user.id, mail).await?;
    tx.commit().await?;
    Ok(())
}

/// Runs [`SEND_VERIFICATION`] jobs: for an active, still unverified user, stores a fresh
/// token's hash and mails the link. Every link mailed works until one of them is used.
pub(crate) struct SendVerification;

impl Handler for SendVerification {
    fn run<'a>(&'a self, app: &'a App, raw: &'a Value) -> JobFuture<'a> {
        Box::pin(async move {
            let job: VerificationJob = delivery::payload(raw)?;
            let mut page = Url::parse(&job.page)
                .map_err(|e| JobError::Permanent(format!("page is not a URL: {e}")))?;
            let Some(user) = users::by_id(&app.db, job.user_id)
                .await?
                .filter(|u| u.is_active() && !u.email_verified())
            else {
                return Ok(());
            };
            let now = app.now();
            let token = new_token();
            let link = NewLink {
                purpose: LinkPurpose::Verify,
                token_hash: &token_hash(&token),
                email: &user.email,
                user_id: user.id,
                ip: None,
                expires_at: now + LINK_TTL,
            };
            tokens::issue_link(&app.db, &link, now).await?;
            page.set_fragment(Some(&format!("token={token}")));
            let message = OutgoingEmail {
                from: job.from,
                to: user.email.clone(),
                subject: "Confirm your email address for Raxx".to_owned(),
                text_body: format!(
                    "Hello {},\n\nConfirm that this is your address by opening this link within 24 hours:\n\n{page}\n\nUntil you do, support mail from this address is not filed under your account.\nIf you did not sign up for Raxx, ignore this email: nothing is linked to your address until this link is used.\n",
                    user.display_name
                ),
                tag: "verify_email".to_owned(),
                ..OutgoingEmail::default()
            };
            app.mailer.send(&message).await?;
            Ok(())
        })
    }
}

/// Uses a verification link for `user`, who is signed in: their address is proven from now
/// on. A link mailed for another account proves nothing here and stays unused: confirming an
/// address needs both the inbox and the account's own sign-in, so a stranger's account opened
/// with someone's address is not confirmed by its owner clicking the mail (the owner takes it
/// over with a sign-in link instead). Audited either way.
pub async fn verify(
    app: &App,
    token: &str,
    user: &User,
    client: &Client,
) -> Result<User, VerifyError> {
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let used = tokens::use_link(&mut tx, LinkPurpose::Verify, &token_hash(token), now).await?;
    if used != Some(user.id) {
        drop(tx); // the link stays as it was
        let mut entry = auth_event(
            "auth.email_verify",
            "failure",
            Some((user.id, &user.email)),
            client,
        );
        entry.details = Some(json!({ "reason": "invalid_link" }));
        audit::record_alone(&app.db, &entry, now).await?;
        return Err(VerifyError::Invalid);
    }
    users::verify_email(&mut tx, user.id, now).await?;
    let entry = auth_event(
        "auth.email_verify",
        "success",
        Some((user.id, &user.email)),
        client,
    );
    audit::record(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(User {
        email_verified_at: user.email_verified_at.or(Some(now)),
        ..user.clone()
    })
}
