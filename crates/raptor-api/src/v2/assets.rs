//! Assets: the listed symbols, as Alpaca's `Asset`.

use axum::extract::State;
use axum::Json;
use raptor_app::{market, text};
use raptor_store::market::Symbol;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::KeyHolder;
use super::error::{AlpacaError, V2Path, V2Query};
use super::ids::{self, Kind};
use super::{AlpacaErrorBody, TAG};
use crate::{AppState, Problem};

/// The exchanges Alpaca's clients accept; any other listing exchange is sent as `""`.
const EXCHANGES: [&str; 13] = [
    "AMEX", "ARCA", "ASCX", "BATS", "NYSE", "NASDAQ", "NYSEARCA", "FTXU", "CBSE", "GNSS", "ERSX",
    "OTC", "CRYPTO",
];

/// A listing exchange as Alpaca's clients accept it.
pub(crate) fn exchange(listed: &str) -> &'static str {
    EXCHANGES
        .into_iter()
        .find(|e| e.eq_ignore_ascii_case(listed))
        .unwrap_or("")
}

/// A listed symbol, as Alpaca's `Asset`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Asset {
    /// The asset's id.
    id: String,
    /// `us_equity`, `us_option` or `crypto`.
    class: String,
    /// The listing exchange (`""` when Alpaca's clients would not know it).
    exchange: &'static str,
    /// Ticker.
    symbol: String,
    /// The company or fund.
    name: String,
    /// Always `active`: only listed symbols are assets.
    status: &'static str,
    /// Whether paper orders may be placed.
    tradable: bool,
    /// Always false: no margin.
    marginable: bool,
    /// Always false: short selling is not offered.
    shortable: bool,
    /// Always false.
    easy_to_borrow: bool,
    /// Whether fractional quantities are allowed.
    fractionable: bool,
    /// Always empty.
    attributes: Vec<String>,
}

impl From<Symbol> for Asset {
    fn from(s: Symbol) -> Self {
        Self {
            id: ids::uuid(Kind::Asset, s.id).to_string(),
            class: s.asset_class,
            exchange: exchange(&s.exchange),
            symbol: s.ticker,
            name: s.name,
            status: "active",
            tradable: s.tradable,
            marginable: false,
            shortable: false,
            easy_to_borrow: false,
            fractionable: s.fractionable,
            attributes: Vec::new(),
        }
    }
}

/// Which assets to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// `active` (every listed symbol) or `inactive` (none: delisted symbols are not kept as
    /// assets).
    status: Option<String>,
    /// Only this class (`us_equity`, `us_option`, `crypto`).
    asset_class: Option<String>,
    /// Only this exchange.
    exchange: Option<String>,
    /// Accepted for Alpaca's clients; no asset has attributes.
    attributes: Option<String>,
}

/// The listed symbols, by ticker.
#[utoipa::path(get, path = "/v2/assets", tag = TAG,
    params(ListQuery),
    responses(
        (status = 200, description = "The assets", body = Vec<Asset>),
        (status = 422, description = "A parameter is not one Alpaca's API takes", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    _holder: KeyHolder,
    V2Query(q): V2Query<ListQuery>,
) -> Result<Json<Vec<Asset>>, AlpacaError> {
    let active = match q.status.as_deref() {
        None | Some("active") => true,
        Some("inactive") => false,
        Some(_) => {
            return Err(Problem::invalid_field("status", "must be active or inactive").into())
        }
    };
    if !active {
        return Ok(Json(Vec::new()));
    }
    let attributes = q.attributes.unwrap_or_default();
    let assets = market::listed(&state)
        .await?
        .into_iter()
        .filter(|s| q.asset_class.as_deref().is_none_or(|c| c == s.asset_class))
        .filter(|s| {
            q.exchange
                .as_deref()
                .is_none_or(|e| e.eq_ignore_ascii_case(&s.exchange))
        })
        .filter(|_| attributes.trim().is_empty())
        .map(Asset::from)
        .collect();
    Ok(Json(assets))
}

/// A listed symbol by ticker or asset id.
pub(crate) async fn find(state: &AppState, symbol_or_id: &str) -> Result<Symbol, Problem> {
    let not_found = || Problem::not_found(format!("asset not found for {symbol_or_id:?}"));
    let found = match ids::row(Kind::Asset, symbol_or_id) {
        Some(row) => market::listed_by_id(state, row).await?,
        None => {
            // Text no ticker can be (a NUL byte, which PostgreSQL refuses) is simply not one.
            let ticker = text::single_line("symbol", symbol_or_id, 32).map_err(|_| not_found())?;
            market::listed_symbol(state, &ticker.to_uppercase()).await?
        }
    };
    found.ok_or_else(not_found)
}

/// One listed symbol, by ticker or asset id.
#[utoipa::path(get, path = "/v2/assets/{symbol_or_asset_id}", tag = TAG,
    params(("symbol_or_asset_id" = String, Path, description = "A ticker or an asset id")),
    responses(
        (status = 200, description = "The asset", body = Asset),
        (status = 404, description = "No such listed symbol", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn get(
    State(state): State<AppState>,
    _holder: KeyHolder,
    V2Path(symbol_or_id): V2Path<String>,
) -> Result<Json<Asset>, AlpacaError> {
    Ok(Json(find(&state, &symbol_or_id).await?.into()))
}
