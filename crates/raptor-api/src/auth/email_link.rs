//! Email sign-in links, for recovery: request one by address, use it once, soon.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::Duration;
use raptor_domain::Email;
use raptor_store::{audit, tokens, users};
use serde::Deserialize;
use serde_json::json;

use super::{complete_sign_in, event};
use crate::extract::{ApiJson, ClientInfo};
use crate::limits;
use crate::{AppState, Problem};
use raptor_app::accounts::SignInProof;
use raptor_app::mail::OutgoingEmail;
use raptor_app::secrets::{new_token, token_hash};

/// How long a link works.
const LINK_TTL: Duration = Duration::minutes(15);

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
    let now = state.now();
    if let Some(user) = users::by_email(&state.db, email.as_str())
        .await?
        .filter(users::User::is_active)
    {
        let token = new_token();
        tokens::issue_email_login(
            &state.db,
            &token_hash(&token),
            &user.email,
            user.id,
            client.ip.as_deref(),
            now,
            now + LINK_TTL,
        )
        .await?;
        let mut link = state.config.public_url.clone();
        link.set_path("/signin/email");
        link.set_fragment(Some(&format!("token={token}")));
        let message = OutgoingEmail {
            from: state.config.mail_from.clone(),
            to: user.email.clone(),
            subject: "Your Raxx sign-in link".to_owned(),
            text_body: format!(
                "Hello {},\n\nUse this link within 15 minutes to sign in to Raxx and add a new passkey:\n\n{link}\n\nIf you did not ask for it, ignore this email: nobody can use it without access to your inbox.\n",
                user.display_name
            ),
            tag: "email_link",
        };
        if let Err(err) = state.mailer.send(&message).await {
            tracing::error!(%err, "the sign-in link could not be sent");
        }
        let entry = event(
            "auth.email_link.request",
            "success",
            Some((user.id, &user.email)),
            &client,
        );
        audit::record_alone(&state.db, &entry, now).await?;
    }
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
) -> Result<impl IntoResponse, Problem> {
    limits::check(&state, limits::LOGIN_PER_IP, client.ip_key()).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let user_id = tokens::use_email_login(&mut tx, &token_hash(&req.token), now).await?;
    let user = match user_id {
        Some(id) => users::by_id(&state.db, id)
            .await?
            .filter(users::User::is_active),
        None => None,
    };
    let Some(user) = user else {
        drop(tx);
        let mut entry = event("auth.email_link", "failure", None, &client);
        entry.details = Some(json!({ "reason": "invalid_link" }));
        audit::record_alone(&state.db, &entry, now).await?;
        return Err(Problem::bad_request(
            "invalid_link",
            "this sign-in link is unknown, used or expired; request a new one",
        ));
    };
    complete_sign_in(
        &state,
        tx,
        user,
        SignInProof {
            method: "email_link",
            action: "auth.email_link",
            details: None,
        },
        &client,
        now,
    )
    .await
}
