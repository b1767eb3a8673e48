//! `raptor assets import`: the symbol catalogue from Alpaca's asset list.

use std::process::ExitCode;

use clap::Subcommand;
use raptor_app::alpaca::{AlpacaAssets, TRADING_URL};
use raptor_app::assets::{self, AssetImportError};
use raptor_app::App;
use raptor_store::DatabaseUrl;

use super::{connect_app, CliError};

/// Skipped assets printed one by one; past this, only how many more.
const SKIPS_SHOWN: usize = 20;

/// The symbol catalogue.
#[derive(Debug, Subcommand)]
pub enum AssetsCommand {
    /// Add every US equity Alpaca lists to the catalogue and bring the ones it has up to date
    /// (name, exchange, status, tradable, fractionable), by ticker, in one transaction. Needs
    /// ALPACA_API_KEY_ID / ALPACA_API_SECRET_KEY.
    Import {
        /// Alpaca settings (the keys).
        #[command(flatten)]
        alpaca: super::AlpacaArgs,
        /// Alpaca Trading API base URL (the paper and live hosts list the same assets).
        #[arg(long, env = "RAPTOR_ALPACA_TRADING_URL", default_value = TRADING_URL)]
        alpaca_trading_url: String,
    },
}

impl AssetsCommand {
    /// Runs the command.
    pub async fn run(self, url: &DatabaseUrl) -> Result<ExitCode, CliError> {
        let AssetsCommand::Import {
            alpaca,
            alpaca_trading_url,
        } = self;
        let (key, secret) = alpaca.keys().ok_or_else(|| {
            CliError::Refused(
                "set ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY to import from Alpaca".into(),
            )
        })?;
        let source = AlpacaAssets::new(&alpaca_trading_url, key, secret);
        let db = connect_app(url, false).await?;
        let result = assets::import(&App::new(db.clone()), &source).await;
        db.close().await;
        let done = result.map_err(|err| match err {
            AssetImportError::Alpaca(message) => CliError::Refused(message),
            AssetImportError::Store(err) => err.into(),
        })?;
        for why in done.skipped.iter().take(SKIPS_SHOWN) {
            out!("skipped {why}");
        }
        if done.skipped.len() > SKIPS_SHOWN {
            out!("… and {} more skipped", done.skipped.len() - SKIPS_SHOWN);
        }
        out!(
            "Alpaca listed {} assets: {} added, {} updated, {} skipped",
            done.listed,
            done.changes.added,
            done.changes.updated,
            done.skipped.len()
        );
        Ok(ExitCode::SUCCESS)
    }
}
