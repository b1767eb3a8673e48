//! Watchlists for the app (`/api/watchlists`); the same use cases serve `/v2/watchlists`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::watchlists::{self, Change, Listed, WatchlistError};
use raptor_store::watchlists::Which;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::session::CurrentSession;
use crate::{AppState, Problem, ProblemCode};

const TAG: &str = "watchlists";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, replace, delete))
        .routes(routes!(add_symbol))
        .routes(routes!(remove_symbol))
}

impl From<WatchlistError> for Problem {
    fn from(err: WatchlistError) -> Self {
        match err {
            WatchlistError::Invalid(input) => Problem::invalid(input),
            WatchlistError::NoAccount | WatchlistError::Unknown => {
                Problem::not_found(err.to_string())
            }
            WatchlistError::NameTaken(_) => {
                Problem::new(ProblemCode::WatchlistNameTaken, err.to_string())
            }
            WatchlistError::TooMany => {
                Problem::new(ProblemCode::TooManyWatchlists, err.to_string())
            }
            WatchlistError::Store(err) => err.into(),
        }
    }
}

/// A watchlist.
#[derive(Serialize, ToSchema)]
struct WatchlistView {
    /// Its id.
    id: i64,
    /// Its name, unique among the user's.
    name: String,
    /// Its symbols, in the order they were added.
    symbols: Vec<String>,
    /// When it was made.
    created_at: DateTime<Utc>,
    /// Its last change.
    updated_at: DateTime<Utc>,
}

impl From<Listed> for WatchlistView {
    fn from(l: Listed) -> Self {
        Self {
            id: l.watchlist.id,
            name: l.watchlist.name,
            symbols: l.symbols,
            created_at: l.watchlist.created_at,
            updated_at: l.watchlist.updated_at,
        }
    }
}

/// A new watchlist.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWatchlist {
    /// Its name (1 to 64 characters).
    name: String,
    /// Listed tickers, any case (at most 200).
    #[serde(default)]
    symbols: Vec<String>,
}

/// A watchlist's new name and/or symbols.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Replacement {
    /// A new name.
    #[serde(default)]
    name: Option<String>,
    /// All its symbols, replacing the ones it has.
    #[serde(default)]
    symbols: Option<Vec<String>>,
}

/// A symbol to add.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewSymbol {
    /// A listed ticker, any case.
    symbol: String,
}

/// The user's watchlists, oldest first.
#[utoipa::path(get, path = "/api/watchlists", tag = TAG,
    responses(
        (status = 200, description = "The watchlists", body = Vec<WatchlistView>),
        (status = 404, description = "The user has no paper account", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn list(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Vec<WatchlistView>>, Problem> {
    let all = watchlists::all(&state, current.user.id).await?;
    Ok(Json(all.into_iter().map(WatchlistView::from).collect()))
}

/// Makes a watchlist.
#[utoipa::path(post, path = "/api/watchlists", tag = TAG,
    request_body = NewWatchlist,
    responses(
        (status = 201, description = "Made", body = WatchlistView),
        (status = 400, description = "The body is not JSON", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The user has no paper account", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 409, description = "The name is taken, or the user has 50 watchlists", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The name or a symbol is not acceptable", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn create(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(req): ApiJson<NewWatchlist>,
) -> Result<(StatusCode, Json<WatchlistView>), Problem> {
    let made = watchlists::create(&state, current.user.id, &req.name, &req.symbols).await?;
    Ok((StatusCode::CREATED, Json(made.into())))
}

/// One of the user's watchlists.
#[utoipa::path(get, path = "/api/watchlists/{id}", tag = TAG,
    params(("id" = i64, Path, description = "The watchlist's id")),
    responses(
        (status = 200, description = "The watchlist", body = WatchlistView),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such watchlist", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn get(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<WatchlistView>, Problem> {
    Ok(Json(
        watchlists::get(&state, current.user.id, Which::Id(id))
            .await?
            .into(),
    ))
}

/// Renames a watchlist and/or replaces its symbols.
#[utoipa::path(put, path = "/api/watchlists/{id}", tag = TAG,
    params(("id" = i64, Path, description = "The watchlist's id")),
    request_body = Replacement,
    responses(
        (status = 200, description = "The watchlist as it now is", body = WatchlistView),
        (status = 400, description = "The id or body is malformed", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such watchlist", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 409, description = "The name is taken", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The name or a symbol is not acceptable", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn replace(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<Replacement>,
) -> Result<Json<WatchlistView>, Problem> {
    let change = Change::Replace {
        name: req.name.as_deref(),
        symbols: req.symbols.as_deref(),
    };
    let changed = watchlists::change(&state, current.user.id, Which::Id(id), change).await?;
    Ok(Json(changed.into()))
}

/// Deletes a watchlist.
#[utoipa::path(delete, path = "/api/watchlists/{id}", tag = TAG,
    params(("id" = i64, Path, description = "The watchlist's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such watchlist", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn delete(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, Problem> {
    watchlists::delete(&state, current.user.id, Which::Id(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a symbol at the end of a watchlist (nothing changes when it is there already).
#[utoipa::path(post, path = "/api/watchlists/{id}/symbols", tag = TAG,
    params(("id" = i64, Path, description = "The watchlist's id")),
    request_body = NewSymbol,
    responses(
        (status = 200, description = "The watchlist as it now is", body = WatchlistView),
        (status = 400, description = "The id or body is malformed", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such watchlist", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The symbol is not listed, or the list is full", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn add_symbol(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<NewSymbol>,
) -> Result<Json<WatchlistView>, Problem> {
    let change = Change::Add(&req.symbol);
    let changed = watchlists::change(&state, current.user.id, Which::Id(id), change).await?;
    Ok(Json(changed.into()))
}

/// Removes a symbol from a watchlist.
#[utoipa::path(delete, path = "/api/watchlists/{id}/symbols/{symbol}", tag = TAG,
    params(("id" = i64, Path, description = "The watchlist's id"),
           ("symbol" = String, Path, description = "The ticker to remove")),
    responses(
        (status = 200, description = "The watchlist as it now is", body = WatchlistView),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such watchlist", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The symbol is not in the watchlist", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn remove_symbol(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath((id, symbol)): ApiPath<(i64, String)>,
) -> Result<Json<WatchlistView>, Problem> {
    let change = Change::Remove(&symbol);
    let changed = watchlists::change(&state, current.user.id, Which::Id(id), change).await?;
    Ok(Json(changed.into()))
}
