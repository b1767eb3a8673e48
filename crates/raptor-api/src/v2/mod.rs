//! The Alpaca-compatible API under `/v2`: the shapes, status codes and error bodies of
//! Alpaca's Trading API v2, so Alpaca's SDKs (alpaca-py, alpaca-trade-api) and the bots built
//! on them work against a Raxx paper account unchanged. Requests authenticate with an API key
//! pair ([`auth`]), never the session cookie; the same use cases serve `/api`.
//!
//! Alpaca's ids are UUIDs; Raptor's rows have integer ids. Each id is shown as a UUID that
//! names the kind of row and carries the row id ([`ids`]), so it reads back without a lookup.

pub(crate) mod account;
pub(crate) mod activities;
mod assets;
mod auth;
mod error;
mod ids;
mod orders;
mod positions;
mod stocks;
pub(crate) mod stream;
mod watchlists;

use rust_decimal::Decimal;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
pub(crate) use auth::{KEY_ID_HEADER, SECRET_HEADER};
pub(crate) use error::{alpaca_body, AlpacaErrorBody};

/// Whether a request path is one of the `/v2` API's (its errors answer in Alpaca's shape).
pub(crate) fn is_v2(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/") || path == "/stream"
}

/// The OpenAPI tag of every `/v2` operation.
const TAG: &str = "Alpaca-compatible v2";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(account::account))
        .routes(routes!(account::configurations, account::configure))
        .routes(routes!(account::portfolio_history))
        .routes(routes!(activities::all))
        .routes(routes!(activities::of_type))
        .routes(routes!(account::clock))
        .routes(routes!(account::calendar))
        .routes(routes!(orders::list, orders::create, orders::cancel_all))
        .routes(routes!(orders::get, orders::replace, orders::cancel))
        .routes(routes!(orders::by_client_order_id))
        .routes(routes!(positions::list, positions::close_all))
        .routes(routes!(positions::get, positions::close))
        .routes(routes!(assets::list))
        .routes(routes!(assets::get))
        .routes(routes!(stocks::bars))
        .routes(routes!(stocks::latest))
        .routes(routes!(watchlists::list, watchlists::create))
        .routes(routes!(
            watchlists::get,
            watchlists::replace,
            watchlists::add,
            watchlists::delete
        ))
        .routes(routes!(watchlists::remove))
        .routes(routes!(
            watchlists::get_by_name,
            watchlists::replace_by_name,
            watchlists::add_by_name,
            watchlists::delete_by_name
        ))
        // A websocket: outside the OpenAPI document, described in the README.
        .route("/stream", axum::routing::get(stream::connect))
}

/// A decimal as Alpaca's clients read money and quantities: a string, no trailing zeros.
fn decimal(value: Decimal) -> String {
    value.normalize().to_string()
}

/// `True`/`true`/`1` as Alpaca's clients send booleans in query strings.
fn query_bool(field: &'static str, value: Option<&str>) -> Result<bool, crate::Problem> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(false),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(_) => Err(crate::Problem::invalid_field(
            field,
            "must be true or false",
        )),
    }
}
