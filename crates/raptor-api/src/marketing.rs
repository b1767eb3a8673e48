//! Marketing email with double opt-in over HTTP: subscribe, confirm by link, unsubscribe by
//! link. The workflows are in [`raptor_app::marketing`].

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Json;
use chrono::Duration;
use raptor_app::marketing::{self, Confirmation, MarketingError, Subscription};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;

use crate::extract::{ApiJson, ClientInfo};
use crate::limits::{self, Limit};
use crate::{AppState, Problem, ProblemCode};

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

/// Where the emailed confirmation link leads.
const CONFIRM_PATH: &str = "/api/marketing/confirm";
/// Where the emailed unsubscribe link leads.
const UNSUBSCRIBE_PATH: &str = "/api/marketing/unsubscribe";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/api/marketing/subscribe", post(subscribe))
        .route(CONFIRM_PATH, get(confirm))
        .route(UNSUBSCRIBE_PATH, get(unsubscribe))
}

impl From<MarketingError> for Problem {
    fn from(err: MarketingError) -> Self {
        match err {
            MarketingError::Invalid(input) => Problem::invalid(input),
            MarketingError::UnknownConfirmation | MarketingError::UnknownUnsubscribe => {
                Problem::new(ProblemCode::InvalidToken, err.to_string())
            }
            MarketingError::Store(store) => store.into(),
        }
    }
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
    let subscription =
        Subscription::parse(&req.email, req.source.as_deref()).map_err(Problem::invalid)?;
    limits::check(&state, PER_ADDRESS, subscription.email.as_str()).await?;
    let link = |path: &str| {
        let mut url = state.config.public_url.clone();
        url.set_path(path);
        url
    };
    let (confirm_url, unsubscribe_url) = (link(CONFIRM_PATH), link(UNSUBSCRIBE_PATH));
    let mail = Confirmation {
        from: &state.config.mail_from,
        confirm_url: &confirm_url,
        unsubscribe_url: &unsubscribe_url,
    };
    marketing::subscribe(&state, &subscription, mail).await?;
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
            Problem::new(
                ProblemCode::MissingToken,
                "the link has no token; use the link from the email",
            )
        })
}

async fn confirm(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> Result<Json<Value>, Problem> {
    let email = marketing::confirm(&state, token(&q)?).await?;
    Ok(Json(json!({ "status": "confirmed", "email": email })))
}

async fn unsubscribe(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> Result<Json<Value>, Problem> {
    let email = marketing::unsubscribe(&state, token(&q)?).await?;
    Ok(Json(json!({ "status": "unsubscribed", "email": email })))
}
