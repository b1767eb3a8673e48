//! Marketing email with double opt-in: subscribe, confirm by link, unsubscribe by link.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Duration;
use raptor_domain::Email;
use raptor_store::marketing::{self, Subscribed};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::{ApiJson, ClientInfo};
use crate::limits::{self, Limit};
use crate::{AppState, Problem};
use raptor_app::mail::OutgoingEmail;
use raptor_app::secrets::{new_token, token_hash};

/// Subscribe requests per client address.
const PER_IP: Limit = Limit {
    name: "marketing:ip",
    max: 20,
    window: Duration::hours(1),
};
/// Subscribe requests per email address (each may send a confirmation email).
const PER_ADDRESS: Limit = Limit {
    name: "marketing:address",
    max: 3,
    window: Duration::hours(1),
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/marketing/subscribe", post(subscribe))
        .route("/api/marketing/confirm", get(confirm))
        .route("/api/marketing/unsubscribe", get(unsubscribe))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeRequest {
    email: String,
    #[serde(default)]
    source: Option<String>,
}

/// The same answer whatever the address's state, so it reveals nothing.
async fn subscribe(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<SubscribeRequest>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    limits::check(&state, PER_IP, client.ip_key()).await?;
    let email = Email::parse(&req.email).map_err(Problem::invalid)?;
    let source = req
        .source
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if source.is_some_and(|s| s.chars().count() > 64) {
        return Err(Problem::invalid_field(
            "source",
            "must be at most 64 characters",
        ));
    }
    limits::check(&state, PER_ADDRESS, email.as_str()).await?;
    let (confirm, unsubscribe) = (new_token(), new_token());
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let outcome = marketing::subscribe(
        &mut tx,
        email.as_str(),
        source,
        &token_hash(&confirm),
        &token_hash(&unsubscribe),
        now,
    )
    .await?;
    tx.commit().await?;
    if outcome == Subscribed::NeedsConfirmation {
        let link = |path: &str, token: &str| {
            let mut url = state.config.public_url.clone();
            url.set_path(path);
            url.set_query(Some(&format!("token={token}")));
            url
        };
        let message = OutgoingEmail {
            from: state.config.mail_from.clone(),
            to: email.as_str().to_owned(),
            subject: "Confirm your Raxx newsletter subscription".into(),
            text_body: format!(
                "Confirm that you want Raxx news at this address:\n\n{}\n\nChanged your mind? Unsubscribe any time:\n\n{}\n",
                link("/api/marketing/confirm", &confirm),
                link("/api/marketing/unsubscribe", &unsubscribe),
            ),
            tag: "marketing_confirm",
        };
        if let Err(err) = state.mailer.send(&message).await {
            tracing::error!(%err, "a subscription confirmation could not be sent");
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({ "status": "accepted", "detail": "Check your inbox to confirm the subscription." }),
        ),
    ))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn token(query: &TokenQuery) -> Result<&str, Problem> {
    query
        .token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Problem::bad_request(
                "missing_token",
                "the link has no token; use the link from the email",
            )
        })
}

async fn confirm(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> Result<Json<Value>, Problem> {
    let hash = token_hash(token(&q)?);
    match marketing::confirm(&state.db, &hash, state.now()).await? {
        Some(email) => Ok(Json(json!({ "status": "confirmed", "email": email }))),
        None => Err(Problem::bad_request(
            "invalid_token",
            "this confirmation link is unknown or already used",
        )),
    }
}

async fn unsubscribe(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> Result<Json<Value>, Problem> {
    let hash = token_hash(token(&q)?);
    match marketing::unsubscribe(&state.db, &hash, state.now()).await? {
        Some(email) => Ok(Json(json!({ "status": "unsubscribed", "email": email }))),
        None => Err(Problem::bad_request(
            "invalid_token",
            "this unsubscribe link is unknown",
        )),
    }
}
