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
