//! Postmark's HTTP API, with timeouts so a slow provider holds a worker for a bounded time.

use std::fmt;
use std::time::Duration;

use serde_json::json;

use super::{MailError, MailFuture, Mailer, OutgoingEmail};

/// How long to wait for a connection to Postmark: long enough for a slow TLS handshake,
/// short enough that an unreachable provider frees the worker quickly.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one send may take from connecting to reading the whole answer; Postmark answers
/// in well under a second when it is healthy.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

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

    /// A client for `base_url` (Postmark's, or a local fake in tests) with a server token,
    /// [`CONNECT_TIMEOUT`] and [`REQUEST_TIMEOUT`].
    pub fn new(base_url: &str, token: &str) -> Result<Self, MailError> {
        Self::with_timeouts(base_url, token, CONNECT_TIMEOUT, REQUEST_TIMEOUT)
    }

    /// The same with other timeouts (tests use short ones).
    pub fn with_timeouts(
        base_url: &str,
        token: &str,
        connect: Duration,
        request: Duration,
    ) -> Result<Self, MailError> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(request)
            .build()
            .map_err(|e| MailError::Transport(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }
}

impl Mailer for PostmarkMailer {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> MailFuture<'a> {
        Box::pin(async move {
            let mut body = json!({
                "From": email.from,
                "To": email.to,
                "Subject": email.subject,
                "TextBody": email.text_body,
                "Tag": email.tag,
                "MessageStream": "outbound",
                "Headers": email
                    .headers
                    .iter()
                    .map(|h| json!({ "Name": h.name, "Value": h.value }))
                    .collect::<Vec<_>>(),
            });
            if let Some(reply_to) = &email.reply_to {
                body["ReplyTo"] = json!(reply_to);
            }
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
                tracing::info!(tag = %email.tag, message_id = %answer["MessageID"], "email sent through Postmark");
                Ok(())
            } else {
                Err(MailError::Refused {
                    status: status.as_u16(),
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
