//! Cross-site request defence and permission enforcement.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use raptor_domain::{Permission, STEP_UP_WINDOW};

use crate::session::{cookie_token, CurrentSession};
use crate::{AppState, Problem, ProblemCode};

/// State-changing requests that carry the session cookie, or any `Origin`, must come from the
/// public origin: a page elsewhere cannot ride a signed-in user's cookie. A marketing link's
/// POST that carries its token is exempt: the token, not a session, authorises it.
pub async fn same_origin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && !crate::marketing::carries_link_token(&request) {
        let mut origins = request.headers().get_all(header::ORIGIN).iter();
        let origin = origins.next().map(|v| v.to_str().unwrap_or("<invalid>"));
        if origins.next().is_some() {
            // A browser sends one; which of several to believe is a guess an attacker can steer.
            return Problem::new(
                ProblemCode::OriginMismatch,
                "a request may carry one Origin header, and this one carries several",
            )
            .into_response();
        }
        // Two session cookies count as a cookie: the request is not cookie-less.
        let has_cookie = !matches!(
            cookie_token(request.headers(), state.config.cookie_name),
            Ok(None)
        );
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

/// A permission a route requires: one marker type per [`Permission`], in [`permits`].
pub trait RequiredPermission {
    /// The permission.
    const PERMISSION: Permission;
}

/// Marker types naming each permission, for [`Permitted`].
pub mod permits {
    use super::{Permission, RequiredPermission};

    macro_rules! markers {
        ($($marker:ident),* $(,)?) => {$(
            #[doc = concat!("Requires [`Permission::", stringify!($marker), "`].")]
            #[derive(Debug)]
            pub struct $marker;
            impl RequiredPermission for $marker {
                const PERMISSION: Permission = Permission::$marker;
            }
        )*};
    }

    markers!(
        CustomersRead,
        CustomersNote,
        CustomersSuspend,
        SupportRead,
        SupportReply,
        TracesRead,
        JobsRead,
        BillingRead,
        BillingManage,
        AuditRead,
        RolesGrant,
    );
}

/// A signed-in user holding `P`'s permission through a live grant: 401 when signed out, 403
/// `permission_required` without it, and 403 `step_up_required` when the session has not
/// proved a passkey (it began with an email link or a backup code) or, for a permission that
/// changes money or access, not within [`STEP_UP_WINDOW`].
#[derive(Debug)]
pub struct Permitted<P: RequiredPermission>(pub CurrentSession, pub PhantomData<P>);

impl<P: RequiredPermission + Send + Sync> FromRequestParts<AppState> for Permitted<P> {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = CurrentSession::from_request_parts(parts, state).await?;
        let permission = P::PERMISSION;
        if !session.may(permission) {
            return Err(Problem::new(
                ProblemCode::PermissionRequired,
                format!("this requires the {permission} permission"),
            ));
        }
        let Some(proved) = session.session.authenticated_at else {
            return Err(Problem::new(
                ProblemCode::StepUpRequired,
                format!(
                    "{permission} needs a session that proved a passkey; an email link or a \
                     backup code is not enough. Prove it at /api/auth/step-up"
                ),
            ));
        };
        if permission.needs_step_up() && state.now() - proved > STEP_UP_WINDOW {
            return Err(Problem::new(
                ProblemCode::StepUpRequired,
                format!(
                    "{permission} needs a passkey proof within the last {} minutes; prove it \
                     again at /api/auth/step-up",
                    STEP_UP_WINDOW.num_minutes()
                ),
            ));
        }
        Ok(Self(session, PhantomData))
    }
}
