//! Marketing email with double opt-in over HTTP: subscribe, confirm by link, unsubscribe by
//! link. A link's GET only shows a page with a button, since mail scanners follow links; the
//! button's POST acts. The workflows are in [`raptor_app::marketing`].

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse};
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

/// Where the emailed confirmation link leads (GET: a page; POST: confirm).
const CONFIRM_PATH: &str = "/api/marketing/confirm";
/// Where the emailed unsubscribe link leads (GET: a page; POST: unsubscribe).
const UNSUBSCRIBE_PATH: &str = "/api/marketing/unsubscribe";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(subscribe))
        .routes(routes!(confirm_page, confirm))
        .routes(routes!(unsubscribe_page, unsubscribe))
}

/// Whether `request` is a POST to a confirm or unsubscribe link that carries its token. Such
/// a request is exempt from the same-origin rule: the token, not a session, is what lets it
/// act, and a mail client's one-click unsubscribe or a page with `Origin: null` may send it.
pub(crate) fn carries_link_token(request: &Request) -> bool {
    let path = request.uri().path();
    (path == CONFIRM_PATH || path == UNSUBSCRIBE_PATH)
        && request.uri().query().is_some_and(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .any(|(name, value)| name == "token" && !value.is_empty())
        })
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

/// Longest token a link may carry (minted ones are 43 characters).
const MAX_TOKEN: usize = 128;

fn token(query: &TokenQuery) -> Result<&str, Problem> {
    let token = query
        .token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Problem::new(
                ProblemCode::MissingToken,
                "the link has no token; use the link from the email",
            )
        })?;
    // Minted tokens are base64url; anything else cannot be one, and the page echoes the token.
    let well_formed = token.len() <= MAX_TOKEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(Problem::new(
            ProblemCode::InvalidToken,
            "the link's token is malformed; use the link from the email",
        ));
    }
    Ok(token)
}

/// What a confirmation or unsubscribe link did.
#[derive(Serialize, ToSchema)]
struct SubscriptionChange {
    /// `confirmed` or `unsubscribed`.
    status: &'static str,
    /// The address it applies to.
    email: String,
}

/// The page an emailed link opens: a heading, a line and one button that POSTs the token back
/// to `path`. Nothing changes until the button is pressed.
fn link_page(
    path: &str,
    token: &str,
    heading: &str,
    text: &str,
    button: &str,
) -> impl IntoResponse {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{heading} · Raxx</title></head>\
         <body style=\"font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto\">\
         <h1>{heading}</h1><p>{text}</p>\
         <form method=\"post\" action=\"{path}?token={token}\">\
         <button type=\"submit\">{button}</button></form></body></html>\n"
    );
    (
        [
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
            // The token is in the address: never send it to another site.
            (header::REFERRER_POLICY, "same-origin"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(page),
    )
}

/// The confirmation link in the email: a page asking to confirm. It changes nothing (mail
/// scanners open links); its button POSTs to the same address.
#[utoipa::path(get, path = "/api/marketing/confirm", tag = TAG, params(TokenQuery),
    responses(
        (status = 200, description = "A page with a button that confirms",
            content_type = "text/html", body = String),
        (status = 400, description = "The token is missing or malformed",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
async fn confirm_page(ApiQuery(q): ApiQuery<TokenQuery>) -> Result<impl IntoResponse, Problem> {
    Ok(link_page(
        CONFIRM_PATH,
        token(&q)?,
        "Confirm your subscription",
        "Press the button to receive Raxx news at this address.",
        "Confirm",
    ))
}

/// Confirms a subscription: the button on the confirmation page (the body is ignored).
#[utoipa::path(post, path = "/api/marketing/confirm", tag = TAG, params(TokenQuery),
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

/// The unsubscribe link in every marketing email: a page asking to unsubscribe. It changes
/// nothing; its button POSTs to the same address.
#[utoipa::path(get, path = "/api/marketing/unsubscribe", tag = TAG, params(TokenQuery),
    responses(
        (status = 200, description = "A page with a button that unsubscribes",
            content_type = "text/html", body = String),
        (status = 400, description = "The token is missing or malformed",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
async fn unsubscribe_page(ApiQuery(q): ApiQuery<TokenQuery>) -> Result<impl IntoResponse, Problem> {
    Ok(link_page(
        UNSUBSCRIBE_PATH,
        token(&q)?,
        "Unsubscribe",
        "Press the button to stop Raxx news at this address.",
        "Unsubscribe",
    ))
}

/// Unsubscribes an address: the button on the unsubscribe page, or a mail client's one-click
/// unsubscribe (the body is ignored).
#[utoipa::path(post, path = "/api/marketing/unsubscribe", tag = TAG, params(TokenQuery),
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
