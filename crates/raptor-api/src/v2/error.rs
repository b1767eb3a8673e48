//! Errors as Alpaca's API answers them: `{"code": 40310000, "message": "…"}`, where the code
//! is the HTTP status followed by `10000`. Every problem the rest of the API can name converts
//! into one, so `/v2` refuses exactly what `/api` refuses, in Alpaca's shape.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{AppState, Problem};

/// An error body as Alpaca's clients read it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlpacaErrorBody {
    /// The HTTP status followed by `10000`, e.g. `42210000`.
    code: u32,
    /// What went wrong.
    message: String,
    /// Raptor's own problem code (see the problem catalogue), for people reading logs.
    raptor_code: String,
}

/// A refused `/v2` request.
#[derive(Debug)]
pub(crate) struct AlpacaError {
    status: StatusCode,
    body: AlpacaErrorBody,
    retry_after: Option<u64>,
}

impl AlpacaError {
    /// The problem's status, in Alpaca's code and shape.
    fn from_problem(problem: Problem) -> Self {
        let status = problem.status();
        let message = match problem.field {
            Some(field) if !problem.detail.contains(field) => {
                format!("{field}: {}", problem.detail)
            }
            _ => problem.detail,
        };
        Self {
            status,
            body: AlpacaErrorBody {
                code: u32::from(status.as_u16()) * 100_000 + 10_000,
                message,
                raptor_code: problem.code.as_str().to_owned(),
            },
            retry_after: problem.retry_after,
        }
    }
}

impl<E: Into<Problem>> From<E> for AlpacaError {
    fn from(err: E) -> Self {
        Self::from_problem(err.into())
    }
}

impl IntoResponse for AlpacaError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A JSON body; refusals in Alpaca's shape.
pub(crate) struct V2Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for V2Json<T> {
    type Rejection = AlpacaError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let ApiJson(value) = ApiJson::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// Query parameters; refusals in Alpaca's shape.
pub(crate) struct V2Query<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for V2Query<T> {
    type Rejection = AlpacaError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiQuery(value) = ApiQuery::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Path parameters; refusals in Alpaca's shape.
pub(crate) struct V2Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for V2Path<T> {
    type Rejection = AlpacaError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiPath(value) = ApiPath::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// The largest problem body read back to be re-shaped.
const MAX_PROBLEM_BODY: usize = 64 * 1024;

/// An error answered below a `/v2` handler (no such route, a method it does not take, the
/// edge's limits) as a problem body, re-shaped into Alpaca's, so every `/v2` error carries a
/// numeric `code`. Any other answer passes unchanged.
pub(crate) async fn alpaca_body(response: Response) -> Response {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes()
                .starts_with(crate::problem::PROBLEM_JSON.as_bytes())
        });
    if !is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PROBLEM_BODY).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let status = parts.status;
    let body = AlpacaErrorBody {
        code: u32::from(status.as_u16()) * 100_000 + 10_000,
        message: problem["detail"].as_str().unwrap_or("error").to_owned(),
        raptor_code: problem["code"].as_str().unwrap_or("error").to_owned(),
    };
    let mut answer = (status, axum::Json(body)).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    answer
}
