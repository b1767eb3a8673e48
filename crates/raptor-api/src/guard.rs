//! Cross-site request defence and role enforcement.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use raptor_domain::Role;

use crate::session::{cookie_token, CurrentSession};
use crate::{AppState, Problem, ProblemCode};

/// State-changing requests that carry the session cookie, or any `Origin`, must come from the
/// public origin: a page elsewhere cannot ride a signed-in user's cookie.
pub async fn same_origin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .map(|v| v.to_str().unwrap_or("<invalid>"));
        let has_cookie = cookie_token(request.headers()).is_some();
        match origin {
            Some(origin) if origin != state.config.origin => {
                return Problem::new(
                    ProblemCode::OriginMismatch,
                    format!(
                        "requests from {origin} are not accepted; this API serves {}",
                        state.config.origin
                    ),
                )
                .into_response();
            }
            None if has_cookie => {
                return Problem::new(
                    ProblemCode::OriginRequired,
                    "state-changing requests with a session cookie must carry an Origin header",
                )
                .into_response();
            }
            _ => {}
        }
    }
    next.run(request).await
}

/// A role a route requires.
pub trait RequiredRole {
    /// The role.
    const ROLE: Role;
}

/// Requires the `support` role (admins pass too).
#[derive(Debug)]
pub struct SupportRole;
impl RequiredRole for SupportRole {
    const ROLE: Role = Role::Support;
}

/// Requires the `admin` role.
#[derive(Debug)]
pub struct AdminRole;
impl RequiredRole for AdminRole {
    const ROLE: Role = Role::Admin;
}

/// A signed-in user holding `R`'s role: 401 when signed out, 403 without the role.
#[derive(Debug)]
pub struct Authorized<R: RequiredRole>(pub CurrentSession, pub PhantomData<R>);

impl<R: RequiredRole + Send + Sync> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = CurrentSession::from_request_parts(parts, state).await?;
        if !session.has(R::ROLE) {
            return Err(Problem::new(
                ProblemCode::RoleRequired,
                format!("this requires the {} role", R::ROLE),
            ));
        }
        Ok(Self(session, PhantomData))
    }
}
