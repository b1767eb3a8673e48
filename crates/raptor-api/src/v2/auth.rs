//! Who a `/v2` request acts for: the holder of the API key pair in its `APCA-API-KEY-ID` and
//! `APCA-API-SECRET-KEY` headers. The session cookie does not work here, and a key does not
//! work on `/api`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use raptor_app::api_keys;

use raptor_store::audit::AuditEvent;

use super::error::AlpacaError;
use crate::extract::ClientInfo;
use crate::limits;
use crate::{AppState, Problem, ProblemCode};

/// The header carrying the key id.
pub(crate) const KEY_ID_HEADER: &str = "apca-api-key-id";
/// The header carrying the secret.
pub(crate) const SECRET_HEADER: &str = "apca-api-secret-key";

/// The holder of a live key pair, counted against the key's rate limit.
#[derive(Debug, Clone)]
pub(crate) struct KeyHolder {
    /// The user the key belongs to.
    pub user_id: i64,
    /// The key's row id.
    pub key: i64,
    /// The request's client address, user agent and id.
    pub client: ClientInfo,
}

impl KeyHolder {
    /// An audit entry for something the key's owner did through it.
    pub(crate) fn audit_event(
        &self,
        action: &'static str,
        details: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent {
            actor_user_id: Some(self.user_id),
            actor_type: "user",
            action,
            target_type: Some("user"),
            target_id: Some(self.user_id.to_string()),
            outcome: "success",
            ip: self.client.ip.clone(),
            user_agent: self.client.user_agent.clone(),
            request_id: self.client.request_id.clone(),
            details: Some(serde_json::json!({ "api_key": self.key, "request": details })),
            ..AuditEvent::default()
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn refused() -> Problem {
    Problem::new(
        ProblemCode::BadApiKey,
        "request is not authorized: send a live key pair in APCA-API-KEY-ID and \
         APCA-API-SECRET-KEY",
    )
}

impl FromRequestParts<AppState> for KeyHolder {
    type Rejection = AlpacaError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (Some(key_id), Some(secret)) = (
            header(&parts.headers, KEY_ID_HEADER),
            header(&parts.headers, SECRET_HEADER),
        ) else {
            return Err(refused().into());
        };
        let holder = api_keys::authenticate(state, key_id, secret)
            .await?
            .ok_or_else(refused)?;
        if !holder.active {
            return Err(Problem::new(ProblemCode::AccountSuspended, "account is suspended").into());
        }
        limits::check(
            state,
            api_keys::REQUESTS_PER_MINUTE,
            &holder.user_id.to_string(),
        )
        .await?;
        let Ok(client) = ClientInfo::from_request_parts(parts, state).await;
        Ok(Self {
            user_id: holder.user_id,
            key: holder.key,
            client,
        })
    }
}
