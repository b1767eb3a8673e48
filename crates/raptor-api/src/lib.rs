//! Raptor's HTTP API: the axum router, one module per domain, and the single mapping of
//! errors to RFC 9457 problem bodies.

mod admin;
mod api_keys;
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
mod jobs;
mod limits;
mod market;
mod marketing;
mod metrics;
mod openapi;
mod page_cache;
mod problem;
mod server;
mod session;
mod settings;
mod support;
mod sweeps;
mod traces;
mod trade_updates;
mod trading;
mod v2;
mod watchlists;
mod webhooks;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use raptor_app::App;
use utoipa_axum::router::OpenApiRouter;

pub use config::{ApiConfig, ConfigError, WebhookSecrets};
pub use edge::{EdgeLimits, REQUEST_ID};
pub use metrics::MetricsToken;
pub use problem::{Problem, ProblemCode};
pub use server::serve;
pub use session::{cookie_name, COOKIE_NAME, SECURE_COOKIE_NAME};

/// What every handler can reach: the use cases' [`App`] (database, clock, mailer, bar
/// source), which it derefs to through [`Shared`], and what only HTTP needs. One pointer:
/// extractors and layers clone it on every request.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// What an [`AppState`] points to.
#[derive(Clone, Debug)]
pub struct Shared {
    /// The use cases' context.
    pub app: App,
    /// Where the API is served, and what follows from it.
    pub config: Arc<ApiConfig>,
    /// The schema revision verified at start, reported by `/healthz` when the serving role
    /// may not read the migration history (None: read it live).
    pub fixed_revision: Option<String>,
    /// This server's HTTP request counters, for `/metrics`.
    http_metrics: Arc<metrics::HttpMetrics>,
    /// Encoded pages of bars by content tag.
    bar_pages: Arc<page_cache::PageCache>,
}

impl AppState {
    /// State over the use cases' context.
    pub fn new(app: App, config: ApiConfig) -> Self {
        Self(Arc::new(Shared {
            app,
            config: Arc::new(config),
            fixed_revision: None,
            http_metrics: Arc::default(),
            bar_pages: Arc::default(),
        }))
    }

    /// Reports `revision` from `/healthz` instead of reading it (role separation).
    pub fn with_fixed_revision(self, revision: String) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.0);
        shared.fixed_revision = Some(revision);
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Deref for Shared {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

/// Each domain module's routes with their OpenAPI descriptions.
fn modules() -> [OpenApiRouter<AppState>; 21] {
    [
        health::routes(),
        auth::routes(),
        api_keys::routes(),
        admin::routes(),
        console::routes(),
        settings::routes(),
        billing::routes(),
        customers::routes(),
        support::routes(),
        marketing::routes(),
        webhooks::routes(),
        trading::routes(),
        trade_updates::routes(),
        market::routes(),
        backtests::routes(),
        sweeps::routes(),
        traces::routes(),
        jobs::routes(),
        metrics::routes(),
        v2::routes(),
        watchlists::routes(),
    ]
}

/// Every route with its OpenAPI description, before state and the edge's layers.
fn routes() -> OpenApiRouter<AppState> {
    modules().into_iter().fold(
        OpenApiRouter::with_openapi(openapi::base()),
        OpenApiRouter::merge,
    )
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// utoipa keeps the last of two schemas with one name, silently; two modules that each
    /// name a different type `Order` would publish one of them wrongly.
    #[test]
    fn no_two_modules_publish_different_schemas_under_one_name() {
        let mut seen = HashMap::new();
        for module in modules() {
            let document = module.into_openapi();
            let schemas = document.components.map(|c| c.schemas).unwrap_or_default();
            for (name, schema) in schemas {
                let json = serde_json::to_string(&schema).expect("schema serialises");
                if let Some(other) = seen.insert(name.clone(), json.clone()) {
                    assert_eq!(other, json, "two different schemas are both named {name}");
                }
            }
        }
    }

    #[test]
    fn every_operation_behind_the_session_documents_its_401() {
        let document = serde_json::to_value(openapi()).expect("document");
        let mut checked = 0;
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                let secured = operation["security"]
                    .as_array()
                    .is_some_and(|all| all.iter().any(|r| r.get("session").is_some()));
                if secured {
                    checked += 1;
                    assert!(
                        operation["responses"].get("401").is_some(),
                        "{method} {path} needs a session but documents no 401"
                    );
                }
            }
        }
        assert!(checked > 0, "no operation is behind the session");
    }

    #[test]
    fn operation_ids_are_unique() {
        let document = openapi();
        let mut ids = HashMap::new();
        for (path, item) in &document.paths.paths {
            for (method, operation) in [
                ("get", &item.get),
                ("put", &item.put),
                ("post", &item.post),
                ("delete", &item.delete),
                ("patch", &item.patch),
            ] {
                let Some(id) = operation.as_ref().and_then(|o| o.operation_id.clone()) else {
                    continue;
                };
                if let Some(other) = ids.insert(id.clone(), format!("{method} {path}")) {
                    panic!("{id} names both {other} and {method} {path}");
                }
            }
        }
    }
}
