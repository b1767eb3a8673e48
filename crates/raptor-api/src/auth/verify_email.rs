//! Proving the account's address over HTTP: use the link mailed at sign-up, or ask for a new one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use raptor_app::email_verification::{self, VerificationMail, VerifyError};
use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::ToSchema;

use super::ceremony::UserView;
use super::TAG;
use crate::extract::{ApiJson, ClientInfo};
use crate::limits;
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::session::CurrentSession;
use crate::{AppState, Problem, ProblemCode};

/// The console page verification links lead to.
pub(crate) fn verification_page(state: &AppState) -> Url {
    let mut page = state.config.public_url.clone();
    page.set_path("/verify-email");
    page
}

/// The verification mail as this server sends it.
pub(crate) fn verification_mail<'a>(state: &'a AppState, page: &'a Url) -> VerificationMail<'a> {
    VerificationMail {
        from: &state.config.mail_from,
        page,
    }
}

/// The token from an emailed verification link.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyEmailRequest {
    /// The `token` from the link's fragment.
    token: String,
}

/// Whose address was just proven.
#[derive(Serialize, ToSchema)]
pub(crate) struct EmailVerified {
    /// The account, now with `email_verified: true`.
    user: UserView,
}

/// Proves the signed-in account's address with the link mailed to it. Both are needed: the
/// inbox (the link) and the account (the session), so whoever signed up with someone else's
/// address cannot have its owner confirm it by clicking the mail. The link is used up.
#[utoipa::path(post, path = "/api/auth/verify-email", tag = TAG,
    request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "The address is verified", body = EmailVerified),
        (status = 400, description = "The link is unknown, used, expired or for another account",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 401, description = "Not signed in", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The body has the wrong shape",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "Too many attempts from this client address",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn verify(
    State(state): State<AppState>,
    client: ClientInfo,
    current: CurrentSession,
    ApiJson(req): ApiJson<VerifyEmailRequest>,
) -> Result<Json<EmailVerified>, Problem> {
    limits::check(&state, limits::LOGIN_PER_IP, client.ip_key()).await?;
    let user = email_verification::verify(&state, &req.token, &current.user, &client)
        .await
        .map_err(|err| match err {
            VerifyError::Invalid => Problem::new(ProblemCode::InvalidLink, err.to_string()),
            VerifyError::Store(err) => err.into(),
        })?;
    Ok(Json(EmailVerified {
        user: UserView::from(&user),
    }))
}

/// The answer to a request for a new verification link.
#[derive(Serialize, ToSchema)]
pub(crate) struct VerificationSent {
    /// Always `accepted`.
    status: &'static str,
    /// Where the link is going.
    email: String,
}

/// Mails the signed-in user a new verification link (earlier ones keep working until one is
/// used).
#[utoipa::path(post, path = "/api/auth/verify-email/resend", tag = TAG,
    responses(
        (status = 202, description = "A new link is on its way", body = VerificationSent),
        (status = 401, description = "Not signed in", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 409, description = "The address is already verified",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "Too many links asked for this hour",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
pub(crate) async fn resend(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<(StatusCode, Json<VerificationSent>), Problem> {
    if current.user.email_verified() {
        return Err(Problem::new(
            ProblemCode::EmailAlreadyVerified,
            "this account's address is already verified",
        ));
    }
    let page = verification_page(&state);
    email_verification::resend(&state, &current.user, verification_mail(&state, &page)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(VerificationSent {
            status: "accepted",
            email: current.user.email,
        }),
    ))
}
