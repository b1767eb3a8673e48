//! Request extractors that turn bad input into problem bodies naming the fault.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use raptor_app::Client;
use serde::de::DeserializeOwned;

use crate::edge::RequestId;
use crate::server::BodyDeadline;
use crate::{AppState, Problem, ProblemCode};

/// A JSON body; wrong content type → 415, too large → 413, stalled → 408, malformed → 400,
/// wrong shape → 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(Problem::new(
                ProblemCode::UnsupportedMediaType,
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let ApiBytes(body) = ApiBytes::from_request(req, state).await?;
        let read = axum::Json::<T>::from_bytes(&body).map_err(json_problem);
        // serde fills a struct from an array too, field by field in order (`["7"]` would be an
        // order of 7 shares), and every body this API takes is an object. A body that is not
        // JSON at all is told so first.
        let array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        if array
            && !read
                .as_ref()
                .is_err_and(|p| p.code == ProblemCode::MalformedJson)
        {
            return Err(Problem::new(
                ProblemCode::InvalidBody,
                "the body must be a JSON object, not an array",
            ));
        }
        read.map(|axum::Json(value)| Self(value))
    }
}

/// Whether the request says its body is JSON: `application/json`, or a `+json` type.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(essence) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
    else {
        return false;
    };
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

/// A raw body (webhooks verify signatures over the exact bytes); too large → 413, stalled →
/// 408, unreadable → 400, all as problems.
pub struct ApiBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|rejection| {
                let code = body_failure(&rejection);
                let detail = match code {
                    ProblemCode::RequestTimeout => "the request body stopped arriving".to_owned(),
                    _ => rejection.body_text(),
                };
                Problem::new(code, detail)
            })
    }
}

/// Why reading a body failed: too large, too slow, or unreadable.
fn body_failure(rejection: &BytesRejection) -> ProblemCode {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ProblemCode::PayloadTooLarge
    } else if stalled(rejection) {
        ProblemCode::RequestTimeout
    } else {
        ProblemCode::UnreadableBody
    }
}

fn json_problem(rejection: JsonRejection) -> Problem {
    let code = match &rejection {
        JsonRejection::JsonDataError(_) => ProblemCode::InvalidBody,
        JsonRejection::JsonSyntaxError(_) => ProblemCode::MalformedJson,
        _ => ProblemCode::UnreadableBody,
    };
    Problem::new(code, rejection.body_text())
}

/// Whether reading the body failed because the client stopped sending it.
fn stalled(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.is::<BodyDeadline>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// A query string; anything missing, unknown or malformed → 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(Problem::new(
                ProblemCode::InvalidParameter,
                rejection.body_text(),
            )),
        }
    }
}

/// Path parameters; a malformed one → 400 naming it.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(Problem::new(
                ProblemCode::InvalidParameter,
                rejection.body_text(),
            )),
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
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|RequestId(id)| id.clone());
        Ok(Self(Client {
            ip: forwarded.or(peer),
            user_agent,
            request_id,
        }))
    }
}
