//! Webhooks, authenticated as their senders do: Postmark with HTTP basic auth, the status
//! page with an HMAC-SHA256 signature of the raw body. Unconfigured → 503, bad credentials →
//! 401, malformed → 400; nothing is stored in any of those cases. Retries store one row.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use raptor_store::support::{self, NewMessage};
use raptor_store::webhooks::{self, DeliveryEvent, InboundEmail};
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::{AppState, Problem};

/// Inbound email may carry attachments; their content is not kept, but it is received.
const INBOUND_BODY_LIMIT: usize = 40 * 1024 * 1024;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/webhooks/postmark/inbound",
            post(postmark_inbound).layer(DefaultBodyLimit::max(INBOUND_BODY_LIMIT)),
        )
        .route("/webhooks/postmark/delivery", post(postmark_delivery))
        .route("/webhooks/status", post(status_page))
}

fn not_configured(what: &str) -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "webhook_not_configured",
        format!("the {what} webhook is not configured on this server"),
    )
}

fn bad_credentials() -> Problem {
    let mut problem = Problem::unauthorized(
        "bad_credentials",
        "the webhook credentials are missing or wrong",
    );
    problem.challenge = Some("Basic realm=\"raptor-webhooks\"");
    problem
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

fn parse_json(body: &Bytes) -> Result<Value, Problem> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| Problem::bad_request("malformed_body", "the body is not a JSON object"))
}

fn malformed(field: &'static str, detail: &str) -> Problem {
    let mut problem = Problem::bad_request("malformed_body", format!("{field}: {detail}"));
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

async fn postmark_inbound(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Problem> {
    postmark_authorized(&state, &headers)?;
    let payload = parse_json(&body)?;
    let message_id = required(&payload, "MessageID")?;
    let from = payload["FromFull"]["Email"]
        .as_str()
        .or(payload["From"].as_str())
        .unwrap_or_default();
    let from = raptor_domain::Email::parse(from)
        .map_err(|_| malformed("From", "is not an email address"))?;
    let to = required(&payload, "To")?;
    let subject = payload["Subject"]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("(no subject)");
    let attachments = attachment_metadata(&payload);
    let mut raw = payload.clone();
    if let Some(object) = raw.as_object_mut() {
        object.insert(
            "Attachments".into(),
            attachments.clone().unwrap_or(json!([])),
        );
    }
    let text = payload["TextBody"].as_str();
    let mailbox_hash = payload["MailboxHash"].as_str().filter(|h| !h.is_empty());
    let customer = support::customer_for_sender(&state.db, from.as_str()).await?;
    // A plus-address like support+ticket-42@ continues ticket 42, if it is the sender's.
    let existing = match mailbox_hash
        .and_then(|h| h.strip_prefix("ticket-"))
        .and_then(|id| id.parse().ok())
    {
        Some(id) => support::get(&state.db, id)
            .await?
            .filter(|t| t.requester_email == from.as_str()),
        None => None,
    };

    let now = state.now();
    let mut tx = state.db.begin().await?;
    let email = InboundEmail {
        message_id,
        from_email: from.as_str(),
        from_name: payload["FromName"].as_str(),
        to_email: to,
        mailbox_hash,
        subject,
        text_body: text,
        html_body: payload["HtmlBody"].as_str(),
        stripped_text_reply: payload["StrippedTextReply"].as_str(),
        attachments: attachments.as_ref(),
        raw: &raw,
    };
    let Some(stored) = webhooks::store_inbound(&mut tx, &email, now).await? else {
        return Ok(Json(
            json!({ "status": "duplicate", "message_id": message_id }),
        ));
    };
    let ticket = match existing {
        Some(ticket) => ticket,
        None => support::open(&mut tx, customer, from.as_str(), subject, now).await?,
    };
    let body_text = payload["StrippedTextReply"]
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .or(text)
        .unwrap_or("");
    let message = NewMessage {
        direction: "inbound",
        author_user_id: customer,
        from_email: Some(from.as_str()),
        body_text,
        body_html: payload["HtmlBody"].as_str(),
        inbound_message_id: Some(stored),
    };
    support::add_message(&mut tx, ticket.id, &message, now).await?;
    tx.commit().await?;
    Ok(Json(
        json!({ "status": "stored", "ticket_id": ticket.id, "linked": customer.is_some() }),
    ))
}

fn timestamp(payload: &Value, fields: &[&str]) -> Option<DateTime<Utc>> {
    fields
        .iter()
        .filter_map(|f| payload[*f].as_str())
        .find_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

async fn postmark_delivery(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Problem> {
    postmark_authorized(&state, &headers)?;
    let payload = parse_json(&body)?;
    let record_type = required(&payload, "RecordType")?;
    let message_id = required(&payload, "MessageID")?;
    let recipient = payload["Recipient"]
        .as_str()
        .or(payload["Email"].as_str())
        .unwrap_or_default();
    let recipient = raptor_domain::Email::parse(recipient)
        .map_err(|_| malformed("Recipient", "is required (or Email)"))?;
    let when = ["DeliveredAt", "BouncedAt", "ReceivedAt", "ChangedAt"];
    let occurred_at = timestamp(&payload, &when);
    // Bounces and complaints carry their own id; other events are unique per message,
    // recipient, time (and link, for clicks).
    let event_key = match payload["ID"].as_i64() {
        Some(id) if matches!(record_type, "Bounce" | "SpamComplaint") => {
            format!("{record_type}:{id}")
        }
        _ => format!(
            "{record_type}:{message_id}:{}:{}:{}",
            recipient.as_str(),
            when.iter().find_map(|f| payload[*f].as_str()).unwrap_or(""),
            payload["OriginalLink"].as_str().unwrap_or("")
        ),
    };
    let undeliverable = (record_type == "Bounce" && payload["Type"].as_str() == Some("HardBounce"))
        || record_type == "SpamComplaint"
        || (record_type == "SubscriptionChange"
            && payload["SuppressSending"].as_bool() == Some(true));

    let now = state.now();
    let mut tx = state.db.begin().await?;
    let event = DeliveryEvent {
        record_type,
        message_id,
        event_key: &event_key,
        recipient: recipient.as_str(),
        occurred_at: occurred_at.unwrap_or(now),
        details: &payload,
    };
    if !webhooks::store_delivery(&mut tx, &event, now).await? {
        return Ok(Json(json!({ "status": "duplicate" })));
    }
    if undeliverable {
        webhooks::mark_undeliverable(&mut tx, recipient.as_str(), now).await?;
    }
    tx.commit().await?;
    Ok(Json(
        json!({ "status": "stored", "undeliverable": undeliverable }),
    ))
}

async fn status_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Problem> {
    let Some(secret) = &state.config.webhooks.status_secret else {
        return Err(not_configured("status"));
    };
    let signature = headers
        .get("x-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|hex| decode_hex(hex.trim()));
    let verified = signature.is_some_and(|signature| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(&body);
        // verify_slice compares in constant time.
        mac.verify_slice(&signature).is_ok()
    });
    if !verified {
        return Err(Problem::unauthorized(
            "bad_signature",
            "X-Signature-256 is missing or does not match the body",
        ));
    }
    let payload = parse_json(&body)?;
    let event_id = required(&payload, "id")?;
    let kind = required(&payload, "type")?;
    let stored =
        webhooks::store_status_event(&state.db, event_id, kind, &payload, state.now()).await?;
    Ok(Json(
        json!({ "status": if stored { "stored" } else { "duplicate" } }),
    ))
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
