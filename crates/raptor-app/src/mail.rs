//! Outbound email through one trait: Postmark when a server token is configured, otherwise
//! the local outbox.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;

use raptor_store::Db;
use serde::Serialize;

use crate::Clock;
use serde_json::json;

/// One message.
#[derive(Debug, Clone, Serialize)]
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
    pub tag: &'static str,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The provider could not be reached or answered nonsense.
    #[error("the mail provider could not be reached: {0}")]
    Transport(String),
    /// The provider refused the message.
    #[error("the mail provider refused the message (code {code}): {message}")]
    Refused {
        /// Postmark's `ErrorCode`.
        code: i64,
        /// Postmark's `Message`.
        message: String,
    },
    /// The outbox could not be written.
    #[error("the outbox could not be written: {0}")]
    Outbox(#[from] raptor_store::StoreError),
}

/// A boxed, `Send` future.
pub type MailFuture<'a> = Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;

/// Sends email.
pub trait Mailer: Send + Sync + fmt::Debug {
    /// Sends one message.
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> MailFuture<'a>;
}

/// Writes messages to the local outbox (`job_queue`, queue `outbox`).
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl OutboxMailer {
    /// An outbox in the application database, stamped by `clock`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }
}

impl Mailer for OutboxMailer {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> MailFuture<'a> {
        Box::pin(async move {
            let message =
                serde_json::to_value(email).map_err(|e| MailError::Transport(e.to_string()))?;
            raptor_store::outbox::store(&self.db, &message, self.clock.now()).await?;
            tracing::info!(
                tag = email.tag,
                "email written to the local outbox (no POSTMARK_SERVER_TOKEN)"
            );
            Ok(())
        })
    }
}

/// Postmark's HTTP API (`POST /email` with the server token header).
pub struct PostmarkMailer {
    client: reqwest::Client,
    base_url: String,
    token: String,
}

impl fmt::Debug for PostmarkMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostmarkMailer({})", self.base_url)
    }
}

impl PostmarkMailer {
    /// The production API.
    pub const API_URL: &'static str = "https://api.postmarkapp.com";

    /// A client for `base_url` (Postmark's, or a local fake in tests) with a server token.
    pub fn new(base_url: &str, token: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }
}

impl Mailer for PostmarkMailer {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> MailFuture<'a> {
        Box::pin(async move {
            let body = json!({
                "From": email.from,
                "To": email.to,
                "Subject": email.subject,
                "TextBody": email.text_body,
                "Tag": email.tag,
                "MessageStream": "outbound",
            });
            let response = self
                .client
                .post(format!("{}/email", self.base_url))
                .header("Accept", "application/json")
                .header("X-Postmark-Server-Token", &self.token)
                .json(&body)
                .send()
                .await
                .map_err(|e| MailError::Transport(e.without_url().to_string()))?;
            let status = response.status();
            let answer: serde_json::Value = response
                .json()
                .await
                .map_err(|e| MailError::Transport(format!("HTTP {status}: {}", e.without_url())))?;
            let code = answer["ErrorCode"].as_i64().unwrap_or(-1);
            if status.is_success() && code == 0 {
                tracing::info!(tag = email.tag, message_id = %answer["MessageID"], "email sent through Postmark");
                Ok(())
            } else {
                Err(MailError::Refused {
                    code,
                    message: answer["Message"]
                        .as_str()
                        .unwrap_or("no message")
                        .to_owned(),
                })
            }
        })
    }
}
