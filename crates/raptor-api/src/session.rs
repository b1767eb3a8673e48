//! Cookie sessions: issuing them, reading them back, and the extractor that requires one.

use std::collections::BTreeSet;

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use raptor_app::sessions::{self, Issued};
use raptor_domain::{Permission, Role};
use raptor_store::audit::AuditEvent;
use raptor_store::users::User;

use crate::extract::ClientInfo;
use crate::{AppState, Problem, ProblemCode};

/// The session cookie's name on plain http (local development).
pub const COOKIE_NAME: &str = "raptor_session";
/// The session cookie's name when it is `Secure`: browsers keep a `__Host-` cookie only when
/// the host itself set it with `Secure`, `Path=/` and no `Domain`, so a sibling subdomain
/// cannot plant one.
pub const SECURE_COOKIE_NAME: &str = "__Host-raptor_session";

/// The session cookie's name for a server whose cookie is (or is not) `Secure`.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// A request carries more than one session cookie, so which session it means is unclear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmbiguousSession;

impl From<AmbiguousSession> for Problem {
    fn from(_: AmbiguousSession) -> Self {
        Problem::new(
            ProblemCode::AmbiguousSession,
            "the request carries more than one session cookie; sign out (or clear this \
             site's cookies) and sign in again",
        )
    }
}

/// The signed-in user behind a request; rejects with 401 when there is none.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    /// The session row.
    pub session: raptor_store::sessions::Session,
    /// Its user.
    pub user: User,
    /// The user's live roles.
    pub roles: Vec<Role>,
    /// The permissions those roles carry now.
    pub permissions: BTreeSet<Permission>,
}

impl CurrentSession {
    /// Who is acting, for a use case to complete into an audit entry: this user as
    /// `actor_type`, through this session, from `client`.
    pub fn actor(&self, client: &ClientInfo, actor_type: &'static str) -> AuditEvent {
        AuditEvent {
            actor_user_id: Some(self.user.id),
            actor_email: Some(self.user.email.clone()),
            actor_type,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            request_id: client.request_id.clone(),
            session_id: Some(self.session.id),
            ..AuditEvent::default()
        }
    }

    /// An audit entry for something this user did through this session, to `target`.
    pub fn audit_event(
        &self,
        client: &ClientInfo,
        actor_type: &'static str,
        action: &'static str,
        target: (&'static str, String),
        details: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent {
            action,
            target_type: Some(target.0),
            target_id: Some(target.1),
            outcome: "success",
            details: (!details.is_null()).then_some(details),
            ..self.actor(client, actor_type)
        }
    }

    /// An audit entry for something this user did to their own account (`Null`: no details).
    pub fn own_action(
        &self,
        client: &ClientInfo,
        action: &'static str,
        details: serde_json::Value,
    ) -> AuditEvent {
        self.audit_event(
            client,
            "user",
            action,
            ("user", self.user.id.to_string()),
            details,
        )
    }

    /// Whether the user holds `permission` through a live grant.
    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

/// The session token from the `Cookie` header, if any: the non-empty value of the cookie
/// called `name` (see [`cookie_name`]). Two or more such cookies are refused rather than one
/// picked, since another site on the same domain can add its own.
pub fn cookie_token<'h>(
    headers: &'h HeaderMap,
    name: &str,
) -> Result<Option<&'h str>, AmbiguousSession> {
    let mut values = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(found, value)| *found == name && !value.is_empty())
        .map(|(_, value)| value);
    let first = values.next();
    match values.next() {
        Some(_) => Err(AmbiguousSession),
        None => Ok(first),
    }
}

impl FromRequestParts<AppState> for CurrentSession {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let signed_out = || Problem::new(ProblemCode::NotSignedIn, "sign in first");
        let token =
            cookie_token(&parts.headers, state.config.cookie_name)?.ok_or_else(signed_out)?;
        let found = sessions::authenticate(state, token)
            .await?
            .ok_or_else(signed_out)?;
        Ok(Self {
            session: found.session,
            user: found.user,
            roles: found.roles,
            permissions: found.permissions,
        })
    }
}

/// The `Set-Cookie` header carrying a freshly issued session.
pub fn session_cookie(state: &AppState, issued: &Issued) -> (axum::http::HeaderName, HeaderValue) {
    let max_age = (issued.expires_at - state.now()).num_seconds().max(0);
    cookie_header(state, &issued.token, max_age)
}

/// The `Set-Cookie` header that removes the session cookie.
pub fn clearing_cookie(state: &AppState) -> (axum::http::HeaderName, HeaderValue) {
    cookie_header(state, "", 0)
}

fn cookie_header(
    state: &AppState,
    value: &str,
    max_age: i64,
) -> (axum::http::HeaderName, HeaderValue) {
    let secure = if state.config.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    let name = state.config.cookie_name;
    let cookie =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    // Tokens are base64url and the attributes are ASCII, so the value is always valid.
    let value = HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""));
    (SET_COOKIE, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for cookie in cookies {
            headers.append(COOKIE, HeaderValue::from_str(cookie).expect("ascii"));
        }
        headers
    }

    #[test]
    fn the_session_cookie_is_read_by_its_own_name_only() {
        let h = headers(&["theme=dark; raptor_session=abc"]);
        assert_eq!(cookie_token(&h, COOKIE_NAME), Ok(Some("abc")));
        assert_eq!(cookie_token(&h, SECURE_COOKIE_NAME), Ok(None));
        let h = headers(&["__Host-raptor_session=xyz; raptor_session=planted"]);
        assert_eq!(cookie_token(&h, SECURE_COOKIE_NAME), Ok(Some("xyz")));
    }

    #[test]
    fn two_session_cookies_are_ambiguous_in_one_header_or_two() {
        let h = headers(&["raptor_session=a; raptor_session=b"]);
        assert_eq!(cookie_token(&h, COOKIE_NAME), Err(AmbiguousSession));
        let h = headers(&["raptor_session=a", "raptor_session=b"]);
        assert_eq!(cookie_token(&h, COOKIE_NAME), Err(AmbiguousSession));
        let h = headers(&["raptor_session=; raptor_session=b"]);
        assert_eq!(cookie_token(&h, COOKIE_NAME), Ok(Some("b")));
    }
}
