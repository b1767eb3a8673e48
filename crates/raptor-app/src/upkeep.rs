//! Housekeeping that keeps the database small and ready: expired rows out, trace partitions
//! ahead of their first row. `serve` runs it every few minutes; any process may, at any time.

use chrono::Duration;
use raptor_store::{
    backtest_sweeps, backtests, passkeys, rate_limits, sessions, tokens, traces, trade_updates,
    StoreError,
};

use crate::App;

/// How long rate-limit windows are kept after they close.
const RATE_LIMIT_WINDOWS_KEPT: Duration = Duration::days(1);
/// How long ended sessions stay listed (a user's or an admin's view of recent sign-ins).
const ENDED_SESSIONS_KEPT: Duration = Duration::days(30);
/// How long expired sign-in links and bootstrap tokens are kept.
const EXPIRED_TOKENS_KEPT: Duration = Duration::days(1);
/// How long order updates are kept for streams that resume (`Last-Event-ID`).
const TRADE_UPDATES_KEPT: Duration = Duration::days(7);
/// Months of trace partitions kept ready beyond the current one.
const TRACE_MONTHS_AHEAD: i32 = 3;

/// What [`sweep_expired`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Passkey ceremonies past their expiry.
    pub ceremonies: u64,
    /// Rate-limit windows older than a day.
    pub rate_limit_windows: u64,
    /// Sessions that ended (expired or revoked) over 30 days ago.
    pub sessions: u64,
    /// Sign-in links and bootstrap tokens that expired over a day ago.
    pub tokens: u64,
    /// Order updates over a week old.
    pub trade_updates: u64,
    /// Queued backtests and sweeps ended as failed because their job ended without them.
    pub abandoned_backtests: u64,
}

/// Removes what can no longer be used: expired ceremonies, old rate-limit windows, long-ended
/// sessions, expired one-time tokens and week-old order updates; and ends as failed the
/// queued backtests and sweeps whose job ended without running them.
pub async fn sweep_expired(app: &App) -> Result<Swept, StoreError> {
    let now = app.now();
    Ok(Swept {
        ceremonies: passkeys::purge_ceremonies(&app.db, now).await?,
        rate_limit_windows: rate_limits::purge(&app.db, now - RATE_LIMIT_WINDOWS_KEPT).await?,
        sessions: sessions::purge_ended(&app.db, now - ENDED_SESSIONS_KEPT).await?,
        tokens: tokens::purge_expired(&app.db, now - EXPIRED_TOKENS_KEPT).await?,
        trade_updates: trade_updates::prune(&app.db, now - TRADE_UPDATES_KEPT).await?,
        abandoned_backtests: backtests::fail_abandoned(&app.db, now).await?
            + backtest_sweeps::fail_abandoned(&app.db, now).await?,
    })
}

/// Creates the trace partitions for this month and the next few (PostgreSQL; a no-op on
/// SQLite), and moves rows waiting in the DEFAULT partition into theirs.
pub async fn keep_trace_partitions_ahead(app: &App) -> Result<(), StoreError> {
    traces::ensure_partitions(&app.db, TRACE_MONTHS_AHEAD).await?;
    Ok(())
}
