//! Watchlists as Alpaca's `Watchlist`, by id and by name.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::watchlists::{self, Change, Listed};
use raptor_store::watchlists::Which;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::assets::{find, Asset};
use super::auth::KeyHolder;
use super::error::{AlpacaError, V2Json, V2Path, V2Query};
use super::ids::{self, Kind};
use super::{AlpacaErrorBody, TAG};
use crate::{AppState, Problem};

/// A watchlist, as Alpaca's `Watchlist`.
#[derive(Serialize, ToSchema)]
pub(crate) struct AlpacaWatchlist {
    /// The watchlist's id.
    id: String,
    /// The account's id.
    account_id: String,
    /// Its name.
    name: String,
    /// When it was made.
    created_at: DateTime<Utc>,
    /// Its last change.
    updated_at: DateTime<Utc>,
    /// Its symbols as assets, in the order they were added.
    assets: Vec<Asset>,
}

async fn answer(state: &AppState, listed: Listed) -> Result<Json<AlpacaWatchlist>, AlpacaError> {
    let mut assets = Vec::new();
    for symbol in &listed.symbols {
        // A symbol delisted since it was added is left out.
        if let Ok(found) = find(state, symbol).await {
            assets.push(Asset::from(found));
        }
    }
    let w = listed.watchlist;
    Ok(Json(AlpacaWatchlist {
        id: ids::uuid(Kind::Watchlist, w.id).to_string(),
        account_id: ids::uuid(Kind::Account, w.account_id).to_string(),
        name: w.name,
        created_at: w.created_at,
        updated_at: w.updated_at,
        assets,
    }))
}

fn by_id(id: &str) -> Result<Which<'static>, Problem> {
    ids::row(Kind::Watchlist, id)
        .map(Which::Id)
        .ok_or_else(|| Problem::not_found("watchlist not found"))
}

/// A new watchlist, or a watchlist's new name and/or symbols.
#[derive(Deserialize, ToSchema)]
pub(crate) struct WatchlistBody {
    /// Its name (required to make one).
    #[serde(default)]
    name: Option<String>,
    /// Listed tickers; on an update, all of them, replacing the ones it has.
    #[serde(default)]
    symbols: Option<Vec<String>>,
}

/// A symbol to add.
#[derive(Deserialize, ToSchema)]
pub(crate) struct SymbolBody {
    /// A listed ticker.
    symbol: String,
}

/// The key holder's watchlists, oldest first.
#[utoipa::path(get, path = "/v2/watchlists", tag = TAG,
    responses(
        (status = 200, description = "The watchlists", body = Vec<AlpacaWatchlist>),
        (status = 404, description = "The key's owner has no paper account", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    holder: KeyHolder,
) -> Result<Json<Vec<AlpacaWatchlist>>, AlpacaError> {
    let mut all = Vec::new();
    for listed in watchlists::all(&state, holder.user_id).await? {
        all.push(answer(&state, listed).await?.0);
    }
    Ok(Json(all))
}

/// Makes a watchlist.
#[utoipa::path(post, path = "/v2/watchlists", tag = TAG,
    request_body = WatchlistBody,
    responses(
        (status = 200, description = "Made", body = AlpacaWatchlist),
        (status = 400, description = "The body is not JSON", body = AlpacaErrorBody),
        (status = 404, description = "The key's owner has no paper account", body = AlpacaErrorBody),
        (status = 409, description = "The name is taken, or the account has 50 watchlists", body = AlpacaErrorBody),
        (status = 422, description = "The name or a symbol is not acceptable", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Json(body): V2Json<WatchlistBody>,
) -> Result<Json<AlpacaWatchlist>, AlpacaError> {
    let name = body
        .name
        .ok_or_else(|| Problem::invalid_field("name", "a watchlist needs a name"))?;
    let symbols = body.symbols.unwrap_or_default();
    let made = watchlists::create(&state, holder.user_id, &name, &symbols).await?;
    answer(&state, made).await
}

/// The name of the watchlist meant.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ByName {
    /// The watchlist's name.
    name: String,
}

/// One of the key holder's watchlists.
#[utoipa::path(get, path = "/v2/watchlists/{watchlist_id}", tag = TAG,
    params(("watchlist_id" = String, Path, description = "The watchlist's id (a UUID)")),
    responses(
        (status = 200, description = "The watchlist", body = AlpacaWatchlist),
        (status = 404, description = "No such watchlist", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn get(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Path(id): V2Path<String>,
) -> Result<Json<AlpacaWatchlist>, AlpacaError> {
    let listed = watchlists::get(&state, holder.user_id, by_id(&id)?).await?;
    answer(&state, listed).await
}

/// One of the key holder's watchlists, by name.
#[utoipa::path(get, path = "/v2/watchlists:by_name", tag = TAG,
    params(ByName),
    responses(
        (status = 200, description = "The watchlist", body = AlpacaWatchlist),
        (status = 404, description = "No such watchlist", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn get_by_name(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Query(q): V2Query<ByName>,
) -> Result<Json<AlpacaWatchlist>, AlpacaError> {
    let listed = watchlists::get(&state, holder.user_id, Which::Name(&q.name)).await?;
    answer(&state, listed).await
}

async fn replace_in(
    state: &AppState,
    holder: &KeyHolder,
    which: Which<'_>,
    body: &WatchlistBody,
) -> Result<Json<AlpacaWatchlist>, AlpacaError> {
    let change = Change::Replace {
        name: body.name.as_deref(),
        symbols: body.symbols.as_deref(),
    };
    let changed = watchlists::change(state, holder.user_id, which, change).await?;
    answer(state, changed).await
}

/// Renames a watchlist and/or replaces its symbols.
#[utoipa::path(put, path = "/v2/watchlists/{watchlist_id}", tag = TAG,
    params(("watchlist_id" = String, Path, description = "The watchlist's id (a UUID)")),
    request_body = WatchlistBody,
    responses(
        (status = 200, description = "The watchlist as it now is", body = AlpacaWatchlist),
        (status = 404, description = "No such watchlist", body = AlpacaErrorBody),
        (status = 409, description = "The name is taken", body = AlpacaErrorBody),
        (status = 422, description = "The name or a symbol is not acceptable", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn replace(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Path(id): V2Path<String>,
    V2Json(body): V2Json<WatchlistBody>,
) -> Result<Json<AlpacaWatchlist>, AlpacaError> {
    replace_in(&state, &holder, by_id(&id)?, &body).await
}

/// Renames a watchlist named `name` and/or replaces its symbols.
#[utoipa::path(put, path = "/v2/watchlists:by_name", tag = TAG,
    params(ByName),
    request_body = WatchlistBody,
    responses(
        (status = 200, description = "The watchlist as it now is", body = AlpacaWatchlist),
        (status = 404, description = "No such watchlist", body = AlpacaErrorBody),
        (status = 409, description = "The name is taken", body = AlpacaErrorBody),
        (status = 422, description = "The name or a symbol is not acceptable", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn replace_by_name(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Query(q): V2Query<ByName>,
    V2Json(body): V2Json<WatchlistBody>,
) -> Result<Json<AlpacaWatchlist>, AlpacaError> {
    replace_in(&state, &holder, Which::Name(&q.name), &body).await
}

/// Adds a symbol at the end of a watchlist.
#[utoipa::path(post, path = "/v2/watchlists/{watchlist_id}", tag = TAG,
    params(("watchlist_id" = String, Path, description = "The watchlist's id (a UUID)")),
    request_body = SymbolBody,
    responses(
        (status = 200, description = "The watchlist as it now is", body = AlpacaWatchlist),
        (status = 404, description = "No such watchlist", body = AlpacaErrorBody),
        (status = 422, description = "The symbol is not listed, or the list is full", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn add(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Path(id): V2Path<String>,
    V2Json(body): V2Json<SymbolBody>,
) -> Result<Json<AlpacaWatchlist>, AlpacaError> {
    let which = by_id(&id)?;
    let changed =
        watchlists::change(&state, holder.user_id, which, Change::Add(&body.symbol)).await?;
    answer(&state, changed).await
}

/// Adds a symbol at the end of the watchlist named `name`.
#[utoipa::path(post, path = "/v2/watchlists:by_name", tag = TAG,
    params(ByName),
    request_body = SymbolBody,
    responses(
        (status = 200, description = "The watchlist as it now is", body = AlpacaWatchlist),
        (status = 404, description = "No such watchlist", body = AlpacaErrorBody),
        (status = 422, description = "The symbol is not listed, or the list is full", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn add_by_name(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Query(q): V2Query<ByName>,
    V2Json(body): V2Json<SymbolBody>,
) -> Result<Json<AlpacaWatchlist>, AlpacaError> {
    let which = Which::Name(&q.name);
    let changed =
        watchlists::change(&state, holder.user_id, which, Change::Add(&body.symbol)).await?;
    answer(&state, changed).await
}

/// Removes a symbol from a watchlist.
#[utoipa::path(delete, path = "/v2/watchlists/{watchlist_id}/{symbol}", tag = TAG,
    params(("watchlist_id" = String, Path, description = "The watchlist's id (a UUID)"),
           ("symbol" = String, Path, description = "The ticker to remove")),
    responses(
        (status = 200, description = "The watchlist as it now is", body = AlpacaWatchlist),
        (status = 404, description = "No such watchlist", body = AlpacaErrorBody),
        (status = 422, description = "The symbol is not in the watchlist", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Path((id, symbol)): V2Path<(String, String)>,
) -> Result<Json<AlpacaWatchlist>, AlpacaError> {
    let which = by_id(&id)?;
    let changed =
        watchlists::change(&state, holder.user_id, which, Change::Remove(&symbol)).await?;
    answer(&state, changed).await
}

/// Deletes a watchlist.
#[utoipa::path(delete, path = "/v2/watchlists/{watchlist_id}", tag = TAG,
    params(("watchlist_id" = String, Path, description = "The watchlist's id (a UUID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such watchlist", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Path(id): V2Path<String>,
) -> Result<StatusCode, AlpacaError> {
    watchlists::delete(&state, holder.user_id, by_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the watchlist named `name`.
#[utoipa::path(delete, path = "/v2/watchlists:by_name", tag = TAG,
    params(ByName),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such watchlist", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn delete_by_name(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Query(q): V2Query<ByName>,
) -> Result<StatusCode, AlpacaError> {
    watchlists::delete(&state, holder.user_id, Which::Name(&q.name)).await?;
    Ok(StatusCode::NO_CONTENT)
}
