//! What every request passes through before and after its handler: a request id, one
//! access-log line, protective response headers, a concurrency limit, and panics turned into
//! 500 problems.

use std::any::Any;
use std::time::{Duration, Instant};

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::problem::PROBLEM_JSON;
use crate::{AppState, Problem, ProblemCode};

/// The header carrying the request id, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Limits that protect the server from slow or greedy clients.
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long a request's whole body may take to arrive.
    pub body_timeout: Duration,
    /// Requests served at once; more answer 503 `overloaded` at once.
    pub max_concurrent_requests: usize,
    /// The largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Connections open at once; at the cap, new ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight before cutting them.
    pub shutdown_grace: Duration,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_concurrent_requests: 512,
            max_body_bytes: 1024 * 1024,
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(25),
        }
    }
}

/// How long an overloaded server asks clients to wait.
const OVERLOADED_RETRY_AFTER: u64 = 1;

tokio::task_local! {
    static CURRENT_ID: String;
}

/// The id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<String> {
    CURRENT_ID.try_with(Clone::clone).ok()
}

/// Wraps the routes in the edge's layers, outermost first: request id and access log,
/// concurrency limit, panic catcher.
pub(crate) fn wrap(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let limits = &state.config.limits;
    router
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    let mut problem = Problem::new(
                        ProblemCode::Overloaded,
                        "the server is handling as many requests as it can; try again shortly",
                    );
                    problem.retry_after = Some(OVERLOADED_RETRY_AFTER);
                    problem
                }))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(
                    limits.max_concurrent_requests.max(1),
                )),
        )
        .layer(axum::middleware::from_fn_with_state(state.clone(), around))
}

/// A request id from a trusted proxy (Heroku's router passes one on, or makes one), when it is
/// a sane token; otherwise a new one. Ids from outside are for correlation, not unique keys.
fn request_id(state: &AppState, request: &Request) -> String {
    state
        .config
        .trust_proxy
        .then(|| request.headers().get(&REQUEST_ID)?.to_str().ok())
        .flatten()
        .filter(|id| {
            (1..=200).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned)
}

/// Gives the request its id, runs it inside a span that the id, method and route template
/// name, logs one access line, counts it for `/metrics`, and sets the headers every answer
/// carries.
async fn around(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let id = request_id(&state, &request);
    let method = request.method().clone();
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let route = matched.as_deref().unwrap_or("<unmatched>");
    let alpaca = crate::v2::is_v2(request.uri().path());
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, %method, %route);
    let started = Instant::now();
    let mut response = CURRENT_ID
        .scope(id.clone(), next.run(request))
        .instrument(span.clone())
        .await;
    let status = response.status();
    let took = started.elapsed();
    state
        .http_metrics
        .observe(matched.as_deref(), &method, status.as_u16(), took);
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            latency_ms = took.as_secs_f64() * 1000.0,
            "request"
        );
    });
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, value);
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if status.is_client_error() || status.is_server_error() {
        let problem = problem_body(response, &id);
        return if alpaca {
            crate::v2::alpaca_body(problem).await
        } else {
            problem
        };
    }
    response
}

/// Error answers made below the handlers (axum's own 405, a layer's 413 or 408) get a
/// problem body like every other error. A handler's own JSON error (a problem, or on `/v2` an
/// Alpaca error body) is left as it is.
fn problem_body(response: Response, id: &str) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            let v = v.as_bytes();
            v.starts_with(PROBLEM_JSON.as_bytes()) || v.starts_with(b"application/json")
        });
    if is_json {
        return response;
    }
    let code = match response.status() {
        StatusCode::METHOD_NOT_ALLOWED => ProblemCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ProblemCode::PayloadTooLarge,
        StatusCode::REQUEST_TIMEOUT => ProblemCode::RequestTimeout,
        StatusCode::NOT_FOUND => ProblemCode::NotFound,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ProblemCode::UnsupportedMediaType,
        StatusCode::INTERNAL_SERVER_ERROR => ProblemCode::InternalError,
        _ => return response,
    };
    let (parts, _) = response.into_parts();
    let detail = format!(
        "{} (request {id})",
        parts.status.canonical_reason().unwrap_or("error")
    );
    let mut answer =
        CURRENT_ID.sync_scope(id.to_owned(), || Problem::new(code, detail).into_response());
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    answer
}

/// A request's id, for extractors (audit entries record it).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A panic in a handler: logged (inside the request's span, so with its id), answered 500.
fn panicked(payload: Box<dyn Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("a panic with no message");
    Problem::internal(&format_args!("handler panicked: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use raptor_app::App;
    use raptor_store::{DatabaseUrl, Db};
    use tower::ServiceExt;

    use super::*;
    use crate::ApiConfig;

    /// No route of the API is known to panic (the fuzz pass looks for one), so this mounts
    /// one that does behind the same layers. It touches no database; the in-memory SQLite
    /// only satisfies the state's type.
    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem_with_the_request_id() {
        let url = DatabaseUrl::parse("sqlite://:memory:").expect("url");
        let db = Db::connect(&url).await.expect("in-memory database");
        let config = ApiConfig::new("http://localhost:8000", false).expect("config");
        let state = AppState::new(App::new(db), config);
        let routes = Router::new().route(
            "/boom",
            get(|| async {
                let empty: Vec<&'static str> = Vec::new();
                empty[1]
            }),
        );
        let app = wrap(routes, &state).with_state(state);

        let request = Request::get("/boom").body(Body::empty()).expect("request");
        let response = app
            .oneshot(request)
            .await
            .expect("an answer, not a dropped connection");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let id = response.headers()[REQUEST_ID]
            .to_str()
            .expect("ascii")
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["code"], "internal_error");
        assert_eq!(body["request_id"], id.as_str());
        assert!(!body.to_string().contains("index out of bounds"), "{body}");
    }
}
