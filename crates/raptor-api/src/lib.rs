//! Raptor's HTTP API: the axum router, one module per domain, and the single mapping of
//! errors to RFC 9457 problem bodies.

mod admin;
mod auth;
mod backtests;
mod billing;
mod config;
mod console;
mod customers;
mod edge;
mod extract;
mod guard;
mod health;
mod limits;
mod market;
mod marketing;
mod openapi;
mod problem;
mod session;
mod settings;
mod support;
mod traces;
mod trading;
mod webhooks;

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use raptor_app::App;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;
use utoipa_axum::router::OpenApiRouter;

pub use config::{ApiConfig, ConfigError, WebhookSecrets};
pub use edge::{EdgeLimits, REQUEST_ID};
pub use problem::{Problem, ProblemCode};
pub use session::COOKIE_NAME;

/// What every handler can reach: the use cases' [`App`] (database, clock, mailer, bar
/// source), which it derefs to, and what only HTTP needs.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The use cases' context.
    pub app: App,
    /// Where the API is served, and what follows from it.
    pub config: Arc<ApiConfig>,
    /// The schema revision verified at start, reported by `/healthz` when the serving role
    /// may not read the migration history (None: read it live).
    pub fixed_revision: Option<String>,
}

impl AppState {
    /// State over the use cases' context.
    pub fn new(app: App, config: ApiConfig) -> Self {
        Self {
            app,
            config: Arc::new(config),
            fixed_revision: None,
        }
    }

    /// Reports `revision` from `/healthz` instead of reading it (role separation).
    pub fn with_fixed_revision(mut self, revision: String) -> Self {
        self.fixed_revision = Some(revision);
        self
    }
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

/// Every route with its OpenAPI description, before state and the edge's layers.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(health::routes())
        .merge(auth::routes())
        .merge(admin::routes())
        .merge(console::routes())
        .merge(settings::routes())
        .merge(billing::routes())
        .merge(customers::routes())
        .merge(support::routes())
        .merge(marketing::routes())
        .merge(webhooks::routes())
        .merge(trading::routes())
        .merge(market::routes())
        .merge(backtests::routes())
        .merge(traces::routes())
}

/// The OpenAPI 3.1 document of the whole API, as `/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::finish(routes().split_for_parts().1)
}

/// The whole API as one router.
pub fn router(state: AppState) -> Router {
    let (routes, api) = routes().split_for_parts();
    let routes = routes
        .merge(openapi::routes(openapi::finish(api)))
        .fallback(problem::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::same_origin,
        ));
    edge::wrap(routes, &state).with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish. Each connection must send its headers within the configured
/// header-read timeout, and a request body may not stall longer than the body timeout.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config.limits.clone();
    let app = router(state);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(%err, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let body_timeout = limits.body_timeout;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let request = request.map(|body| Body::new(TimeoutBody::new(body_timeout, body)));
            app.clone().oneshot(request)
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, %peer, "connection ended with an error");
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}
