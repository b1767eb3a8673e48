//! Email sign-in links over HTTP: request one (same answer whether or not the address has an
//! account) and sign in with it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use raptor_app::email_links::{self, EmailLinkError};
use raptor_domain::Email;
use serde::Deserialize;
use serde_json::json;

use super::{signed_in_answer, SignInAnswer};
use crate::extract::{ApiJson, ClientInfo};
use crate::limits;
use crate::{AppState, Problem, ProblemCode};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkRequest {
    email: String,
}

/// Answers the same whether or not the address has an account.
pub(crate) async fn request(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<LinkRequest>,
) -> Result<impl IntoResponse, Problem> {
    limits::check(&state, limits::EMAIL_LINK_PER_IP, client.ip_key()).await?;
    let email = Email::parse(&req.email).map_err(Problem::invalid)?;
    limits::check(&state, limits::EMAIL_LINK_PER_ACCOUNT, email.as_str()).await?;
    let link_to = |token: &str| {
        let mut link = state.config.public_url.clone();
        link.set_path("/signin/email");
        link.set_fragment(Some(&format!("token={token}")));
        link.to_string()
    };
    email_links::request(&state, &email, &client, &state.config.mail_from, link_to).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "status": "accepted",
            "detail": "If an account uses this address, a sign-in link is on its way."
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkLogin {
    token: String,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<LinkLogin>,
) -> Result<SignInAnswer, Problem> {
    limits::check(&state, limits::LOGIN_PER_IP, client.ip_key()).await?;
    let signed_in = email_links::sign_in(&state, &req.token, &client)
        .await
        .map_err(|err| match err {
            EmailLinkError::Invalid => Problem::new(ProblemCode::InvalidLink, err.to_string()),
            EmailLinkError::Store(err) => err.into(),
        })?;
    Ok(signed_in_answer(&state, &signed_in))
}
