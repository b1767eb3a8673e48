//! Raptor's HTTP API: the axum router, one module per domain, and the single mapping of
//! errors to RFC 9457 problem bodies.

mod admin;
mod auth;
mod backtests;
mod billing;
mod config;
mod console;
mod customers;
mod extract;
mod guard;
mod health;
mod limits;
mod market;
mod marketing;
mod problem;
mod session;
mod settings;
mod support;
mod traces;
mod trading;
mod webhooks;

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use raptor_app::App;
use tokio::net::TcpListener;

pub use config::{ApiConfig, ConfigError, WebhookSecrets};
pub use problem::Problem;
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

/// The whole API as one router.
pub fn router(state: AppState) -> Router {
    Router::new()
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
        .fallback(problem::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::same_origin,
        ))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
