//! The symbol catalogue from Alpaca's asset list: every US equity Alpaca lists, with its
//! tradable and fractionable flags, added or brought up to date by ticker.

use std::collections::BTreeMap;

use raptor_store::market::{self, Listing, ListingChanges};
use raptor_store::StoreError;

use crate::alpaca::{AlpacaAssets, WireAsset};
use crate::text;
use crate::App;

/// Longest ticker kept (Alpaca's are at most a dozen characters).
const MAX_TICKER: usize = 32;
/// Longest name kept; longer ones are cut.
const MAX_NAME: usize = 200;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetImport {
    /// Assets Alpaca listed.
    pub listed: usize,
    /// What changed in the catalogue.
    pub changes: ListingChanges,
    /// Assets left out, each with why (a malformed ticker, an unknown status).
    pub skipped: Vec<String>,
}

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AssetImportError {
    /// Alpaca could not be asked, or refused.
    #[error("{0}")]
    Alpaca(String),
    /// The store failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads Alpaca's US equities and writes them into the catalogue in one transaction.
pub async fn import(app: &App, source: &AlpacaAssets) -> Result<AssetImport, AssetImportError> {
    let assets = source
        .assets("us_equity")
        .await
        .map_err(AssetImportError::Alpaca)?;
    let listed = assets.len();
    let mut skipped = Vec::new();
    // One listing per ticker: Alpaca may list a delisted asset beside a new one of the same
    // ticker, and the active one is the one orders go to.
    let mut by_ticker: BTreeMap<String, Listing> = BTreeMap::new();
    for asset in assets {
        match asset.and_then(listing) {
            Ok(listing) => {
                let keep = by_ticker
                    .get(&listing.ticker)
                    .is_none_or(|kept| listing.active || !kept.active);
                if keep {
                    by_ticker.insert(listing.ticker.clone(), listing);
                }
            }
            Err(why) => skipped.push(why),
        }
    }
    let listings: Vec<Listing> = by_ticker.into_values().collect();
    let changes = market::upsert_listings(&app.db, &listings, app.now()).await?;
    Ok(AssetImport {
        listed,
        changes,
        skipped,
    })
}

/// An asset as the catalogue keeps it, or why it is left out.
fn listing(asset: WireAsset) -> Result<Listing, String> {
    let ticker = asset.symbol.trim().to_uppercase();
    let named = |why: String| format!("{:?}: {why}", asset.symbol);
    let graphic = ticker.chars().all(|c| c.is_ascii_graphic());
    if ticker.is_empty() || ticker.len() > MAX_TICKER || !graphic {
        return Err(named("not a ticker".into()));
    }
    let active = match asset.status.as_str() {
        "active" => true,
        "inactive" => false,
        other => return Err(named(format!("unknown status {other:?}"))),
    };
    if asset.class != "us_equity" {
        return Err(named(format!("asset class {:?}", asset.class)));
    }
    let name: String = asset
        .name
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME)
        .collect();
    let exchange = text::single_line("exchange", asset.exchange.trim(), MAX_TICKER)
        .map_err(|e| named(e.to_string()))?
        .to_owned();
    Ok(Listing {
        ticker,
        name,
        exchange,
        asset_class: asset.class,
        active,
        tradable: asset.tradable,
        fractionable: asset.fractionable,
        vendor_asset_id: asset.id,
    })
}
