//! Email sign-in links over HTTP: request one (same answer whether or not the address has an
//! account), see which account it is for, and sign in with it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use raptor_app::email_links::{self, EmailLinkError};
use raptor_domain::Email;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ceremony::SignedIn;
use super::{signed_in_answer, SignInAnswer, TAG};
use crate::extract::{ApiJson, ClientInfo};
use crate::limits;
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::{AppState, Problem, ProblemCode};

/// Where to send a sign-in link.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EmailLinkRequest)]
pub(crate) struct LinkRequest {
    /// Sign-in email.
    email: String,
}

/// The answer to a link request, whether or not the address has an account.
#[derive(Serialize, ToSchema)]
pub(crate) struct EmailLinkAccepted {
    /// Always `accepted`.
    status: &'static str,
    /// What happens next, for people.
    detail: &'static str,
}

/// Emails a one-time sign-in link; answers the same whether or not the address has an account,
/// after the same work (a job enqueued; a worker looks the address up and sends at most one
/// link per address per window, so requests for someone else's address neither lock them out
/// nor flood their inbox).
#[utoipa::path(post, path = "/api/auth/email-link", tag = TAG,
    request_body = LinkRequest,
    responses(
        (status = 202, description = "A link is on its way if the address has an account",
            body = EmailLinkAccepted),
        (status = 422, description = "The email or the body is invalid",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "Too many links asked for from this client address",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn request(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<LinkRequest>,
) -> Result<(StatusCode, Json<EmailLinkAccepted>), Problem> {
    limits::check(&state, limits::EMAIL_LINK_PER_IP, client.ip_key()).await?;
    let email = Email::parse(&req.email).map_err(Problem::invalid)?;
    let mut link_to = state.config.public_url.clone();
    link_to.set_path("/signin/email");
    email_links::request(&state, &email, &client, &state.config.mail_from, &link_to).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(EmailLinkAccepted {
            status: "accepted",
            detail: "If an account uses this address, a sign-in link is on its way.",
        }),
    ))
}

/// The token from an emailed sign-in link.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EmailLinkSignIn)]
pub(crate) struct LinkLogin {
    /// The `token` from the link's fragment.
    token: String,
}

/// The account an emailed link is for.
#[derive(Serialize, ToSchema)]
#[schema(as = EmailLinkAccount)]
pub(crate) struct LinkAccount {
    /// The account's email address, in full: whoever holds the link could sign in with it
    /// anyway, and a masked address could not tell the owner's account from a look-alike.
    email: String,
}

/// Tells which account an emailed link's token would sign in, without using the token, so the
/// sign-in page can ask "Sign in as …?" before it does. Counted against the same per-client
/// limit as link sign-in; unknown, used and expired links get the same problem as there.
#[utoipa::path(post, path = "/api/auth/email-link/account", tag = TAG,
    request_body = LinkLogin,
    responses(
        (status = 200, description = "The account the link signs in", body = LinkAccount),
        (status = 400, description = "The link is unknown, used or expired",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The body has the wrong shape",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "Too many sign-in attempts from this address",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn account(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<LinkLogin>,
) -> Result<Json<LinkAccount>, Problem> {
    limits::check(&state, limits::LOGIN_PER_IP, client.ip_key()).await?;
    let email = email_links::account_for(&state, &req.token)
        .await
        .map_err(link_problem)?;
    Ok(Json(LinkAccount { email }))
}

/// The problem a link that does not sign in gets.
fn link_problem(err: EmailLinkError) -> Problem {
    match err {
        EmailLinkError::Invalid => Problem::new(ProblemCode::InvalidLink, err.to_string()),
        EmailLinkError::Store(err) => err.into(),
    }
}

/// Signs in with an emailed link's token, which is then used up.
#[utoipa::path(post, path = "/api/auth/email-link/login", tag = TAG,
    request_body = LinkLogin,
    responses(
        (status = 200, description = "Signed in", body = SignedIn,
            headers(("set-cookie" = String, description = "The new session cookie"))),
        (status = 400, description = "The link is unknown, used or expired",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The body has the wrong shape",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "Too many sign-in attempts from this address",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<LinkLogin>,
) -> Result<SignInAnswer, Problem> {
    limits::check(&state, limits::LOGIN_PER_IP, client.ip_key()).await?;
    let signed_in = email_links::sign_in(&state, &req.token, &client)
        .await
        .map_err(link_problem)?;
    Ok(signed_in_answer(&state, &signed_in))
}
