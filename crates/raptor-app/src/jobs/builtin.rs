//! The handlers every Raptor process runs.

use chrono::Duration;
use raptor_store::jobs;
use serde_json::Value;

use super::{Handler, JobFuture, Registry};
use crate::{trading, upkeep, App};

/// Fills resting orders against new bars and expires day orders after the close.
pub const TRADING_MATCH: &str = "trading.match";
/// Removes expired rows and keeps trace partitions ahead.
pub const UPKEEP: &str = "upkeep";
/// Prunes finished jobs (workers themselves take back jobs whose worker died).
pub const JOBS_MAINTAIN: &str = "jobs.maintain";

/// Succeeded jobs are kept this long (at least two periods of the longest schedule).
const KEEP_SUCCEEDED: Duration = Duration::days(1);
/// Failed and canceled jobs are kept this long, for operators to look at or retry.
const KEEP_FAILED: Duration = Duration::days(14);

/// The handlers of the built-in kinds, outgoing mail's and queued backtests' included.
pub fn standard() -> Registry {
    let registry = Registry::default()
        .with(TRADING_MATCH, TradingMatch)
        .with(UPKEEP, Upkeep)
        .with(JOBS_MAINTAIN, Maintain);
    crate::backtests::register(crate::mail::delivery::register(registry))
}

struct TradingMatch;

impl Handler for TradingMatch {
    fn run<'a>(&'a self, app: &'a App, _: &'a Value) -> JobFuture<'a> {
        Box::pin(async move {
            let m = trading::match_all(app).await?;
            if m.filled + m.rejected + m.expired > 0 {
                tracing::info!(
                    filled = m.filled,
                    rejected = m.rejected,
                    expired = m.expired,
                    "trading runtime pass"
                );
            }
            Ok(())
        })
    }
}

struct Upkeep;

impl Handler for Upkeep {
    fn run<'a>(&'a self, app: &'a App, _: &'a Value) -> JobFuture<'a> {
        Box::pin(async move {
            let swept = upkeep::sweep_expired(app).await?;
            if swept != upkeep::Swept::default() {
                tracing::debug!(
                    ceremonies = swept.ceremonies,
                    windows = swept.rate_limit_windows,
                    sessions = swept.sessions,
                    tokens = swept.tokens,
                    trade_updates = swept.trade_updates,
                    abandoned_backtests = swept.abandoned_backtests,
                    "swept expired rows"
                );
            }
            if let Err(err) = upkeep::keep_trace_partitions_ahead(app).await {
                // Not worth a retry storm: the next tick tries again.
                tracing::warn!(
                    %err,
                    "keeping trace partitions ahead failed; new traces wait in the DEFAULT \
                     partition (as the application role, run `raptor db roles --apply` once more \
                     as the owner)"
                );
            }
            Ok(())
        })
    }
}

struct Maintain;

impl Handler for Maintain {
    fn run<'a>(&'a self, app: &'a App, _: &'a Value) -> JobFuture<'a> {
        Box::pin(async move {
            let now = app.now();
            jobs::prune(&app.db, now - KEEP_SUCCEEDED, now - KEEP_FAILED).await?;
            Ok(())
        })
    }
}
