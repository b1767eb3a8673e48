//! Tickets by email. Inbound: whom a sender is taken to be, and which ticket a mail continues,
//! both decided here only. Outbound: a staff reply is mailed by a worker that mints a fresh
//! reply token for its `Reply-To` (`support+<token>@…`) and keeps only the token's hash, so
//! the job's payload, which operators see, holds no secret.

use raptor_domain::{Email, InvalidInput, SenderVerdict};
use raptor_store::jobs::Enqueued;
use raptor_store::support::{self, Ticket};
use raptor_store::{users, StoreError, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::jobs::{self, Handler, JobError, JobFuture};
use crate::mail::{delivery, OutgoingEmail};
use crate::secrets::{address_token_hash, new_address_token};
use crate::App;

/// Mails a staff reply with a fresh reply token in its `Reply-To`.
pub const SEND_REPLY: &str = "mail.support_reply";

/// Checks the inbound support address (`RAPTOR_SUPPORT_ADDRESS`): an address whose local part
/// carries no `+` tag, since replies put their token there.
pub fn support_address(raw: &str) -> Result<Email, InvalidInput> {
    let address = Email::parse(raw).map_err(|e| InvalidInput::new("support_address", e.reason))?;
    if address
        .as_str()
        .split('@')
        .next()
        .is_some_and(|local| local.contains('+'))
    {
        return Err(InvalidInput::new(
            "support_address",
            "must not carry a +tag: replies put their reply token there",
        ));
    }
    Ok(address)
}

/// `local+token@domain` for the support address `local@domain`; None if it is no address.
pub fn reply_address(support_address: &str, token: &str) -> Option<String> {
    let (local, domain) = support_address.rsplit_once('@')?;
    let plain = !local.is_empty() && !local.contains('+') && !domain.is_empty();
    plain.then(|| format!("{local}+{token}@{domain}"))
}

/// The customer an inbound mail is from: none unless a receiving server authenticated the
/// sender (`verdict`), else the customer the address maps to. This is the one place that
/// decides whether a sender is taken to be a customer.
pub async fn customer_for_sender(
    app: &App,
    sender: &Email,
    verdict: &SenderVerdict,
) -> Result<Option<i64>, StoreError> {
    if !verdict.is_authenticated() {
        return Ok(None);
    }
    support::customer_for_sender(&app.db, sender.as_str()).await
}

/// The ticket an inbound mail continues: the one whose reply token its plus-address
/// (`mailbox_hash`) carries, when the sender is authenticated and is that ticket's requester.
/// Anything else (a `ticket-N` tag, a token of someone else's ticket, a forged sender)
/// continues nothing.
pub async fn continued_ticket(
    app: &App,
    mailbox_hash: Option<&str>,
    sender: &Email,
    verdict: &SenderVerdict,
) -> Result<Option<Ticket>, StoreError> {
    let Some(token) = mailbox_hash.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    if !verdict.is_authenticated() {
        return Ok(None);
    }
    let ticket = support::ticket_for_reply_token(&app.db, &address_token_hash(token))
        .await?
        .filter(|t| t.requester_email == sender.as_str());
    // A ticket an unverified account opened may carry someone else's address: their reply
    // must not land where that account reads it.
    if let Some(user_id) = ticket.as_ref().and_then(|t| t.user_id) {
        let verified = users::by_id(&app.db, user_id)
            .await?
            .is_some_and(|user| user.email_verified());
        if !verified {
            return Ok(None);
        }
    }
    Ok(ticket)
}

/// A staff reply to mail: everything but the reply token, which the worker mints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reply {
    /// The ticket answered.
    pub ticket_id: i64,
    /// The sender, e.g. `Raxx <no-reply@raxx.app>`.
    pub from: String,
    /// The requester.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The reply.
    pub text_body: String,
    /// The inbound support address the `Reply-To` is made from.
    pub support_address: String,
}

/// Enqueues `reply` inside `tx`: it is mailed if and only if the transaction commits.
pub(crate) async fn enqueue_reply(
    app: &App,
    tx: &mut Tx,
    reply: &Reply,
) -> Result<Enqueued, StoreError> {
    jobs::enqueue(app, tx, &delivery::job(SEND_REPLY, json!(reply))).await
}

/// Runs [`SEND_REPLY`] jobs: stores a fresh reply token's hash for the ticket and mails the
/// reply with `Reply-To: support+<token>@…`. Each attempt mints its own token; a ticket gone
/// meanwhile ends the job with nothing sent.
pub(crate) struct SendReply;

impl Handler for SendReply {
    fn run<'a>(&'a self, app: &'a App, raw: &'a Value) -> JobFuture<'a> {
        Box::pin(async move {
            let reply: Reply = delivery::payload(raw)?;
            if support::get(&app.db, reply.ticket_id).await?.is_none() {
                return Ok(());
            }
            let token = new_address_token();
            let reply_to = reply_address(&reply.support_address, &token).ok_or_else(|| {
                JobError::Permanent(format!(
                    "support_address {:?} is not a plain address",
                    reply.support_address
                ))
            })?;
            let hash = address_token_hash(&token);
            support::add_reply_token(&app.db, reply.ticket_id, &hash, app.now()).await?;
            let message = OutgoingEmail {
                from: reply.from,
                to: reply.to,
                subject: reply.subject,
                text_body: reply.text_body,
                tag: "support_reply".to_owned(),
                reply_to: Some(reply_to),
                ..OutgoingEmail::default()
            };
            app.mailer.send(&message).await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_address_is_the_support_address_tagged_with_the_token() {
        assert_eq!(
            reply_address("support@raxx.app", "0a1b").as_deref(),
            Some("support+0a1b@raxx.app")
        );
        assert_eq!(reply_address("support+x@raxx.app", "0a1b"), None);
        assert_eq!(reply_address("raxx.app", "0a1b"), None);
        assert_eq!(
            support_address(" Support@Raxx.app ").map(|e| e.as_str().to_owned()),
            Ok("support@raxx.app".to_owned())
        );
        let tagged = support_address("support+inbox@raxx.app").expect_err("tagged");
        assert_eq!(tagged.field, "support_address");
        assert!(support_address("not an address").is_err());
    }
}
