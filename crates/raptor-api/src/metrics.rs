//! `GET /metrics`: the process's counters and gauges in the OpenMetrics text format, which
//! Prometheus scrapes. It is off unless `RAPTOR_METRICS_TOKEN` is set (404, as for any
//! unknown path), and it answers only a request bearing that token (401 otherwise), compared
//! in constant time.
//!
//! HTTP requests are counted here, by route template, method and status, with a latency
//! histogram by route template and method. A path no route matches is counted as
//! `unmatched`, never under its own text: a client must not be able to mint series.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::{AppState, Problem, ProblemCode};

const TAG: &str = "operations";

/// The security scheme of `/metrics`.
const METRICS_TOKEN: &str = "metrics_token";

/// The media type of the exposition (what `prometheus-client` writes, `# EOF` included).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The route label of a request no route matched.
pub(crate) const UNMATCHED: &str = "unmatched";

/// Latency buckets in seconds: from a cached answer (1 ms) to a slow backtest or a body
/// that took its time (10 s).
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The bearer token a scraper presents; only its SHA-256 is kept, so a `Debug` print or a
/// core dump of the config does not show it, and comparing digests takes the same time
/// whatever the presented token's length.
#[derive(Clone)]
pub struct MetricsToken([u8; 32]);

impl MetricsToken {
    /// The token from `RAPTOR_METRICS_TOKEN`; None when unset or blank (metrics off).
    pub fn new(token: &str) -> Option<Self> {
        let token = token.trim();
        (!token.is_empty()).then(|| Self(Sha256::digest(token.as_bytes()).into()))
    }

    fn admits(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(digest.ct_eq(&self.0))
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(<set>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LatencyLabels {
    route: String,
    method: &'static str,
}

/// The HTTP families of one server; its clones share them.
pub(crate) struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    registry: Registry,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics").finish_non_exhaustive()
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Default for HttpMetrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let mut registry = Registry::default();
        registry.register(
            "raptor_http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        registry.register(
            "raptor_http_request_duration_seconds",
            "Time to answer HTTP requests, by route template and method",
            latency.clone(),
        );
        Self {
            requests,
            latency,
            registry,
        }
    }
}

impl HttpMetrics {
    /// Counts one answered request. `route` is the matched template, or None.
    pub(crate) fn observe(
        &self,
        route: Option<&str>,
        method: &Method,
        status: u16,
        took: Duration,
    ) {
        let route = route.unwrap_or(UNMATCHED).to_owned();
        let method = method_label(method);
        self.requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                method,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels { route, method })
            .observe(took.as_secs_f64());
    }
}

/// The standard methods by name; anything else (a client may send any token) is `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `/metrics` as a bearer-token security scheme.
struct Scheme;

impl Modify for Scheme {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description = Some("The value of RAPTOR_METRICS_TOKEN.".to_owned());
        components.add_security_scheme(METRICS_TOKEN, SecurityScheme::Http(bearer));
    }
}

#[derive(OpenApi)]
#[openapi(modifiers(&Scheme))]
struct MetricsDoc;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(MetricsDoc::openapi()).routes(routes!(metrics))
}

/// Counters and gauges for Prometheus.
///
/// HTTP requests by route template, method and status, with latency histograms; the
/// database pool and how long write transactions waited to begin; the job queue's depth by
/// queue and state, its oldest ready job's age, and job runs by kind and outcome; orders
/// placed, fills, sign-ins and sign-ups. Answers 404 unless `RAPTOR_METRICS_TOKEN` is set.
#[utoipa::path(get, path = "/metrics", tag = TAG,
    security(("metrics_token" = [])),
    responses(
        (status = 200, description = "The OpenMetrics text exposition", body = String, content_type = OPENMETRICS),
        (status = 401, description = "The bearer token is missing or wrong (`bad_metrics_token`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "Metrics are off: no RAPTOR_METRICS_TOKEN is set (`not_found`)", body = ProblemBody, content_type = PROBLEM_JSON),
    ))]
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Problem> {
    let Some(token) = &state.config.metrics_token else {
        // Off: answered as a path with no route is.
        return Err(Problem::not_found("no route for /metrics"));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        // The scheme's name is case-insensitive (RFC 9110, section 11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, token)| token);
    if !token.admits(presented.trim()) {
        let mut problem = Problem::new(
            ProblemCode::BadMetricsToken,
            "the metrics bearer token is missing or wrong",
        );
        problem.challenge = Some("Bearer realm=\"raptor-metrics\"");
        return Err(problem);
    }
    let mut body = String::new();
    raptor_app::metrics::render(&state, &mut body).await?;
    let written = text::encode_registry(&mut body, &state.http_metrics.registry)
        .and_then(|()| text::encode_eof(&mut body));
    if let Err(err) = written {
        return Err(Problem::internal(&err));
    }
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS))],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_admits_only_itself_and_never_prints() {
        let token = MetricsToken::new(" s3cret ").expect("set");
        assert!(token.admits("s3cret"));
        assert!(!token.admits("s3cre"));
        assert!(!token.admits(""));
        assert!(!format!("{token:?}").contains("s3cret"));
        assert!(MetricsToken::new("  ").is_none());
    }

    #[test]
    fn odd_methods_share_one_label() {
        let odd = Method::from_bytes(b"BREW").expect("a token");
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_label(&Method::GET), "GET");
    }
}
