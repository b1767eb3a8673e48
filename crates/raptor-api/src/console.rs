//! The built-in console: a minimal sign-up and sign-in page using the browser's own WebAuthn.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{Html, IntoResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

const PAGE: &str = include_str!("console.html");

/// Only this page's own inline script may run, identified by its hash.
static CSP: LazyLock<String> = LazyLock::new(|| {
    let script = PAGE
        .split_once("<script>")
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map_or("", |(script, _)| script);
    let hash = STANDARD.encode(Sha256::digest(script.as_bytes()));
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
});

const TAG: &str = "console";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(console))
        .routes(routes!(email_sign_in))
        .routes(routes!(verify_email))
}

/// The console page: sign up, sign in and manage passkeys in the browser.
#[utoipa::path(get, path = "/", tag = TAG,
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
async fn console() -> impl IntoResponse {
    page()
}

/// Where an emailed sign-in link leads: the console, which signs in with the link's token.
#[utoipa::path(get, path = "/signin/email", tag = TAG,
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
async fn email_sign_in() -> impl IntoResponse {
    page()
}

/// Where an emailed verification link leads: the console, which confirms the address when the
/// user presses its button.
#[utoipa::path(get, path = "/verify-email", tag = TAG,
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
async fn verify_email() -> impl IntoResponse {
    page()
}

/// The page with headers that keep it from running anything but its own script.
fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_SECURITY_POLICY, CSP.as_str()),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(PAGE),
    )
}
