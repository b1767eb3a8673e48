//! Request extractors that turn bad input into problem bodies naming the fault.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use raptor_app::Client;
use serde::de::DeserializeOwned;

use crate::{AppState, Problem};

/// A JSON body; wrong content type → 415, malformed → 400, wrong shape → 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as JSON with Content-Type: application/json",
                ),
                JsonRejection::JsonDataError(e) => Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_body",
                    e.body_text(),
                ),
                JsonRejection::JsonSyntaxError(e) => {
                    Problem::bad_request("malformed_json", e.body_text())
                }
                other => Problem::bad_request("unreadable_body", other.body_text()),
            }),
        }
    }
}

/// Where a request came from, for audit entries, sessions and rate limits: the use cases'
/// [`Client`], read from the connection and its headers.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo(pub Client);

impl std::ops::Deref for ClientInfo {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.0
    }
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let forwarded = state
            .config
            .trust_proxy
            .then(|| {
                parts
                    .headers
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.rsplit(',').next())
                    .map(|ip| ip.trim().to_owned())
            })
            .flatten();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(300).collect());
        Ok(Self(Client {
            ip: forwarded.or(peer),
            user_agent,
        }))
    }
}
