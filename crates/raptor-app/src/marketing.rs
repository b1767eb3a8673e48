//! Marketing email with double opt-in: subscribe (a confirmation email with both links),
//! confirm by link, unsubscribe by link. A link only leads to a page; [`confirm`] and
//! [`unsubscribe`] run when its button is pressed, not when a mail scanner opens it. Only
//! token hashes are stored.

use raptor_domain::{Email, InvalidInput};
use raptor_store::{marketing, StoreError};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use raptor_store::marketing::Subscribed;

use crate::jobs::{self, Handler, JobError, JobFuture};
use crate::mail::{delivery, MailHeader, OutgoingEmail};
use crate::secrets::{new_token, token_hash};
use crate::text;
use crate::App;

/// Longest `source` label.
const MAX_SOURCE: usize = 64;

/// Why a marketing request was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum MarketingError {
    /// The request breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// No pending subscription holds this confirmation token.
    #[error("this confirmation link is unknown or already used")]
    UnknownConfirmation,
    /// No subscription holds this unsubscribe token.
    #[error("this unsubscribe link is unknown")]
    UnknownUnsubscribe,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A checked subscribe request.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// The address, normalised.
    pub email: Email,
    /// Where the sign-up came from (trimmed; None when blank).
    pub source: Option<String>,
}

impl Subscription {
    /// Checks the address and the optional `source` label (at most 64 characters).
    pub fn parse(email: &str, source: Option<&str>) -> Result<Self, InvalidInput> {
        let email = Email::parse(email)?;
        let source = text::optional_line("source", source, MAX_SOURCE)?.map(str::to_owned);
        Ok(Self { email, source })
    }
}

/// How the confirmation email is sent: its sender and where its two links lead (the front
/// door's confirm and unsubscribe addresses; the token is added as `?token=`).
#[derive(Debug, Clone, Copy)]
pub struct Confirmation<'a> {
    /// The sender, e.g. `Raxx <no-reply@raxx.app>`.
    pub from: &'a str,
    /// Where the confirmation link leads.
    pub confirm_url: &'a Url,
    /// Where the unsubscribe link leads.
    pub unsubscribe_url: &'a Url,
}

fn with_token(url: &Url, token: &str) -> Url {
    let mut url = url.clone();
    url.set_query(Some(&format!("token={token}")));
    url
}

/// The headers that let a mail client offer its own unsubscribe button (RFC 2369) and
/// unsubscribe with one POST to `link`, no page and no session (RFC 8058).
pub fn list_unsubscribe(link: &Url) -> Vec<MailHeader> {
    vec![
        MailHeader::new("List-Unsubscribe", format!("<{link}>")),
        MailHeader::new("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]
}

/// Sends a subscription's confirmation email: the job carries the address and where the links
/// lead, never a token; the worker mints both tokens when it sends.
pub const SEND_CONFIRMATION: &str = "mail.marketing_confirmation";

/// What a [`SEND_CONFIRMATION`] job knows.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmationJob {
    /// The address, normalised.
    email: String,
    /// The sender.
    from: String,
    /// Where the confirmation link leads.
    confirm_url: String,
    /// Where the unsubscribe link leads.
    unsubscribe_url: String,
}

/// Subscribes the address, unless it is already confirmed, and enqueues its confirmation
/// email in the same transaction. The tokens stored now are never sent (payloads are kept in
/// the clear): they only end any earlier link, and the worker replaces them with the ones it
/// mails. The answer is the same whatever the provider does.
pub async fn subscribe(
    app: &App,
    subscription: &Subscription,
    mail: Confirmation<'_>,
) -> Result<Subscribed, MarketingError> {
    let email = subscription.email.as_str();
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let outcome = marketing::subscribe(
        &mut tx,
        email,
        subscription.source.as_deref(),
        &token_hash(&new_token()),
        &token_hash(&new_token()),
        now,
    )
    .await?;
    if outcome == Subscribed::NeedsConfirmation {
        let job = ConfirmationJob {
            email: email.to_owned(),
            from: mail.from.to_owned(),
            confirm_url: mail.confirm_url.to_string(),
            unsubscribe_url: mail.unsubscribe_url.to_string(),
        };
        let job = delivery::job(SEND_CONFIRMATION, json!(job));
        jobs::enqueue(app, &mut tx, &job).await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// Runs [`SEND_CONFIRMATION`] jobs: gives a still-pending subscription fresh tokens and mails
/// both links. An address confirmed or unsubscribed meanwhile ends the job with nothing sent.
pub(crate) struct SendConfirmation;

impl Handler for SendConfirmation {
    fn run<'a>(&'a self, app: &'a App, raw: &'a Value) -> JobFuture<'a> {
        Box::pin(async move {
            let job: ConfirmationJob = delivery::payload(raw)?;
            let url = |field: &str, value: &str| {
                Url::parse(value)
                    .map_err(|e| JobError::Permanent(format!("{field} is not a URL: {e}")))
            };
            let confirm_url = url("confirm_url", &job.confirm_url)?;
            let unsubscribe_url = url("unsubscribe_url", &job.unsubscribe_url)?;
            let (confirm, unsubscribe) = (new_token(), new_token());
            let pending = marketing::reissue_tokens(
                &app.db,
                &job.email,
                &token_hash(&confirm),
                &token_hash(&unsubscribe),
                app.now(),
            )
            .await?;
            if !pending {
                return Ok(());
            }
            let unsubscribe_link = with_token(&unsubscribe_url, &unsubscribe);
            let message = OutgoingEmail {
                from: job.from,
                to: job.email,
                subject: "Confirm your Raxx newsletter subscription".into(),
                text_body: format!(
                    "Confirm that you want Raxx news at this address:\n\n{}\n\nChanged your mind? Unsubscribe any time:\n\n{unsubscribe_link}\n",
                    with_token(&confirm_url, &confirm),
                ),
                tag: "marketing_confirm".into(),
                reply_to: None,
                headers: list_unsubscribe(&unsubscribe_link),
            };
            app.mailer.send(&message).await?;
            Ok(())
        })
    }
}

/// Confirms the subscription holding this confirmation token; returns its address.
pub async fn confirm(app: &App, token: &str) -> Result<String, MarketingError> {
    marketing::confirm(&app.db, &token_hash(token), app.now())
        .await?
        .ok_or(MarketingError::UnknownConfirmation)
}

/// Ends the subscription holding this unsubscribe token; returns its address.
pub async fn unsubscribe(app: &App, token: &str) -> Result<String, MarketingError> {
    marketing::unsubscribe(&app.db, &token_hash(token), app.now())
        .await?
        .ok_or(MarketingError::UnknownUnsubscribe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_normalises_the_address_and_drops_a_blank_source() {
        let s = Subscription::parse(" Ada@Example.COM ", Some("  ")).unwrap();
        assert_eq!(s.email.as_str(), "ada@example.com");
        assert_eq!(s.source, None);
        let s = Subscription::parse("ada@example.com", Some(" footer ")).unwrap();
        assert_eq!(s.source.as_deref(), Some("footer"));
    }

    #[test]
    fn a_subscription_names_the_field_at_fault() {
        assert_eq!(
            Subscription::parse("nope", None).unwrap_err().field,
            "email"
        );
        let long = "x".repeat(65);
        let err = Subscription::parse("ada@example.com", Some(&long)).unwrap_err();
        assert_eq!(err.field, "source");
        assert_eq!(err.reason, "must be at most 64 characters");
    }

    #[test]
    fn marketing_mail_offers_one_click_unsubscribe() {
        let link = Url::parse("https://raxx.app/api/marketing/unsubscribe?token=abc").unwrap();
        let headers = list_unsubscribe(&link);
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|h| (h.name.as_str(), h.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                (
                    "List-Unsubscribe",
                    "<https://raxx.app/api/marketing/unsubscribe?token=abc>"
                ),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ]
        );
    }

    #[test]
    fn links_carry_the_token_as_their_only_query() {
        let url = Url::parse("https://raxx.app/api/marketing/confirm?x=1").unwrap();
        assert_eq!(
            with_token(&url, "abc").as_str(),
            "https://raxx.app/api/marketing/confirm?token=abc"
        );
    }
}
