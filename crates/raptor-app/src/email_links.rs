//! Email sign-in links, for recovery: request one by address, use it once, soon.

use chrono::Duration;
use raptor_domain::Email;
use raptor_store::StoreError;
use raptor_store::{audit, tokens, users};
use serde_json::json;

use crate::accounts::{self, auth_event, SignInProof, SignedIn};
use crate::mail::OutgoingEmail;
use crate::secrets::{new_token, token_hash};
use crate::{App, Client};

/// How long a link works.
const LINK_TTL: Duration = Duration::minutes(15);

/// Why a link did not sign anyone in.
#[derive(Debug, thiserror::Error)]
pub enum EmailLinkError {
    /// Unknown, used, expired, or its account is suspended: one answer for all.
    #[error("this sign-in link is unknown, used or expired; request a new one")]
    Invalid,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Mails a one-time sign-in link to `email` when an active account uses it, and does nothing
/// visible otherwise, so the caller can answer the same either way. `link_to` turns a token
/// into the URL the user opens; `from` is the sender.
pub async fn request(
    app: &App,
    email: &Email,
    client: &Client,
    from: &str,
    link_to: impl FnOnce(&str) -> String,
) -> Result<(), StoreError> {
    let now = app.now();
    let Some(user) = users::by_email(&app.db, email.as_str())
        .await?
        .filter(users::User::is_active)
    else {
        return Ok(());
    };
    let token = new_token();
    tokens::issue_email_login(
        &app.db,
        &token_hash(&token),
        &user.email,
        user.id,
        client.ip.as_deref(),
        now,
        now + LINK_TTL,
    )
    .await?;
    let link = link_to(&token);
    let message = OutgoingEmail {
        from: from.to_owned(),
        to: user.email.clone(),
        subject: "Your Raxx sign-in link".to_owned(),
        text_body: format!(
            "Hello {},\n\nUse this link within 15 minutes to sign in to Raxx and add a new passkey:\n\n{link}\n\nIf you did not ask for it, ignore this email: nobody can use it without access to your inbox.\n",
            user.display_name
        ),
        tag: "email_link",
    };
    if let Err(err) = app.mailer.send(&message).await {
        tracing::error!(%err, "the sign-in link could not be sent");
    }
    let entry = auth_event(
        "auth.email_link.request",
        "success",
        Some((user.id, &user.email)),
        client,
    );
    audit::record_alone(&app.db, &entry, now).await?;
    Ok(())
}

/// Signs in with a link's token, using it up; a bad link is audited.
pub async fn sign_in(app: &App, token: &str, client: &Client) -> Result<SignedIn, EmailLinkError> {
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let user_id = tokens::use_email_login(&mut tx, &token_hash(token), now).await?;
    let user = match user_id {
        Some(id) => users::by_id(&app.db, id)
            .await?
            .filter(users::User::is_active),
        None => None,
    };
    let Some(user) = user else {
        drop(tx);
        let mut entry = auth_event("auth.email_link", "failure", None, client);
        entry.details = Some(json!({ "reason": "invalid_link" }));
        audit::record_alone(&app.db, &entry, now).await?;
        return Err(EmailLinkError::Invalid);
    };
    let proof = SignInProof {
        method: "email_link",
        action: "auth.email_link",
        details: None,
    };
    Ok(accounts::complete_sign_in(app, tx, user, proof, client, now).await?)
}
