//! A single-instrument backtest engine.
//!
//! # Execution model
//!
//! - A [`Strategy`] looks at each bar's close and may ask for a position: long, short or
//!   flat. Under [`Direction::LongOnly`] a short signal asks for flat.
//! - The [`Execution`] decides the rest: a signal fills at the next bar's open (default; a
//!   signal on the last bar never fills) or at its own bar's close; buys pay `slippage_bps`
//!   above the price and sells that much below; each fill pays its [`Commission`].
//! - Reaching a new position first closes the one held, then opens the new one sized by
//!   [`Sizing`] from the equity after the close: whole shares, never more than that equity
//!   covers with the commission. A short sale adds its proceeds to cash.
//! - A position still open after the last bar is marked to market at the last close (no
//!   exit commission or slippage) and reported as a trade exiting there, with
//!   [`Trade::open_at_end`] set.
//!
//! Equity at each bar is `cash + qty × close`, `qty` negative when short. The engine does O(1)
//! work per bar and allocates only for the equity curve and the trades.

mod execution;
mod metrics;
mod portfolio;
mod strategy;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use execution::{Commission, Direction, Execution, Fill, Sizing, MAX_SLIPPAGE_BPS};
pub use metrics::{compare, downsample, Benchmark, Metrics};
pub use portfolio::{combine, Portfolio};
use strategy::Target;
pub use strategy::{Strategy, MAX_PERIOD};

use crate::InvalidInput;

/// One OHLCV price bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// The start of the bar.
    pub t: DateTime<Utc>,
    /// First traded price.
    pub open: f64,
    /// Highest traded price.
    pub high: f64,
    /// Lowest traded price.
    pub low: f64,
    /// Last traded price.
    pub close: f64,
    /// Shares traded.
    pub volume: f64,
}

/// Backtest settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Starting cash; must be positive.
    pub initial_cash: f64,
    /// Bars per year, for annualising Sharpe and Sortino (see `Timeframe::periods_per_year`).
    pub periods_per_year: f64,
    /// How signals fill.
    pub execution: Execution,
}

/// Which way a trade faced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeSide {
    /// Bought, then sold.
    Long,
    /// Sold short, then bought back.
    Short,
}

/// One round trip: an entry and the fill that closed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trade {
    /// Long or short.
    pub side: TradeSide,
    /// When the position was opened.
    pub entry_time: DateTime<Utc>,
    /// Fill price of the entry, slippage included.
    pub entry_price: f64,
    /// When the position was closed (the last bar's time if still open at the end).
    pub exit_time: DateTime<Utc>,
    /// Fill price of the exit, slippage included (the last close if still open at the end).
    pub exit_price: f64,
    /// Whole shares.
    pub qty: f64,
    /// Commission paid on the entry and the exit.
    pub fees: f64,
    /// Profit or loss in cash, after fees: `(exit − entry) × qty − fees`, the price difference
    /// reversed for a short.
    pub pnl: f64,
    /// `pnl` as a fraction of the entry's value, `entry_price × qty` (0.1 = +10%).
    pub return_pct: f64,
    /// True when the position was still open after the last bar and is only marked to market.
    pub open_at_end: bool,
}

/// Everything a backtest produces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Summary statistics.
    pub metrics: Metrics,
    /// Round trips, oldest first.
    pub trades: Vec<Trade>,
    /// Equity at each bar's close, one point per bar.
    pub equity_curve: Vec<(DateTime<Utc>, f64)>,
    /// Number of bars the engine stepped through.
    pub bars_processed: usize,
}

/// Why a backtest could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BacktestError {
    /// The bar series is empty.
    #[error("no bars to backtest")]
    NoBars,
    /// A strategy parameter or execution setting breaks its rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The starting cash is zero, negative or not a number.
    #[error("initial cash must be positive (got {0})")]
    NonPositiveCash(f64),
    /// The annualisation factor is zero, negative or not a number.
    #[error("periods per year must be positive (got {0})")]
    NonPositivePeriodsPerYear(f64),
    /// A bar is not strictly later than the one before it.
    #[error(
        "bars must be strictly increasing in time: bar {index} at {t} does not follow {previous}"
    )]
    BarsOutOfOrder {
        /// Position of the offending bar.
        index: usize,
        /// Its time.
        t: DateTime<Utc>,
        /// The previous bar's time.
        previous: DateTime<Utc>,
    },
    /// A bar's price is NaN, infinite, zero or negative.
    #[error("bar {index} at {t} has {price} {value}; prices must be finite and positive")]
    InvalidPrice {
        /// Position of the offending bar.
        index: usize,
        /// Its time.
        t: DateTime<Utc>,
        /// Which price: open, high, low or close.
        price: &'static str,
        /// The rejected value.
        value: f64,
    },
}

fn check_bar(bars: &[Bar], i: usize) -> Result<(), BacktestError> {
    let bar = &bars[i];
    for (price, value) in [
        ("open", bar.open),
        ("high", bar.high),
        ("low", bar.low),
        ("close", bar.close),
    ] {
        if !(value.is_finite() && value > 0.0) {
            return Err(BacktestError::InvalidPrice {
                index: i,
                t: bar.t,
                price,
                value,
            });
        }
    }
    if i > 0 && bars[i - 1].t >= bar.t {
        return Err(BacktestError::BarsOutOfOrder {
            index: i,
            t: bar.t,
            previous: bars[i - 1].t,
        });
    }
    Ok(())
}

/// The position held: `qty` shares, negative when short.
struct Holding {
    qty: f64,
    entry_time: DateTime<Utc>,
    entry_price: f64,
    entry_fees: f64,
}

/// Cash, the position and what trading them has cost.
struct Book {
    execution: Execution,
    cash: f64,
    holding: Option<Holding>,
    trades: Vec<Trade>,
    /// Value of every fill, for turnover.
    traded: f64,
    fees: f64,
}

impl Book {
    fn side(&self) -> Target {
        match &self.holding {
            None => Target::Flat,
            Some(h) if h.qty > 0.0 => Target::Long,
            Some(_) => Target::Short,
        }
    }

    fn qty(&self) -> f64 {
        self.holding.as_ref().map_or(0.0, |h| h.qty)
    }

    /// Records the round trip of `holding` exiting at `price` at `t`.
    fn trade(&mut self, h: Holding, t: DateTime<Utc>, price: f64, exit_fees: f64, open: bool) {
        let fees = h.entry_fees + exit_fees;
        let pnl = h.qty * (price - h.entry_price) - fees;
        let qty = h.qty.abs();
        self.trades.push(Trade {
            side: if h.qty > 0.0 {
                TradeSide::Long
            } else {
                TradeSide::Short
            },
            entry_time: h.entry_time,
            entry_price: h.entry_price,
            exit_time: t,
            exit_price: price,
            qty,
            fees,
            pnl,
            return_pct: pnl / (h.entry_price * qty),
            open_at_end: open,
        });
    }

    /// Trades at `price` (before slippage) at `t` until the book holds `target`.
    fn execute(&mut self, target: Target, price: f64, t: DateTime<Utc>) {
        if target == self.side() {
            return;
        }
        if let Some(h) = self.holding.take() {
            let fill = self.execution.slipped(price, h.qty < 0.0);
            let fee = self.execution.commission.cost(h.qty.abs(), fill);
            self.cash += h.qty * fill - fee;
            self.traded += h.qty.abs() * fill;
            self.fees += fee;
            self.trade(h, t, fill, fee, false);
        }
        let sign = match target {
            Target::Flat => return,
            Target::Long => 1.0,
            Target::Short => -1.0,
        };
        let fill = self.execution.slipped(price, sign > 0.0);
        let qty = self.execution.shares(self.cash, fill);
        if qty <= 0.0 {
            return;
        }
        let fee = self.execution.commission.cost(qty, fill);
        self.cash -= sign * qty * fill + fee;
        self.traded += qty * fill;
        self.fees += fee;
        self.holding = Some(Holding {
            qty: sign * qty,
            entry_time: t,
            entry_price: fill,
            entry_fees: fee,
        });
    }
}

/// Bars checked once for every run over them: at least one, strictly increasing times,
/// finite positive prices.
#[derive(Debug, Clone, Copy)]
pub struct CheckedBars<'a>(&'a [Bar]);

impl<'a> CheckedBars<'a> {
    /// Checks `bars` (oldest first).
    pub fn new(bars: &'a [Bar]) -> Result<Self, BacktestError> {
        if bars.is_empty() {
            return Err(BacktestError::NoBars);
        }
        for i in 0..bars.len() {
            check_bar(bars, i)?;
        }
        Ok(Self(bars))
    }
}

/// Runs `strategy` over `bars` (oldest first) under the module's execution model.
pub fn run(bars: &[Bar], strategy: &Strategy, config: &Config) -> Result<Outcome, BacktestError> {
    let checked = CheckedBars::new(bars)?;
    let mut equity_curve = Vec::with_capacity(bars.len());
    let (metrics, trades) = simulate(checked, strategy, config, |t, equity| {
        equity_curve.push((t, equity));
    })?;
    Ok(Outcome {
        metrics,
        trades,
        equity_curve,
        bars_processed: bars.len(),
    })
}

/// [`run`]'s metrics alone, without keeping the equity curve (for sweeps, which check their
/// bars once for every run).
pub fn metrics_of(
    bars: CheckedBars<'_>,
    strategy: &Strategy,
    config: &Config,
) -> Result<Metrics, BacktestError> {
    simulate(bars, strategy, config, |_, _| {}).map(|(metrics, _)| metrics)
}

/// Steps through the bars, telling `on_equity` the equity at each close; the metrics and the
/// trades.
fn simulate(
    CheckedBars(bars): CheckedBars<'_>,
    strategy: &Strategy,
    config: &Config,
    mut on_equity: impl FnMut(DateTime<Utc>, f64),
) -> Result<(Metrics, Vec<Trade>), BacktestError> {
    strategy.validate()?;
    config.execution.validate()?;
    if !(config.initial_cash.is_finite() && config.initial_cash > 0.0) {
        return Err(BacktestError::NonPositiveCash(config.initial_cash));
    }
    if !(config.periods_per_year.is_finite() && config.periods_per_year > 0.0) {
        return Err(BacktestError::NonPositivePeriodsPerYear(
            config.periods_per_year,
        ));
    }

    let execution = config.execution;
    let mut signals = strategy.signals();
    let mut book = Book {
        execution,
        cash: config.initial_cash,
        holding: None,
        trades: Vec::new(),
        traded: 0.0,
        fees: 0.0,
    };
    let mut pending: Option<Target> = None;
    let mut held_bars = 0_usize;
    let mut curve = metrics::Curve::default();

    for i in 0..bars.len() {
        let bar = &bars[i];
        if let Some(target) = pending.take() {
            book.execute(target, bar.open, bar.t);
        }
        let wanted = signals.step(bars, i).map(|target| match target {
            Target::Short if execution.direction == Direction::LongOnly => Target::Flat,
            target => target,
        });
        if let Some(target) = wanted {
            match execution.fill {
                Fill::SignalClose => book.execute(target, bar.close, bar.t),
                Fill::NextOpen => pending = Some(target),
            }
        }
        if book.holding.is_some() {
            held_bars += 1;
        }
        let equity = book.cash + book.qty() * bar.close;
        curve.push(bar.t, equity);
        on_equity(bar.t, equity);
    }

    let last = bars[bars.len() - 1];
    if let Some(h) = book.holding.take() {
        book.trade(h, last.t, last.close, 0.0, true);
    }

    let metrics = metrics::compute(
        &curve,
        &book.trades,
        config,
        metrics::Activity {
            exposure: held_bars as f64 / bars.len() as f64,
            traded: book.traded,
            fees: book.fees,
        },
    );
    Ok((metrics, book.trades))
}

#[cfg(test)]
mod tests;
