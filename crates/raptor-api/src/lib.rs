//! Raptor's HTTP API: the axum router, one module per domain, and the single mapping of
//! errors to RFC 9457 problem bodies.

mod health;
mod problem;

use std::future::Future;

use axum::Router;
use raptor_store::Db;
use tokio::net::TcpListener;

pub use problem::Problem;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The application's database.
    pub db: Db,
}

impl AppState {
    /// State over a connected database.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// The whole API as one router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .fallback(problem::not_found)
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
