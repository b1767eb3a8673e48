//! Marketing email with double opt-in over HTTP: subscribe, confirm by link, unsubscribe by
//! link. The workflows are in [`raptor_app::marketing`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Duration;
use raptor_app::marketing::{self, Confirmation, MarketingError, Subscription};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiQuery, ClientInfo};
use crate::limits::{self, Limit};
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::{AppState, Problem, ProblemCode};

const TAG: &str = "marketing";

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
        .routes(routes!(subscribe))
        .routes(routes!(confirm))
        .routes(routes!(unsubscribe))
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

/// An address to subscribe to marketing email.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MarketingSubscribe)]
struct SubscribeRequest {
    /// The address.
    email: String,
    /// Where the sign-up came from, e.g. `landing`.
    #[serde(default)]
    source: Option<String>,
}

/// The answer to a subscription, whatever the address's state.
#[derive(Serialize, ToSchema)]
struct SubscriptionAccepted {
    /// Always `accepted`.
    status: &'static str,
    /// What happens next, for people.
    detail: &'static str,
}

/// Subscribes an address, pending confirmation by email.
///
/// The answer is the same whatever the address's state, so it reveals nothing.
#[utoipa::path(post, path = "/api/marketing/subscribe", tag = TAG,
    request_body = SubscribeRequest,
    responses(
        (status = 202, description = "A confirmation email is on its way unless the address \
            is already confirmed", body = SubscriptionAccepted),
        (status = 422, description = "The email or the body is invalid",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "Too many subscriptions from this client or for this \
            address", body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
async fn subscribe(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<SubscribeRequest>,
) -> Result<(StatusCode, Json<SubscriptionAccepted>), Problem> {
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
        Json(SubscriptionAccepted {
            status: "accepted",
            detail: "Check your inbox to confirm the subscription.",
        }),
    ))
}

/// The token of an emailed link. Other parameters (a mail client's tracking, say) are
/// ignored.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct TokenQuery {
    /// The token from the email.
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

/// What a confirmation or unsubscribe link did.
#[derive(Serialize, ToSchema)]
struct SubscriptionChange {
    /// `confirmed` or `unsubscribed`.
    status: &'static str,
    /// The address it applies to.
    email: String,
}

/// Confirms a subscription: the link in the confirmation email.
#[utoipa::path(get, path = "/api/marketing/confirm", tag = TAG, params(TokenQuery),
    responses(
        (status = 200, description = "The address is confirmed", body = SubscriptionChange),
        (status = 400, description = "The token is missing, unknown or already used",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
async fn confirm(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TokenQuery>,
) -> Result<Json<SubscriptionChange>, Problem> {
    let email = marketing::confirm(&state, token(&q)?).await?;
    Ok(Json(SubscriptionChange {
        status: "confirmed",
        email,
    }))
}

/// Unsubscribes an address: the link in every marketing email.
#[utoipa::path(get, path = "/api/marketing/unsubscribe", tag = TAG, params(TokenQuery),
    responses(
        (status = 200, description = "The address is unsubscribed", body = SubscriptionChange),
        (status = 400, description = "The token is missing or unknown",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
async fn unsubscribe(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TokenQuery>,
) -> Result<Json<SubscriptionChange>, Problem> {
    let email = marketing::unsubscribe(&state, token(&q)?).await?;
    Ok(Json(SubscriptionChange {
        status: "unsubscribed",
        email,
    }))
}
