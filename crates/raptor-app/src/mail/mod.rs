//! Outbound email through one trait: Postmark when a server token is configured, otherwise
//! the local outbox. Nothing sends from a request: use cases enqueue a mail job in their own
//! transaction ([`delivery`]) and a worker sends it, retrying what may pass.

pub mod delivery;
mod postmark;
pub mod redact;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;

use raptor_store::Db;
use serde::{Deserialize, Serialize};

use crate::jobs::JobError;
use crate::Clock;

pub use postmark::{PostmarkMailer, CONNECT_TIMEOUT, REQUEST_TIMEOUT};

/// One message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutgoingEmail {
    /// Sender, e.g. `Raxx <no-reply@raxx.app>`.
    pub from: String,
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text_body: String,
    /// A tag for the provider's statistics (`email_link`, …).
    pub tag: String,
    /// Where replies should go, when not to `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Extra headers (`List-Unsubscribe`, …); most messages have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<MailHeader>,
}

/// One extra header of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailHeader {
    /// Its name, e.g. `List-Unsubscribe`.
    pub name: String,
    /// Its value, one line.
    pub value: String,
}

impl MailHeader {
    /// A header `name: value`.
    pub fn new(name: &str, value: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            value: value.into(),
        }
    }
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The provider could not be reached, timed out or answered nonsense.
    #[error("the mail provider could not be reached: {0}")]
    Transport(String),
    /// The provider refused the message.
    #[error("the mail provider refused the message (HTTP {status}, code {code}): {message}")]
    Refused {
        /// The HTTP status of the answer.
        status: u16,
        /// Postmark's `ErrorCode`.
        code: i64,
        /// Postmark's `Message`.
        message: String,
    },
    /// The outbox could not be written.
    #[error("the outbox could not be written: {0}")]
    Outbox(#[from] raptor_store::StoreError),
}

impl MailError {
    /// Whether sending again later may work: the provider away, slow, overloaded (5xx) or
    /// rate limiting (429), or the outbox's database away. A refusal of this message (an
    /// inactive recipient, an invalid address, a bad token) will not pass by waiting.
    pub fn is_transient(&self) -> bool {
        match self {
            MailError::Transport(_) | MailError::Outbox(_) => true,
            MailError::Refused { status, .. } => *status >= 500 || *status == 429,
        }
    }
}

impl From<MailError> for JobError {
    fn from(err: MailError) -> Self {
        if err.is_transient() {
            JobError::Retry(err.to_string())
        } else {
            JobError::Permanent(err.to_string())
        }
    }
}

/// A boxed, `Send` future.
pub type MailFuture<'a> = Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;

/// Sends email.
pub trait Mailer: Send + Sync + fmt::Debug {
    /// Sends one message.
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> MailFuture<'a>;
}

/// Writes messages to the local outbox (`job_queue`, queue `outbox`): development mode, when
/// no provider is configured. Nothing is delivered, and the stored copy has its links'
/// secrets redacted ([`redact`]), since operators can read the outbox. With
/// [`OutboxMailer::logging_links`], a developer's local server logs the whole links instead,
/// so they can sign in without a provider.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    db: Db,
    clock: Arc<dyn Clock>,
    log_links: bool,
}

impl OutboxMailer {
    /// An outbox in the application database, stamped by `clock`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            clock,
            log_links: false,
        }
    }

    /// Also logs each message's links whole, secrets included, at INFO: for a developer's
    /// own machine only (`RAPTOR_DEV_MAIL_LOG_LINKS=1`).
    pub fn logging_links(mut self) -> Self {
        self.log_links = true;
        self
    }
}

/// What the outbox keeps of `email`: the message with its links' secrets redacted.
fn redacted(email: &OutgoingEmail) -> OutgoingEmail {
    OutgoingEmail {
        text_body: redact::redact_links(&email.text_body),
        reply_to: email.reply_to.as_deref().map(redact_plus_tag),
        headers: email
            .headers
            .iter()
            .map(|h| MailHeader::new(&h.name, redact::redact_links(&h.value)))
            .collect(),
        ..email.clone()
    }
}

/// `support+<redacted>@raxx.app` for `support+TOKEN@raxx.app`: a reply address's tag is a
/// ticket's reply token.
fn redact_plus_tag(address: &str) -> String {
    match address.split_once('+') {
        Some((mailbox, rest)) => match rest.rsplit_once('@') {
            Some((_, domain)) => format!("{mailbox}+<redacted>@{domain}"),
            None => format!("{mailbox}+<redacted>"),
        },
        None => address.to_owned(),
    }
}

impl Mailer for OutboxMailer {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> MailFuture<'a> {
        Box::pin(async move {
            let message = serde_json::to_value(redacted(email))
                .map_err(|e| MailError::Transport(e.to_string()))?;
            raptor_store::outbox::store(&self.db, &message, self.clock.now()).await?;
            tracing::info!(
                tag = %email.tag,
                "email written to the local outbox, links redacted (no POSTMARK_SERVER_TOKEN)"
            );
            if self.log_links {
                for link in redact::links_with_parameters(&email.text_body) {
                    tracing::info!(
                        tag = %email.tag,
                        to = %email.to,
                        %link,
                        "development mail link (RAPTOR_DEV_MAIL_LOG_LINKS)"
                    );
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_copy_hides_a_reply_addresss_token() {
        let email = OutgoingEmail {
            reply_to: Some("support+0123abcd@raxx.app".into()),
            ..OutgoingEmail::default()
        };
        assert_eq!(
            redacted(&email).reply_to.as_deref(),
            Some("support+<redacted>@raxx.app")
        );
        let plain = OutgoingEmail {
            reply_to: Some("help@raxx.app".into()),
            ..OutgoingEmail::default()
        };
        assert_eq!(redacted(&plain).reply_to.as_deref(), Some("help@raxx.app"));
    }

    #[test]
    fn the_outbox_copy_keeps_everything_but_the_links_secrets() {
        let email = OutgoingEmail {
            from: "Raxx <no-reply@raxx.app>".into(),
            to: "ada@example.com".into(),
            subject: "Confirm".into(),
            text_body: "Confirm: https://raxx.app/api/marketing/confirm?token=abc\n".into(),
            tag: "marketing_confirm".into(),
            reply_to: None,
            headers: vec![MailHeader::new(
                "List-Unsubscribe",
                "<https://raxx.app/api/marketing/unsubscribe?token=def>",
            )],
        };
        let copy = redacted(&email);
        assert_eq!(
            copy.text_body,
            "Confirm: https://raxx.app/api/marketing/confirm?token=<redacted>\n"
        );
        assert_eq!(
            copy.headers[0].value,
            "<https://raxx.app/api/marketing/unsubscribe?token=<redacted>>"
        );
        assert_eq!((copy.to, copy.subject), (email.to, email.subject));
    }

    #[test]
    fn provider_trouble_is_retried_and_a_refusal_is_not() {
        let refused = |status| MailError::Refused {
            status,
            code: 406,
            message: "inactive recipient".into(),
        };
        assert!(MailError::Transport("timed out".into()).is_transient());
        assert!(refused(500).is_transient());
        assert!(refused(503).is_transient());
        assert!(refused(429).is_transient());
        assert!(!refused(422).is_transient());
        assert!(!refused(401).is_transient());
        assert!(matches!(
            JobError::from(refused(422)),
            JobError::Permanent(_)
        ));
        assert!(matches!(JobError::from(refused(502)), JobError::Retry(_)));
    }
}

#[cfg(test)]
mod queue_tests;
