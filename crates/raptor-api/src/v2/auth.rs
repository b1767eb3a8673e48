//! Who a `/v2` request acts for: the holder of the API key pair in its `APCA-API-KEY-ID` and
//! `APCA-API-SECRET-KEY` headers. The session cookie does not work here, and a key does not
//! work on `/api`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use raptor_app::api_keys;

use super::error::AlpacaError;
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
        Ok(Self {
            user_id: holder.user_id,
        })
    }
}
