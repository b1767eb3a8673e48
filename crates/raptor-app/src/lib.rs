//! Raptor's use cases: the workflows behind every front door. The `/api` routes, the CLI and
//! (soon) the job worker and the trading stream call these functions with typed input and get
//! typed results and errors back; none of them knows about HTTP.
//!
//! The outside world is reached through ports held by [`App`]: the [`Clock`], the
//! [`Mailer`](mail::Mailer) and the [`BarSource`](market::BarSource), each with a real
//! implementation and one tests can control.

pub mod accounts;
pub mod activities;
pub mod alpaca;
pub mod api_keys;
pub mod assets;
pub mod audit;
pub mod backtest_portfolios;
pub mod backtests;
pub mod backup_codes;
pub mod billing;
pub mod ceremonies;
mod client;
pub mod clock;
pub mod credentials;
pub mod customers;
pub mod decoys;
pub mod email_links;
pub mod email_verification;
pub mod hashing;
pub mod health;
pub mod history;
pub mod jobs;
pub mod limits;
pub mod mail;
pub mod market;
pub mod marketing;
pub mod metrics;
pub mod passkeys;
pub mod portfolio;
pub mod roles;
pub mod secrets;
pub mod series;
pub mod sessions;
pub mod settings;
pub mod settled;
pub mod stock_bars;
pub mod support;
pub mod sweeps;
#[cfg(test)]
mod test_support;
pub mod text;
pub mod times;
pub mod traces;
pub mod trade_updates;
pub mod trading;
pub mod upkeep;
pub mod watchlists;
pub mod webhooks;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use raptor_store::Db;

pub use client::Client;
pub use clock::{Clock, FixedClock, SystemClock};

/// What every use case can reach: the database and the ports. Cheap to clone.
#[derive(Clone, Debug)]
pub struct App {
    /// The application's database.
    pub db: Db,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
    /// Outbound email.
    pub mailer: Arc<dyn mail::Mailer>,
    /// Where missing bars are fetched from (None: answer from what is stored).
    pub bar_source: Option<Arc<dyn market::BarSource>>,
    /// What the use cases count for `/metrics`, shared by the app's clones.
    pub metrics: Arc<metrics::Metrics>,
    /// The bounded pool every Argon2 hash runs on, shared by the app's clones.
    pub hashing: Arc<hashing::HashingPool>,
    /// Health checks in flight, shared by the app's clones.
    pub health: Arc<health::Checks>,
    /// The trade-update streams open on this server, shared by the app's clones.
    pub trade_updates: Arc<trade_updates::Hub>,
    /// Most bars a backtest may span and still be answered at once; longer ones are queued.
    pub inline_bars: i64,
    /// Bar series loaded for backtests, kept for the runs that read them again.
    pub series: Arc<series::SeriesCache>,
    /// Facts that cannot change once true, kept by this process, shared by the app's clones.
    pub settled: Arc<settled::Settled>,
    /// The decoy-id key once read from the database, shared by the app's clones.
    decoy_key: Arc<tokio::sync::OnceCell<Vec<u8>>>,
    /// Whether `mailer` is the default outbox, which stamps rows with `clock`.
    mailer_is_outbox: bool,
}

impl App {
    /// An app over `db` on the system clock, mailing into the database's outbox, with no bar
    /// source.
    pub fn new(db: Db) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Self {
            mailer: Arc::new(mail::OutboxMailer::new(db.clone(), clock.clone())),
            db,
            clock,
            bar_source: None,
            metrics: Arc::default(),
            hashing: Arc::default(),
            health: Arc::default(),
            trade_updates: Arc::default(),
            inline_bars: backtests::INLINE_BARS,
            series: Arc::default(),
            settled: Arc::default(),
            decoy_key: Arc::default(),
            mailer_is_outbox: true,
        }
    }

    /// Sends email through `mailer`.
    pub fn with_mailer(mut self, mailer: Arc<dyn mail::Mailer>) -> Self {
        self.mailer = mailer;
        self.mailer_is_outbox = false;
        self
    }

    /// Answers backtests spanning at most `bars` bars at once, and queues longer ones.
    pub fn with_inline_bars(mut self, bars: i64) -> Self {
        self.inline_bars = bars;
        self
    }

    /// Keeps at most `bytes` of loaded bar series in memory (0: none).
    pub fn with_series_cache(mut self, bytes: usize) -> Self {
        self.series = Arc::new(series::SeriesCache::new(bytes));
        self
    }

    /// Reads the time from `clock` (the default outbox too).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        if self.mailer_is_outbox {
            self.mailer = Arc::new(mail::OutboxMailer::new(self.db.clone(), clock.clone()));
        }
        self.clock = clock;
        self
    }

    /// Fetches missing bars from `source` (cache-through).
    pub fn with_bar_source(mut self, source: Arc<dyn market::BarSource>) -> Self {
        self.bar_source = Some(source);
        self
    }

    /// Now, by the app's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
