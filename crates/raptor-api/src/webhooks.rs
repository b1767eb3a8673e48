//! Webhooks, authenticated as their senders do: Postmark with HTTP basic auth, the status
//! page with an HMAC-SHA256 signature of the raw body. Unconfigured → 503, bad credentials →
//! 401, malformed → 400; nothing is stored in any of those cases. Retries store one row.
//! Authentication and parsing happen here; what an event does is in
//! [`raptor_app::webhooks`].

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use raptor_app::webhooks::{self, Delivery, DeliveryReport, Inbound, InboundEmail, WebhookError};
use raptor_domain::Email;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::extract::ApiBytes;
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::{AppState, Problem, ProblemCode};

const TAG: &str = "webhooks";

/// Inbound email may carry attachments; their content is not kept, but it is received.
const INBOUND_BODY_LIMIT: usize = 40 * 1024 * 1024;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(postmark_inbound).layer(DefaultBodyLimit::max(INBOUND_BODY_LIMIT)))
        .routes(routes!(postmark_delivery))
        .routes(routes!(status_page))
}

impl From<WebhookError> for Problem {
    fn from(err: WebhookError) -> Self {
        match err {
            WebhookError::Store(store) => store.into(),
        }
    }
}

fn not_configured(what: &str) -> Problem {
    Problem::new(
        ProblemCode::WebhookNotConfigured,
        format!("the {what} webhook is not configured on this server"),
    )
}

fn bad_credentials() -> Problem {
    let mut problem = Problem::new(
        ProblemCode::BadCredentials,
        "the webhook credentials are missing or wrong",
    );
    problem.challenge = Some("Basic realm=\"raptor-webhooks\"");
    problem
}

/// Postmark's Basic credentials, checked from the headers before any of the body is read.
struct PostmarkAuth;

impl FromRequestParts<AppState> for PostmarkAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        postmark_authorized(state, &parts.headers).map(|()| Self)
    }
}

/// The status page's signature, read from the headers before any of the body is read; it is
/// checked against the body once that has arrived.
struct StatusSignature {
    secret: String,
    signature: Option<Vec<u8>>,
}

impl FromRequestParts<AppState> for StatusSignature {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let Some(secret) = &state.config.webhooks.status_secret else {
            return Err(not_configured("status"));
        };
        let signature = parts
            .headers
            .get("x-signature-256")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("sha256="))
            .and_then(|hex| decode_hex(hex.trim()));
        if signature.is_none() {
            return Err(bad_signature());
        }
        Ok(Self {
            secret: secret.clone(),
            signature,
        })
    }
}

impl StatusSignature {
    /// Whether the signature is the HMAC of `body` (compared in constant time).
    fn verifies(&self, body: &[u8]) -> bool {
        self.signature.as_ref().is_some_and(|signature| {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()) else {
                return false;
            };
            mac.update(body);
            mac.verify_slice(signature).is_ok()
        })
    }
}

fn bad_signature() -> Problem {
    Problem::new(
        ProblemCode::BadSignature,
        "X-Signature-256 is missing or does not match the body",
    )
}

/// Checks Postmark's basic-auth credentials in constant time.
fn postmark_authorized(state: &AppState, headers: &HeaderMap) -> Result<(), Problem> {
    let Some((user, password)) = &state.config.webhooks.postmark else {
        return Err(not_configured("Postmark"));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v.trim()).ok())
        .unwrap_or_default();
    let expected = format!("{user}:{password}");
    if bool::from(presented.ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(bad_credentials())
    }
}

/// The body as a JSON object, cleaned as the store keeps provider text.
fn parse_json(body: &Bytes) -> Result<Value, Problem> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .map(|payload| webhooks::clean_json(&payload))
        .ok_or_else(|| Problem::new(ProblemCode::MalformedBody, "the body is not a JSON object"))
}

fn malformed(field: &'static str, detail: &str) -> Problem {
    let mut problem = Problem::new(ProblemCode::MalformedBody, format!("{field}: {detail}"));
    problem.field = Some(field);
    problem
}

fn required<'a>(payload: &'a Value, field: &'static str) -> Result<&'a str, Problem> {
    payload[field]
        .as_str()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| malformed(field, "is required"))
}

/// Attachment metadata without content.
fn attachment_metadata(payload: &Value) -> Option<Value> {
    payload["Attachments"].as_array().map(|list| {
        json!(list
            .iter()
            .map(|a| json!({ "Name": a["Name"], "ContentType": a["ContentType"], "ContentLength": a["ContentLength"] }))
            .collect::<Vec<_>>())
    })
}

/// What an inbound email did, by `status`.
#[derive(Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
enum InboundReceipt {
    /// This `MessageID` was stored before; nothing changed.
    Duplicate {
        /// The message's `MessageID`.
        message_id: String,
    },
    /// Stored as a message on a ticket.
    Stored {
        /// The ticket it continued or opened.
        ticket_id: i64,
        /// Whether the sender is taken to be a known customer (only when authenticated).
        linked: bool,
        /// Whether a receiving server's SPF, DKIM or DMARC verdict authenticated the sender;
        /// if not, the mail opened a new ticket flagged `unverified_sender`.
        authenticated: bool,
    },
}

/// Postmark's inbound webhook: an email to the support address becomes a message on a support
/// ticket: the one whose reply token its `support+<token>@` address carries, if the sender is
/// authenticated and is that ticket's requester, else a new one.
///
/// Authenticated with HTTP Basic credentials (the configured Postmark webhook user and
/// password). The body is Postmark's inbound JSON; `MessageID`, `From` (or `FromFull.Email`)
/// and `To` are required, and `From` and `FromFull.Email` must name the same address. The
/// sender counts as authenticated only by the receiving servers' verdicts in `Headers`
/// (DMARC, or SPF or DKIM aligned with the `From` domain); otherwise the mail is stored on a
/// new ticket linked to nobody and flagged `unverified_sender`. Attachment content is received
/// but never stored; control characters (NUL included) are dropped from what is stored. A
/// retry of the same `MessageID` stores nothing new.
#[utoipa::path(post, path = "/webhooks/postmark/inbound", tag = TAG,
    request_body(content = Object, description = "Postmark's inbound email JSON (up to 40 MiB).",
        content_type = "application/json"),
    responses(
        (status = 200, description = "Stored, or a duplicate of a stored message", body = InboundReceipt),
        (status = 400, description = "Not a JSON object, or a required field is missing (`malformed_body`, `field` names it)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 401, description = "Missing or wrong Basic credentials (`bad_credentials`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 413, description = "The body is over 40 MiB", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "`From` and `FromFull.Email` name different addresses (`sender_mismatch`); nothing is stored", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 503, description = "No Postmark credentials are configured (`webhook_not_configured`)", body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
async fn postmark_inbound(
    State(state): State<AppState>,
    _: PostmarkAuth,
    ApiBytes(body): ApiBytes,
) -> Result<Json<InboundReceipt>, Problem> {
    let payload = parse_json(&body)?;
    let message_id = required(&payload, "MessageID")?;
    let from = sender(&payload)?;
    let to = required(&payload, "To")?;
    let attachments = attachment_metadata(&payload);
    let headers: Vec<(&str, &str)> = payload["Headers"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|h| Some((h["Name"].as_str()?, h["Value"].as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let email = InboundEmail {
        message_id,
        from: &from,
        from_name: payload["FromName"].as_str(),
        to,
        mailbox_hash: payload["MailboxHash"].as_str(),
        subject: payload["Subject"].as_str(),
        text_body: payload["TextBody"].as_str(),
        html_body: payload["HtmlBody"].as_str(),
        stripped_text_reply: payload["StrippedTextReply"].as_str(),
        attachments: attachments.as_ref(),
        headers: &headers,
        payload: &payload,
    };
    let trusted = &state.config.trusted_authserv_ids;
    let receipt = match webhooks::receive_email(&state, &email, trusted).await? {
        Inbound::Duplicate => InboundReceipt::Duplicate {
            message_id: message_id.to_owned(),
        },
        Inbound::Stored {
            ticket_id,
            linked,
            authenticated,
        } => InboundReceipt::Stored {
            ticket_id,
            linked,
            authenticated,
        },
    };
    Ok(Json(receipt))
}

/// The sender: `From` and `FromFull.Email` (either may be left out), which must name the same
/// address once normalised; a mail that says two things about its sender is refused.
fn sender(payload: &Value) -> Result<Email, Problem> {
    let given = |v: &Value| {
        v.as_str()
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
    };
    let parse = |field: &'static str, raw: &str| {
        Email::parse(raw).map_err(|_| malformed(field, "is not an email address"))
    };
    match (
        given(&payload["From"]),
        given(&payload["FromFull"]["Email"]),
    ) {
        (None, None) => Err(malformed("From", "is required")),
        (Some(from), None) => parse("From", &from),
        (None, Some(full)) => parse("FromFull", &full),
        (Some(from), Some(full)) => {
            let (from, full) = (parse("From", &from)?, parse("FromFull", &full)?);
            if from == full {
                Ok(from)
            } else {
                let mut problem = Problem::new(
                    ProblemCode::SenderMismatch,
                    format!("From ({from}) and FromFull.Email ({full}) name different senders"),
                );
                problem.field = Some("From");
                Err(problem)
            }
        }
    }
}

/// Postmark's timestamp fields, in the order an event's time is read from them.
const DELIVERY_TIMES: [&str; 4] = ["DeliveredAt", "BouncedAt", "ReceivedAt", "ChangedAt"];

/// What a delivery event did, by `status`.
#[derive(Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
enum DeliveryReceipt {
    /// The event was stored before; nothing changed.
    Duplicate,
    /// Stored.
    Stored {
        /// Whether the recipient is now marked undeliverable (a hard bounce, a spam complaint
        /// or a suppressing subscription change).
        undeliverable: bool,
    },
}

/// Postmark's delivery webhook: deliveries, bounces, spam complaints, opens, clicks and
/// subscription changes are kept; hard failures mark the address undeliverable.
///
/// Authenticated with HTTP Basic credentials (the configured Postmark webhook user and
/// password). The body is Postmark's event JSON; `RecordType`, `MessageID` and `Recipient` (or
/// `Email`) are required. A retry of the same event stores nothing new.
#[utoipa::path(post, path = "/webhooks/postmark/delivery", tag = TAG,
    request_body(content = Object, description = "Postmark's delivery-event JSON.",
        content_type = "application/json"),
    responses(
        (status = 200, description = "Stored, or a duplicate of a stored event", body = DeliveryReceipt),
        (status = 400, description = "Not a JSON object, or a required field is missing (`malformed_body`, `field` names it)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 401, description = "Missing or wrong Basic credentials (`bad_credentials`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 503, description = "No Postmark credentials are configured (`webhook_not_configured`)", body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
async fn postmark_delivery(
    State(state): State<AppState>,
    _: PostmarkAuth,
    ApiBytes(body): ApiBytes,
) -> Result<Json<DeliveryReceipt>, Problem> {
    let payload = parse_json(&body)?;
    let record_type = required(&payload, "RecordType")?;
    let message_id = required(&payload, "MessageID")?;
    let recipient = payload["Recipient"]
        .as_str()
        .or(payload["Email"].as_str())
        .unwrap_or_default();
    let recipient = raptor_domain::Email::parse(recipient)
        .map_err(|_| malformed("Recipient", "is required (or Email)"))?;
    let times: Vec<&str> = DELIVERY_TIMES
        .iter()
        .filter_map(|f| payload[*f].as_str())
        .collect();
    let report = DeliveryReport {
        record_type,
        message_id,
        recipient: &recipient,
        id: payload["ID"].as_i64(),
        bounce_type: payload["Type"].as_str(),
        suppress_sending: payload["SuppressSending"].as_bool(),
        original_link: payload["OriginalLink"].as_str(),
        times: &times,
        payload: &payload,
    };
    let receipt = match webhooks::record_delivery(&state, &report).await? {
        Delivery::Duplicate => DeliveryReceipt::Duplicate,
        Delivery::Stored { undeliverable } => DeliveryReceipt::Stored { undeliverable },
    };
    Ok(Json(receipt))
}

/// What a status-page event did, by `status`.
#[derive(Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
enum StatusReceipt {
    /// Stored.
    Stored,
    /// The event was stored before; nothing changed.
    Duplicate,
}

/// The status page's webhook: incident and component events are kept.
///
/// Authenticated by an HMAC-SHA256 of the raw body with the configured secret, sent as
/// `X-Signature-256: sha256=<hex>`. The body is the event's JSON; `id` and `type` are
/// required. A retry of the same `id` stores nothing new.
#[utoipa::path(post, path = "/webhooks/status", tag = TAG,
    params(("X-Signature-256" = String, Header,
        description = "`sha256=` and the hex HMAC-SHA256 of the raw body under the shared secret.")),
    request_body(content = Object, description = "The status page's event JSON.",
        content_type = "application/json"),
    responses(
        (status = 200, description = "Stored, or a duplicate of a stored event", body = StatusReceipt),
        (status = 400, description = "Not a JSON object, or `id` or `type` is missing (`malformed_body`, `field` names it)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 401, description = "The signature is missing or does not match the body (`bad_signature`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 503, description = "No signing secret is configured (`webhook_not_configured`)", body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
async fn status_page(
    State(state): State<AppState>,
    signature: StatusSignature,
    ApiBytes(body): ApiBytes,
) -> Result<Json<StatusReceipt>, Problem> {
    if !signature.verifies(&body) {
        return Err(bad_signature());
    }
    let payload = parse_json(&body)?;
    let event_id = required(&payload, "id")?;
    let kind = required(&payload, "type")?;
    let stored = webhooks::record_status_event(&state, event_id, kind, &payload).await?;
    Ok(Json(if stored {
        StatusReceipt::Stored
    } else {
        StatusReceipt::Duplicate
    }))
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}
