//! The published contract: the OpenAPI 3.1 document generated from the handlers' types and
//! annotations, served at `/openapi.json`, and Swagger UI at `/docs` from assets embedded in
//! the binary (it works with no internet).

use axum::Router;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::problem::{ProblemBody, ProblemCode, PROBLEM_JSON};
use crate::v2::{AlpacaErrorBody, KEY_ID_HEADER, SECRET_HEADER};
use crate::{AppState, COOKIE_NAME};

/// The security scheme of routes that need a signed-in user.
pub const SESSION: &str = "session";

/// The security schemes of the `/v2` routes: both headers of an API key pair.
pub const ALPACA_KEY_ID: &str = "alpaca_key_id";
/// See [`ALPACA_KEY_ID`].
pub const ALPACA_SECRET_KEY: &str = "alpaca_secret_key";

/// The error response every `/v2` operation may answer, in Alpaca's shape.
const ALPACA_ERROR_RESPONSE: &str = "AlpacaError";

/// The name of the shared error response every operation refers to.
const PROBLEM_RESPONSE: &str = "Problem";

/// The name of the 401 every operation behind the session cookie may answer.
const NOT_SIGNED_IN_RESPONSE: &str = "NotSignedIn";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Raptor",
        description = "The Raxx API: passkey accounts and sessions, historical market data, paper \
            trading and backtests, settings, billing, support, admin and webhooks.\n\n\
            Every error is an `application/problem+json` body (RFC 9457) whose `code` comes from \
            the catalogue in the `ProblemCode` schema; its `request_id` matches the \
            `X-Request-Id` header and the server's log line.",
        license(name = "Proprietary"),
    ),
    components(schemas(ProblemBody, ProblemCode, AlpacaErrorBody)),
    modifiers(&Components),
)]
struct ApiDoc;

/// The session cookie as a security scheme, and the shared problem response.
struct Components;

impl Modify for Components {
    fn modify(&self, api: &mut Document) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                COOKIE_NAME,
                "The session cookie set by a passkey, email-link or backup-code sign-in.",
            ))),
        );
        components.add_security_scheme(
            ALPACA_KEY_ID,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                KEY_ID_HEADER,
                "The public half of an API key pair made at /api/keys (`/v2` routes only).",
            ))),
        );
        components.add_security_scheme(
            ALPACA_SECRET_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                SECRET_HEADER,
                "The secret half of the API key pair, shown once when it was made.",
            ))),
        );
        components.responses.insert(
            ALPACA_ERROR_RESPONSE.to_owned(),
            ResponseBuilder::new()
                .description(
                    "An error in Alpaca's shape: `code` is the status followed by 10000; \
                     a missing, unknown or revoked key pair is 401.",
                )
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("AlpacaErrorBody")))
                        .build(),
                )
                .build()
                .into(),
        );
        components.responses.insert(
            PROBLEM_RESPONSE.to_owned(),
            ResponseBuilder::new()
                .description("An error, as a problem body naming its code.")
                .content(
                    PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
                .into(),
        );
        components.responses.insert(
            NOT_SIGNED_IN_RESPONSE.to_owned(),
            ResponseBuilder::new()
                .description("Not signed in: no valid session cookie (`not_signed_in`).")
                .content(
                    PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
                .into(),
        );
    }
}

/// The document before any route is added.
pub(crate) fn base() -> Document {
    ApiDoc::openapi()
}

/// Completes the document once every route is in it: any operation may answer with a problem
/// (`default`), whatever statuses it lists, an operation behind the session cookie lists its
/// 401 (so no handler spells it out), a `/v2` operation answers Alpaca's error body instead
/// (its 401 and 429 included), and operation ids (the handlers' names) that two
/// modules share are spelt out from the method and path, so each is unique.
pub(crate) fn finish(mut api: Document) -> Document {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for item in api.paths.paths.values() {
        for operation in operations_of(item) {
            if let Some(id) = &operation.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for (path, item) in api.paths.paths.iter_mut() {
        let methods = ["get", "put", "post", "delete", "patch", "head", "options"];
        for (method, operation) in methods.into_iter().zip(operations_of_mut(item)) {
            let Some(operation) = operation else { continue };
            if operation
                .operation_id
                .as_ref()
                .is_some_and(|id| seen.get(id).copied().unwrap_or(0) > 1)
            {
                operation.operation_id = Some(spelt_out(method, path));
            }
        }
    }
    for item in api.paths.paths.values_mut() {
        for operation in operations_of_mut(item).into_iter().flatten() {
            if needs(operation, ALPACA_KEY_ID) {
                let alpaca_error = || {
                    RefOr::Ref(Ref::new(format!(
                        "#/components/responses/{ALPACA_ERROR_RESPONSE}"
                    )))
                };
                let responses = &mut operation.responses.responses;
                responses
                    .entry("401".to_owned())
                    .or_insert_with(alpaca_error);
                responses
                    .entry("429".to_owned())
                    .or_insert_with(alpaca_error);
                responses
                    .entry("default".to_owned())
                    .or_insert_with(alpaca_error);
                continue;
            }
            if needs(operation, SESSION) {
                operation
                    .responses
                    .responses
                    .entry("401".to_owned())
                    .or_insert_with(|| {
                        RefOr::Ref(Ref::new(format!(
                            "#/components/responses/{NOT_SIGNED_IN_RESPONSE}"
                        )))
                    });
            }
            operation
                .responses
                .responses
                .entry("default".to_owned())
                .or_insert_with(|| {
                    RefOr::Ref(Ref::new(format!(
                        "#/components/responses/{PROBLEM_RESPONSE}"
                    )))
                });
        }
    }
    api
}

/// Whether an operation requires the security scheme `scheme`.
fn needs(operation: &Operation, scheme: &str) -> bool {
    operation.security.iter().flatten().any(|requirement| {
        serde_json::to_value(requirement).is_ok_and(|value| value.get(scheme).is_some())
    })
}

fn operations_of(item: &PathItem) -> impl Iterator<Item = &Operation> {
    [
        &item.get,
        &item.put,
        &item.post,
        &item.delete,
        &item.patch,
        &item.head,
        &item.options,
    ]
    .into_iter()
    .flatten()
}

/// The operations of a path item in the order get, put, post, delete, patch, head, options.
fn operations_of_mut(item: &mut PathItem) -> [&mut Option<Operation>; 7] {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
    ]
}

/// `post /api/auth/email-link/login` → `post_auth_email_link_login`.
fn spelt_out(method: &str, path: &str) -> String {
    let words = path
        .split('/')
        .filter(|segment| !segment.is_empty() && *segment != "api")
        .map(|segment| {
            segment
                .trim_matches(|c| c == '{' || c == '}')
                .replace('-', "_")
        });
    std::iter::once(method.to_owned())
        .chain(words)
        .collect::<Vec<_>>()
        .join("_")
}

/// `/openapi.json` and the Swagger UI at `/docs`.
pub(crate) fn routes(api: Document) -> Router<AppState> {
    SwaggerUi::new("/docs").url("/openapi.json", api).into()
}
