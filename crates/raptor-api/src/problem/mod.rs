//! Errors as `application/problem+json` bodies (RFC 9457) with a stable `code` from the
//! [catalogue](ProblemCode).

mod catalogue;

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use raptor_domain::InvalidInput;
use serde::Serialize;
use utoipa::ToSchema;

pub use catalogue::ProblemCode;

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// How long a client should wait before retrying when the database is unreachable.
const UNAVAILABLE_RETRY_AFTER: u64 = 2;

/// A problem to answer with. `code` fixes the status; `detail` says what went wrong this time.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Stable machine-readable code; it fixes the HTTP status.
    pub code: ProblemCode,
    /// What went wrong this time, for people.
    pub detail: String,
    /// The field or parameter at fault, when one is.
    pub field: Option<&'static str>,
    /// Seconds to wait before retrying (sent as `Retry-After`).
    pub retry_after: Option<u64>,
    /// An authentication challenge (sent as `WWW-Authenticate`).
    pub challenge: Option<&'static str>,
}

/// The wire form of a problem (RFC 9457, with Raptor's `code`, `field` and `request_id`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody {
    /// A URI naming the problem type: `https://raxx.app/problems/{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// The stable problem code.
    pub code: ProblemCode,
    /// What went wrong, for people.
    pub detail: String,
    /// The field or parameter at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The request's id, as in the `X-Request-Id` header and the server's logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Problem {
    /// A problem with the given code and detail.
    pub fn new(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            field: None,
            retry_after: None,
            challenge: None,
        }
    }

    /// The same problem, naming the field or parameter at fault.
    pub fn with_field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    /// The HTTP status the answer carries.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ProblemCode::NotFound, detail)
    }

    /// 422 naming the field at fault.
    pub fn invalid(input: InvalidInput) -> Self {
        Self::new(ProblemCode::InvalidField, input.to_string()).with_field(input.field)
    }

    /// 422 naming a field and what is wrong with it.
    pub fn invalid_field(field: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::invalid(InvalidInput::new(field, detail))
    }

    /// 400 naming the query or path parameter at fault.
    pub fn invalid_parameter(input: InvalidInput) -> Self {
        Self::new(ProblemCode::InvalidParameter, input.to_string()).with_field(input.field)
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut problem = Self::new(
            ProblemCode::RateLimited,
            format!("too many attempts; try again in {retry_after} s"),
        );
        problem.retry_after = Some(retry_after);
        problem
    }

    /// 503 with `Retry-After`: the database cannot be reached right now.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(%cause, "database unavailable");
        let mut problem = Self::new(
            ProblemCode::DatabaseUnavailable,
            "the database cannot be reached right now; try again shortly",
        );
        problem.retry_after = Some(UNAVAILABLE_RETRY_AFTER);
        problem
    }

    /// 500: the cause is logged, never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "request failed");
        Self::new(
            ProblemCode::InternalError,
            "something went wrong on our side; it has been logged under this request id",
        )
    }

    /// The wire form, tagged with the current request's id.
    fn body(&self) -> ProblemBody {
        ProblemBody {
            kind: format!("https://raxx.app/problems/{}", self.code),
            title: self
                .status()
                .canonical_reason()
                .unwrap_or("Error")
                .to_owned(),
            status: self.status().as_u16(),
            code: self.code,
            detail: self.detail.clone(),
            field: self.field.map(str::to_owned),
            request_id: crate::edge::current_request_id(),
        }
    }
}

impl From<&raptor_store::StoreError> for Problem {
    /// 503 with `Retry-After` when the database cannot serve right now, else 500.
    fn from(err: &raptor_store::StoreError) -> Self {
        if err.is_unavailable() {
            Self::unavailable(err)
        } else {
            Self::internal(err)
        }
    }
}

impl From<raptor_store::StoreError> for Problem {
    fn from(err: raptor_store::StoreError) -> Self {
        Self::from(&err)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response =
            (self.status(), [(header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response();
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The answer for any path the API does not have.
pub(crate) async fn not_found(uri: Uri) -> Problem {
    Problem::not_found(format!("no route for {}", uri.path()))
}
