//! What happens once a webhook's sender is authenticated: inbound email becomes a support
//! ticket message, delivery events are kept (and hard failures mark the address
//! undeliverable), status-page events are kept. Retries of the same event store nothing new.
//!
//! An inbound email's `From` is believed only as far as the receiving servers' verdicts in its
//! headers authenticate it ([`raptor_domain::mail_auth`]): mail from an unauthenticated sender
//! is stored on a new ticket, linked to nobody and flagged for staff, never dropped.
//!
//! What a provider sends is stored cleaned of control characters rather than refused: a
//! provider retries a refused event for ever, and PostgreSQL cannot store a NUL in text or
//! JSON at all.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use raptor_domain::{sender_verdict, Email};
use raptor_store::support::{self, NewMessage, NewTicket};
use raptor_store::webhooks::{self, DeliveryEvent};
use raptor_store::StoreError;
use serde_json::{json, Value};

use crate::support::email::{continued_ticket, customer_for_sender};
use crate::App;

/// Why a webhook's event was not stored.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An inbound email as the mail provider delivered it, parsed by the front door.
#[derive(Debug, Clone)]
pub struct InboundEmail<'a> {
    /// The provider's message id (the idempotency key).
    pub message_id: &'a str,
    /// The sender.
    pub from: &'a Email,
    /// The sender's display name.
    pub from_name: Option<&'a str>,
    /// The address it was sent to.
    pub to: &'a str,
    /// The plus-address part (the reply token in `support+<token>@…`).
    pub mailbox_hash: Option<&'a str>,
    /// The subject line.
    pub subject: Option<&'a str>,
    /// The plain-text body.
    pub text_body: Option<&'a str>,
    /// The HTML body.
    pub html_body: Option<&'a str>,
    /// The reply with quoted text removed.
    pub stripped_text_reply: Option<&'a str>,
    /// Attachment metadata, without content.
    pub attachments: Option<&'a Value>,
    /// The message's headers (name, value), in the message's order: the receiving servers'
    /// SPF, DKIM and DMARC verdicts are read from them.
    pub headers: &'a [(&'a str, &'a str)],
    /// The whole payload as received (an object); stored with `Attachments` replaced by the
    /// metadata, so attachment content is never kept.
    pub payload: &'a Value,
}

/// What an inbound email did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    /// The message was stored before; nothing changed.
    Duplicate,
    /// Stored as a message on a ticket.
    Stored {
        /// The ticket it continued or opened.
        ticket_id: i64,
        /// Whether the sender is a known customer.
        linked: bool,
        /// Whether a receiving server authenticated the sender.
        authenticated: bool,
    },
}

/// Stores an inbound email once and files it on a ticket: the one whose reply token its
/// plus-address carries, if the sender is authenticated and is that ticket's requester, else a
/// new one, linked to the sender's customer only when the sender is authenticated and flagged
/// `unverified_sender` when not. `Authentication-Results` is believed only from the
/// `trusted_authserv_ids`. Control characters (NUL included) are dropped from every text and
/// from the stored payload.
pub async fn receive_email(
    app: &App,
    email: &InboundEmail<'_>,
    trusted_authserv_ids: &[String],
) -> Result<Inbound, WebhookError> {
    let from = email.from.as_str();
    let message_id = clean(email.message_id);
    let from_name = email.from_name.map(clean);
    let to = clean(email.to);
    let mailbox_hash = email.mailbox_hash.map(clean).filter(|h| !h.is_empty());
    let subject = email.subject.map(clean);
    let subject = subject
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("(no subject)");
    let text_body = email.text_body.map(clean);
    let html_body = email.html_body.map(clean);
    let stripped_text_reply = email.stripped_text_reply.map(clean);
    let attachments = email.attachments.map(clean_json);
    let mut raw = clean_json(email.payload);
    if let Some(object) = raw.as_object_mut() {
        object.insert(
            "Attachments".into(),
            attachments.clone().unwrap_or(json!([])),
        );
    }
    let headers: Vec<(Cow<'_, str>, Cow<'_, str>)> = email
        .headers
        .iter()
        .map(|(name, value)| (clean(name), clean(value)))
        .collect();
    let verdict = sender_verdict(
        email.from,
        headers.iter().map(|(n, v)| (n.as_ref(), v.as_ref())),
        trusted_authserv_ids,
    );
    let sender_check = verdict.to_string();
    let customer = customer_for_sender(app, email.from, &verdict).await?;
    let existing = continued_ticket(app, mailbox_hash.as_deref(), email.from, &verdict).await?;

    let now = app.now();
    let mut tx = app.db.begin().await?;
    let row = webhooks::InboundEmail {
        message_id: &message_id,
        from_email: from,
        from_name: from_name.as_deref(),
        to_email: &to,
        mailbox_hash: mailbox_hash.as_deref(),
        subject,
        text_body: text_body.as_deref(),
        html_body: html_body.as_deref(),
        stripped_text_reply: stripped_text_reply.as_deref(),
        attachments: attachments.as_ref(),
        raw: &raw,
    };
    let Some(stored) = webhooks::store_inbound(&mut tx, &row, now).await? else {
        return Ok(Inbound::Duplicate);
    };
    let ticket = match existing {
        Some(ticket) => ticket,
        None => {
            let new = NewTicket {
                user_id: customer,
                requester_email: from,
                subject,
                unverified_sender: !verdict.is_authenticated(),
            };
            support::open(&mut tx, &new, now).await?
        }
    };
    let body_text = stripped_text_reply
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .or(text_body.as_deref())
        .unwrap_or("");
    let message = NewMessage {
        direction: "inbound",
        author_user_id: customer,
        from_email: Some(from),
        body_text,
        body_html: html_body.as_deref(),
        inbound_message_id: Some(stored),
        sender_check: Some(&sender_check),
    };
    support::add_message(&mut tx, ticket.id, &message, now).await?;
    tx.commit().await?;
    Ok(Inbound::Stored {
        ticket_id: ticket.id,
        linked: customer.is_some(),
        authenticated: verdict.is_authenticated(),
    })
}

/// A delivery event (delivery, bounce, spam complaint, open, click, subscription change) as
/// the mail provider reported it, parsed by the front door.
#[derive(Debug, Clone)]
pub struct DeliveryReport<'a> {
    /// `Delivery`, `Bounce`, `SpamComplaint`, `Open`, `Click`, `SubscriptionChange`, …
    pub record_type: &'a str,
    /// The message it is about.
    pub message_id: &'a str,
    /// The recipient it is about.
    pub recipient: &'a Email,
    /// The provider's own event id (bounces and complaints carry one).
    pub id: Option<i64>,
    /// The bounce type (`HardBounce`, `SoftBounce`, …).
    pub bounce_type: Option<&'a str>,
    /// Whether a subscription change suppresses sending.
    pub suppress_sending: Option<bool>,
    /// The link clicked, for clicks.
    pub original_link: Option<&'a str>,
    /// The event's timestamp fields as sent, in order of preference.
    pub times: &'a [&'a str],
    /// The whole payload, stored as the event's details.
    pub payload: &'a Value,
}

impl DeliveryReport<'_> {
    /// The key retries share: bounces and complaints carry their own id; other events are
    /// unique per message, recipient, time (and link, for clicks).
    fn event_key(&self) -> String {
        match self.id {
            Some(id) if matches!(self.record_type, "Bounce" | "SpamComplaint") => {
                format!("{}:{id}", self.record_type)
            }
            _ => format!(
                "{}:{}:{}:{}:{}",
                self.record_type,
                self.message_id,
                self.recipient.as_str(),
                self.times.first().copied().unwrap_or(""),
                self.original_link.unwrap_or("")
            ),
        }
    }

    /// Whether the recipient should get no more mail: a hard bounce, a spam complaint, or a
    /// subscription change that suppresses sending.
    fn undeliverable(&self) -> bool {
        (self.record_type == "Bounce" && self.bounce_type == Some("HardBounce"))
            || self.record_type == "SpamComplaint"
            || (self.record_type == "SubscriptionChange" && self.suppress_sending == Some(true))
    }

    /// When it happened: the first timestamp that reads as RFC 3339.
    fn occurred_at(&self) -> Option<DateTime<Utc>> {
        self.times
            .iter()
            .find_map(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    }
}

/// What a delivery event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The event was stored before; nothing changed.
    Duplicate,
    /// Stored.
    Stored {
        /// Whether the recipient was marked undeliverable.
        undeliverable: bool,
    },
}

/// Stores a delivery event once; a hard failure marks the recipient's account undeliverable.
/// Control characters are dropped from what is stored.
pub async fn record_delivery(
    app: &App,
    report: &DeliveryReport<'_>,
) -> Result<Delivery, WebhookError> {
    let event_key = clean(&report.event_key()).into_owned();
    let undeliverable = report.undeliverable();
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let event = DeliveryEvent {
        record_type: &clean(report.record_type),
        message_id: &clean(report.message_id),
        event_key: &event_key,
        recipient: report.recipient.as_str(),
        occurred_at: report.occurred_at().unwrap_or(now),
        details: &clean_json(report.payload),
    };
    if !webhooks::store_delivery(&mut tx, &event, now).await? {
        return Ok(Delivery::Duplicate);
    }
    if undeliverable {
        webhooks::mark_undeliverable(&mut tx, report.recipient.as_str(), now).await?;
    }
    tx.commit().await?;
    Ok(Delivery::Stored { undeliverable })
}

/// Stores a status-page event once, control characters dropped; false when it was stored
/// before.
pub async fn record_status_event(
    app: &App,
    event_id: &str,
    kind: &str,
    payload: &Value,
) -> Result<bool, WebhookError> {
    Ok(webhooks::store_status_event(
        &app.db,
        &clean(event_id),
        &clean(kind),
        &clean_json(payload),
        app.now(),
    )
    .await?)
}

/// Whether a character is dropped from provider text: NUL and the other C0 control
/// characters, except line breaks and tabs.
fn dropped(c: char) -> bool {
    c < ' ' && !matches!(c, '\n' | '\r' | '\t')
}

/// Provider text as the store can keep it (see [`dropped`]).
fn clean(text: &str) -> Cow<'_, str> {
    if text.contains(dropped) {
        Cow::Owned(text.chars().filter(|c| !dropped(*c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// A provider's JSON with every string and key cleaned of NUL and other control characters
/// but line breaks and tabs: what the store can keep, and what required fields are checked on
/// (a `MessageID` of only control characters is missing, not an empty id).
pub fn clean_json(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(clean(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(clean_json).collect()),
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| (clean(key).into_owned(), clean_json(value)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report<'a>(
        record_type: &'a str,
        recipient: &'a Email,
        times: &'a [&'a str],
        payload: &'a Value,
    ) -> DeliveryReport<'a> {
        DeliveryReport {
            record_type,
            message_id: "m-1",
            recipient,
            id: None,
            bounce_type: None,
            suppress_sending: None,
            original_link: None,
            times,
            payload,
        }
    }

    #[test]
    fn bounces_and_complaints_are_keyed_by_their_own_id_other_events_by_what_they_say() {
        let ada = Email::parse("ada@example.com").unwrap();
        let payload = json!({});
        let bounce = DeliveryReport {
            id: Some(7),
            ..report("Bounce", &ada, &[], &payload)
        };
        assert_eq!(bounce.event_key(), "Bounce:7");
        let times = ["2026-11-21T12:00:00Z"];
        let click = DeliveryReport {
            id: Some(7),
            original_link: Some("https://raxx.app/"),
            ..report("Click", &ada, &times, &payload)
        };
        assert_eq!(
            click.event_key(),
            "Click:m-1:ada@example.com:2026-11-21T12:00:00Z:https://raxx.app/"
        );
        assert_eq!(
            report("Delivery", &ada, &[], &payload).event_key(),
            "Delivery:m-1:ada@example.com::"
        );
    }

    #[test]
    fn hard_bounces_complaints_and_suppressions_make_an_address_undeliverable() {
        let ada = Email::parse("ada@example.com").unwrap();
        let payload = json!({});
        let base = report("Bounce", &ada, &[], &payload);
        let hard = DeliveryReport {
            bounce_type: Some("HardBounce"),
            ..base.clone()
        };
        let soft = DeliveryReport {
            bounce_type: Some("SoftBounce"),
            ..base.clone()
        };
        assert!(hard.undeliverable());
        assert!(!soft.undeliverable());
        assert!(report("SpamComplaint", &ada, &[], &payload).undeliverable());
        let suppressed = DeliveryReport {
            suppress_sending: Some(true),
            ..report("SubscriptionChange", &ada, &[], &payload)
        };
        assert!(suppressed.undeliverable());
        assert!(!report("Delivery", &ada, &[], &payload).undeliverable());
    }

    #[test]
    fn nul_and_other_control_characters_are_dropped_but_lines_and_tabs_kept() {
        assert_eq!(clean("a\u{0}b\u{1}c\u{1f}d"), "abcd");
        assert_eq!(clean("line\r\nnext\tcell"), "line\r\nnext\tcell");
        assert!(matches!(clean("plain é"), Cow::Borrowed(_)));
        assert_eq!(clean("\u{7f}\u{85}"), "\u{7f}\u{85}", "only C0 is dropped");
        let payload = json!({
            "Subject\u{0}": "Hi\u{0}",
            "Headers": [{ "Name": "X-\u{0}Id", "Value": 7 }, null, true],
        });
        assert_eq!(
            clean_json(&payload),
            json!({ "Subject": "Hi", "Headers": [{ "Name": "X-Id", "Value": 7 }, null, true] })
        );
    }

    #[test]
    fn the_event_time_is_the_first_that_reads_and_the_key_uses_the_first_sent() {
        let ada = Email::parse("ada@example.com").unwrap();
        let payload = json!({});
        let times = ["not a time", "2026-11-21T13:00:00+01:00"];
        let r = report("Delivery", &ada, &times, &payload);
        assert_eq!(
            r.occurred_at().map(|t| t.to_rfc3339()),
            Some("2026-11-21T12:00:00+00:00".to_owned())
        );
        assert_eq!(r.event_key(), "Delivery:m-1:ada@example.com:not a time:");
    }
}
