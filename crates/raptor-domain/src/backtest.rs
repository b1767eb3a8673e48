//! A single-instrument backtest engine.
//!
//! # Execution model
//!
//! - Signals are evaluated on each bar's close and filled at that same close.
//! - Positions are long only and all-in with whole shares: a buy takes
//!   `qty = floor(cash / close)` shares and leaves the remainder as cash; a sell closes the
//!   whole position. There are no fees, slippage or interest.
//! - [`Strategy::BuyAndHold`] buys on the first bar's close and holds.
//! - [`Strategy::SmaCrossover`] tracks simple moving averages of closes. Once both are
//!   defined, it buys (if flat) when the fast average crosses above the slow one — above now,
//!   at or below on the previous bar where both were defined — and sells (if long) when it
//!   crosses below. Averages within a relative 1e-9 of each other count as equal, so rounding
//!   noise in the running sums never fakes a crossing.
//! - A position still open after the last bar is marked to market at the last close and
//!   reported as a trade exiting there, with [`Trade::open_at_end`] set.
//!
//! Equity at each bar is `cash + qty * close`. The engine does O(1) work per bar with running
//! sums, and allocates only for the equity curve and the trades.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
    /// Last traded price; the only price the engine trades at.
    pub close: f64,
    /// Shares traded.
    pub volume: f64,
}

/// Longest slow moving-average window a crossover may use.
pub const MAX_SMA_PERIOD: usize = 10_000;

/// A trading strategy, tagged on the wire by `"type"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Strategy {
    /// Buy on the first bar and hold to the end.
    BuyAndHold,
    /// Go long when the fast SMA crosses above the slow SMA, flat when it crosses below.
    SmaCrossover {
        /// Bars in the fast average.
        fast: usize,
        /// Bars in the slow average.
        slow: usize,
    },
}

/// A strategy whose parameters break one of its rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidStrategy {
    /// The fast period is zero.
    #[error("the fast period must be at least 1 (got {fast})")]
    FastTooShort {
        /// The rejected fast period.
        fast: usize,
    },
    /// The slow period is not longer than the fast one.
    #[error("the slow period must be greater than the fast period (got fast {fast}, slow {slow})")]
    SlowNotAboveFast {
        /// The fast period.
        fast: usize,
        /// The rejected slow period.
        slow: usize,
    },
    /// The slow period exceeds [`MAX_SMA_PERIOD`].
    #[error("the slow period must be at most 10000 (got {slow})")]
    SlowTooLong {
        /// The rejected slow period.
        slow: usize,
    },
}

impl Strategy {
    /// Checks the parameters: `fast >= 1`, `slow > fast`, `slow <= 10000`.
    pub fn validate(&self) -> Result<(), InvalidStrategy> {
        match *self {
            Strategy::BuyAndHold => Ok(()),
            Strategy::SmaCrossover { fast, slow } => {
                if fast < 1 {
                    Err(InvalidStrategy::FastTooShort { fast })
                } else if slow <= fast {
                    Err(InvalidStrategy::SlowNotAboveFast { fast, slow })
                } else if slow > MAX_SMA_PERIOD {
                    Err(InvalidStrategy::SlowTooLong { slow })
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The wire name of the strategy type: "buy_and_hold" or "sma_crossover".
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::BuyAndHold => "buy_and_hold",
            Strategy::SmaCrossover { .. } => "sma_crossover",
        }
    }
}

/// Backtest settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Starting cash; must be positive.
    pub initial_cash: f64,
    /// Bars per year, for annualising Sharpe and Sortino (see `Timeframe::periods_per_year`).
    pub periods_per_year: f64,
}

/// One round trip: a buy and the sell that closed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trade {
    /// When the position was opened.
    pub entry_time: DateTime<Utc>,
    /// Fill price of the buy.
    pub entry_price: f64,
    /// When the position was closed (the last bar's time if still open at the end).
    pub exit_time: DateTime<Utc>,
    /// Fill price of the sell (the last close if still open at the end).
    pub exit_price: f64,
    /// Whole shares held.
    pub qty: f64,
    /// Profit or loss in cash: `(exit_price - entry_price) * qty`.
    pub pnl: f64,
    /// Return as a fraction of the entry price: `exit_price / entry_price - 1` (0.1 = +10%).
    pub return_pct: f64,
    /// True when the position was still open after the last bar and is only marked to market.
    pub open_at_end: bool,
}

/// Summary statistics of a backtest. Returns and drawdowns are fractions (0.1 = 10%).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// `final_equity / initial_cash - 1`.
    pub total_return: f64,
    /// Compound annual growth rate over the bars' time span; `None` for a zero-length span.
    pub cagr: Option<f64>,
    /// Largest peak-to-trough fall of equity, as a positive fraction of the peak.
    pub max_drawdown: f64,
    /// Annualised Sharpe ratio of per-bar returns (risk-free rate 0); `None` if undefined.
    pub sharpe: Option<f64>,
    /// Annualised Sortino ratio of per-bar returns (target 0); `None` if undefined.
    pub sortino: Option<f64>,
    /// The annualisation factor used.
    pub periods_per_year: f64,
    /// Share of trades with positive P&L; `None` without trades.
    pub win_rate: Option<f64>,
    /// Gross profit over gross loss; `None` without a losing trade.
    pub profit_factor: Option<f64>,
    /// Number of trades, including one still open at the end.
    pub trades: usize,
    /// Equity after the last bar.
    pub final_equity: f64,
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
    /// The strategy's parameters are invalid.
    #[error("invalid strategy: {0}")]
    InvalidStrategy(#[from] InvalidStrategy),
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
    /// A bar's close is NaN, infinite, zero or negative.
    #[error("bar {index} at {t} has close {close}; closes must be finite and positive")]
    InvalidClose {
        /// Position of the offending bar.
        index: usize,
        /// Its time.
        t: DateTime<Utc>,
        /// The rejected close.
        close: f64,
    },
}

/// Relative tolerance under which two moving averages count as equal.
const SMA_TOLERANCE: f64 = 1e-9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Below,
    Level,
    Above,
}

fn compare(fast: f64, slow: f64) -> Side {
    if (fast - slow).abs() <= SMA_TOLERANCE * fast.abs().max(slow.abs()) {
        Side::Level
    } else if fast > slow {
        Side::Above
    } else {
        Side::Below
    }
}

/// Running fast/slow sums of closes, refreshed from scratch every `slow` bars so that
/// floating-point drift stays bounded on long series.
struct Averages {
    fast: usize,
    slow: usize,
    fast_sum: f64,
    slow_sum: f64,
}

impl Averages {
    /// Adds bar `i` and returns `(fast, slow)` averages once both windows are full.
    fn step(&mut self, bars: &[Bar], i: usize) -> Option<(f64, f64)> {
        let close = bars[i].close;
        self.fast_sum += close;
        self.slow_sum += close;
        if i >= self.fast {
            self.fast_sum -= bars[i - self.fast].close;
        }
        if i >= self.slow {
            self.slow_sum -= bars[i - self.slow].close;
        }
        if i + 1 < self.slow {
            return None;
        }
        if (i + 1) % self.slow == 0 {
            self.fast_sum = bars[i + 1 - self.fast..=i].iter().map(|b| b.close).sum();
            self.slow_sum = bars[i + 1 - self.slow..=i].iter().map(|b| b.close).sum();
        }
        Some((
            self.fast_sum / self.fast as f64,
            self.slow_sum / self.slow as f64,
        ))
    }
}

struct Position {
    entry_time: DateTime<Utc>,
    entry_price: f64,
    qty: f64,
}

fn close_trade(
    p: &Position,
    exit_time: DateTime<Utc>,
    exit_price: f64,
    open_at_end: bool,
) -> Trade {
    Trade {
        entry_time: p.entry_time,
        entry_price: p.entry_price,
        exit_time,
        exit_price,
        qty: p.qty,
        pnl: (exit_price - p.entry_price) * p.qty,
        return_pct: exit_price / p.entry_price - 1.0,
        open_at_end,
    }
}

fn check_bar(bars: &[Bar], i: usize) -> Result<(), BacktestError> {
    let bar = &bars[i];
    if !(bar.close.is_finite() && bar.close > 0.0) {
        return Err(BacktestError::InvalidClose {
            index: i,
            t: bar.t,
            close: bar.close,
        });
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

/// Runs `strategy` over `bars` (oldest first) under the module's execution model.
pub fn run(bars: &[Bar], strategy: &Strategy, config: &Config) -> Result<Outcome, BacktestError> {
    if bars.is_empty() {
        return Err(BacktestError::NoBars);
    }
    strategy.validate()?;
    if !(config.initial_cash.is_finite() && config.initial_cash > 0.0) {
        return Err(BacktestError::NonPositiveCash(config.initial_cash));
    }
    if !(config.periods_per_year.is_finite() && config.periods_per_year > 0.0) {
        return Err(BacktestError::NonPositivePeriodsPerYear(
            config.periods_per_year,
        ));
    }

    let mut averages = match *strategy {
        Strategy::SmaCrossover { fast, slow } => Some(Averages {
            fast,
            slow,
            fast_sum: 0.0,
            slow_sum: 0.0,
        }),
        Strategy::BuyAndHold => None,
    };
    let mut previous_side: Option<Side> = None;
    let mut cash = config.initial_cash;
    let mut position: Option<Position> = None;
    let mut trades = Vec::new();
    let mut equity_curve = Vec::with_capacity(bars.len());

    for i in 0..bars.len() {
        check_bar(bars, i)?;
        let bar = &bars[i];
        let price = bar.close;

        let (buy, sell) = match averages.as_mut() {
            None => (i == 0, false),
            Some(avg) => match avg.step(bars, i) {
                None => (false, false),
                Some((fast, slow)) => {
                    let side = compare(fast, slow);
                    let signals = match previous_side {
                        Some(prev) => (
                            side == Side::Above && prev != Side::Above,
                            side == Side::Below && prev != Side::Below,
                        ),
                        None => (false, false),
                    };
                    previous_side = Some(side);
                    signals
                }
            },
        };

        if buy && position.is_none() {
            let qty = (cash / price).floor();
            if qty >= 1.0 {
                cash -= qty * price;
                position = Some(Position {
                    entry_time: bar.t,
                    entry_price: price,
                    qty,
                });
            }
        } else if sell {
            if let Some(p) = position.take() {
                cash += p.qty * price;
                trades.push(close_trade(&p, bar.t, price, false));
            }
        }

        let held = position.as_ref().map_or(0.0, |p| p.qty);
        equity_curve.push((bar.t, cash + held * price));
    }

    let last = bars[bars.len() - 1];
    if let Some(p) = position.take() {
        trades.push(close_trade(&p, last.t, last.close, true));
    }

    let metrics = compute_metrics(bars[0].t, &equity_curve, &trades, config);
    Ok(Outcome {
        metrics,
        trades,
        equity_curve,
        bars_processed: bars.len(),
    })
}

/// Streaming mean/variance (Welford) and downside deviation of per-bar returns.
#[derive(Debug, Default)]
struct ReturnStats {
    n: usize,
    mean: f64,
    m2: f64,
    downside_sq: f64,
}

impl ReturnStats {
    fn push(&mut self, r: f64) {
        self.n += 1;
        let delta = r - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (r - self.mean);
        let down = r.min(0.0);
        self.downside_sq += down * down;
    }

    /// `mean / sample stdev * sqrt(ppy)`; `None` with fewer than 2 returns or no variation
    /// (a stdev that is zero, or only rounding noise next to the mean).
    fn sharpe(&self, periods_per_year: f64) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let stdev = (self.m2 / (self.n - 1) as f64).sqrt();
        if stdev.is_nan() || stdev <= 1e-12 * self.mean.abs() {
            return None;
        }
        Some(self.mean / stdev * periods_per_year.sqrt())
    }

    /// `mean / downside deviation * sqrt(ppy)`, the downside deviation averaging `min(r, 0)²`
    /// over all returns; `None` with fewer than 2 returns or no losing bar.
    fn sortino(&self, periods_per_year: f64) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let downside = (self.downside_sq / self.n as f64).sqrt();
        if downside.is_nan() || downside <= 0.0 {
            return None;
        }
        Some(self.mean / downside * periods_per_year.sqrt())
    }
}

fn max_drawdown(equity: impl IntoIterator<Item = f64>) -> f64 {
    let mut peak = f64::NEG_INFINITY;
    let mut worst = 0.0_f64;
    for e in equity {
        peak = peak.max(e);
        if peak > 0.0 {
            worst = worst.max((peak - e) / peak);
        }
    }
    worst
}

fn compute_metrics(
    start: DateTime<Utc>,
    curve: &[(DateTime<Utc>, f64)],
    trades: &[Trade],
    config: &Config,
) -> Metrics {
    let initial = config.initial_cash;
    let (end, final_equity) = curve.last().copied().unwrap_or((start, initial));

    let mut stats = ReturnStats::default();
    for pair in curve.windows(2) {
        stats.push(pair[1].1 / pair[0].1 - 1.0);
    }

    let years = (end - start).as_seconds_f64() / (365.25 * 86_400.0);
    let cagr = (years > 0.0).then(|| (final_equity / initial).powf(1.0 / years) - 1.0);

    let wins = trades.iter().filter(|t| t.pnl > 0.0).count();
    let gross_profit: f64 = trades.iter().map(|t| t.pnl.max(0.0)).sum();
    let has_loss = trades.iter().any(|t| t.pnl < 0.0);
    let gross_loss: f64 = trades.iter().map(|t| t.pnl.min(0.0)).sum::<f64>().abs();

    Metrics {
        total_return: final_equity / initial - 1.0,
        cagr,
        max_drawdown: max_drawdown(curve.iter().map(|p| p.1)),
        sharpe: stats.sharpe(config.periods_per_year),
        sortino: stats.sortino(config.periods_per_year),
        periods_per_year: config.periods_per_year,
        win_rate: (!trades.is_empty()).then(|| wins as f64 / trades.len() as f64),
        profit_factor: has_loss.then(|| gross_profit / gross_loss),
        trades: trades.len(),
        final_equity,
    }
}

/// Thins `curve` to at most `max_points`, keeping the first and last points and evenly spaced
/// ones in between (`max_points == 1` keeps only the last point).
pub fn downsample(curve: &[(DateTime<Utc>, f64)], max_points: usize) -> Vec<(DateTime<Utc>, f64)> {
    let n = curve.len();
    if n <= max_points {
        return curve.to_vec();
    }
    match max_points {
        0 => Vec::new(),
        1 => curve[n - 1..].to_vec(),
        m => (0..m)
            .map(|i| {
                let index = (i as u128 * (n - 1) as u128 / (m - 1) as u128) as usize;
                curve[index]
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 21, 0, 0)
            .single()
            .expect("valid time")
    }

    fn bars_from_closes(closes: &[f64]) -> Vec<Bar> {
        closes
            .iter()
            .enumerate()
            .map(|(i, &c)| Bar {
                t: t0() + Duration::days(i as i64),
                open: c,
                high: c,
                low: c,
                close: c,
                volume: 1_000.0,
            })
            .collect()
    }

    fn config(cash: f64) -> Config {
        Config {
            initial_cash: cash,
            periods_per_year: 252.0,
        }
    }

    fn close_to(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn buy_and_hold_buys_whole_shares_on_the_first_close_and_marks_to_market() {
        let bars = bars_from_closes(&[10.0, 11.0, 12.1]);
        let out = run(&bars, &Strategy::BuyAndHold, &config(100.0)).expect("runs");
        let equity: Vec<f64> = out.equity_curve.iter().map(|p| p.1).collect();
        assert!(close_to(equity[0], 100.0));
        assert!(close_to(equity[1], 110.0));
        assert!(close_to(equity[2], 121.0));
        assert!(close_to(out.metrics.final_equity, 121.0));
        assert!(close_to(out.metrics.total_return, 0.21));
        assert_eq!(
            out.metrics.sharpe, None,
            "two equal returns have zero stdev"
        );
        assert_eq!(out.metrics.sortino, None, "no losing bar");
        assert_eq!(out.metrics.max_drawdown, 0.0);
        assert_eq!(out.bars_processed, 3);
        assert_eq!(out.trades.len(), 1);
        let trade = &out.trades[0];
        assert_eq!(trade.qty, 10.0);
        assert_eq!(trade.entry_price, 10.0);
        assert_eq!(trade.exit_price, 12.1);
        assert!(close_to(trade.pnl, 21.0));
        assert!(close_to(trade.return_pct, 0.21));
        assert!(trade.open_at_end);
        assert_eq!(out.metrics.win_rate, Some(1.0));
        assert_eq!(out.metrics.profit_factor, None);
    }

    #[test]
    fn buy_and_hold_leaves_leftover_cash_uninvested() {
        // floor(100 / 30) = 3 shares, 10 cash left; 3 * 40 + 10 = 130.
        let bars = bars_from_closes(&[30.0, 40.0]);
        let out = run(&bars, &Strategy::BuyAndHold, &config(100.0)).expect("runs");
        assert_eq!(out.trades[0].qty, 3.0);
        assert!(close_to(out.metrics.final_equity, 130.0));
    }

    #[test]
    fn buy_and_hold_without_enough_cash_for_one_share_stays_flat() {
        let bars = bars_from_closes(&[150.0, 200.0]);
        let out = run(&bars, &Strategy::BuyAndHold, &config(100.0)).expect("runs");
        assert!(out.trades.is_empty());
        assert_eq!(out.metrics.final_equity, 100.0);
        assert_eq!(out.metrics.win_rate, None);
    }

    #[test]
    fn sma_1_2_crossover_trades_on_crossings_with_hand_computed_pnl() {
        // slow = SMA2:        -   9.5  8.5  9    11   11.5  10   9.5  9.5
        // fast vs slow:       -   <    <    >    >    <     <    >    <
        // buy 10 @ 10 (bar 3), sell @ 11 (bar 5): +10; buy 11 @ 10 (bar 7), sell @ 9 (bar 8): -11.
        let bars = bars_from_closes(&[10.0, 9.0, 8.0, 10.0, 12.0, 11.0, 9.0, 10.0, 9.0]);
        let strategy = Strategy::SmaCrossover { fast: 1, slow: 2 };
        let out = run(&bars, &strategy, &config(100.0)).expect("runs");

        assert_eq!(out.trades.len(), 2);
        let first = &out.trades[0];
        assert_eq!((first.entry_time, first.exit_time), (bars[3].t, bars[5].t));
        assert_eq!(
            (first.entry_price, first.exit_price, first.qty),
            (10.0, 11.0, 10.0)
        );
        assert!(close_to(first.pnl, 10.0));
        assert!(close_to(first.return_pct, 0.1));
        assert!(!first.open_at_end);
        let second = &out.trades[1];
        assert_eq!(
            (second.entry_time, second.exit_time),
            (bars[7].t, bars[8].t)
        );
        assert_eq!(
            (second.entry_price, second.exit_price, second.qty),
            (10.0, 9.0, 11.0)
        );
        assert!(close_to(second.pnl, -11.0));
        assert!(close_to(second.return_pct, -0.1));

        let equity: Vec<f64> = out.equity_curve.iter().map(|p| p.1).collect();
        assert_eq!(
            equity,
            vec![100.0, 100.0, 100.0, 100.0, 120.0, 110.0, 110.0, 110.0, 99.0]
        );
        let m = &out.metrics;
        assert!(close_to(m.total_return, -0.01));
        assert!(close_to(m.max_drawdown, 21.0 / 120.0));
        assert_eq!(m.trades, 2);
        assert_eq!(m.win_rate, Some(0.5));
        assert!(close_to(m.profit_factor.expect("one loser"), 10.0 / 11.0));
    }

    #[test]
    fn sma_crossover_open_position_is_closed_at_the_last_close_for_statistics() {
        let bars = bars_from_closes(&[10.0, 9.0, 8.0, 10.0, 12.0]);
        let strategy = Strategy::SmaCrossover { fast: 1, slow: 2 };
        let out = run(&bars, &strategy, &config(100.0)).expect("runs");
        assert_eq!(out.trades.len(), 1);
        let trade = &out.trades[0];
        assert!(trade.open_at_end);
        assert_eq!((trade.exit_time, trade.exit_price), (bars[4].t, 12.0));
        assert!(close_to(trade.pnl, 20.0));
    }

    #[test]
    fn sma_crossover_ignores_the_first_defined_bar_and_flat_prices() {
        // Fast is above slow from the first defined bar: no crossing, so no trade.
        let rising = bars_from_closes(&[1.0, 2.0, 3.0, 4.0]);
        let strategy = Strategy::SmaCrossover { fast: 1, slow: 2 };
        assert!(run(&rising, &strategy, &config(100.0))
            .expect("runs")
            .trades
            .is_empty());
        // Averages of a constant 0.1 differ only by rounding; that is not a crossing.
        let flat = bars_from_closes(&[0.1; 12]);
        let strategy = Strategy::SmaCrossover { fast: 3, slow: 5 };
        assert!(run(&flat, &strategy, &config(100.0))
            .expect("runs")
            .trades
            .is_empty());
    }

    #[test]
    fn max_drawdown_is_the_deepest_fall_from_a_running_peak() {
        assert_eq!(max_drawdown([100.0, 120.0, 90.0, 130.0, 65.0]), 0.5);
        assert_eq!(max_drawdown([100.0, 110.0, 120.0]), 0.0);
        assert_eq!(max_drawdown([]), 0.0);
    }

    #[test]
    fn win_rate_and_profit_factor_count_trades_by_pnl() {
        let trade = |pnl: f64| Trade {
            entry_time: t0(),
            entry_price: 10.0,
            exit_time: t0(),
            exit_price: 10.0,
            qty: 1.0,
            pnl,
            return_pct: 0.0,
            open_at_end: false,
        };
        let trades = [trade(30.0), trade(-10.0), trade(10.0), trade(-10.0)];
        let curve = [(t0(), 100.0)];
        let m = compute_metrics(t0(), &curve, &trades, &config(100.0));
        assert_eq!(m.win_rate, Some(0.5));
        assert_eq!(m.profit_factor, Some(2.0));
        assert_eq!(m.trades, 4);
    }

    #[test]
    fn cagr_over_exactly_one_year_equals_the_total_return() {
        let start = t0();
        let bar = |t, close| Bar {
            t,
            open: close,
            high: close,
            low: close,
            close,
            volume: 1.0,
        };
        let bars = [
            bar(start, 10.0),
            bar(start + Duration::days(365) + Duration::hours(6), 12.0),
        ];
        let out = run(&bars, &Strategy::BuyAndHold, &config(100.0)).expect("runs");
        assert!(close_to(out.metrics.cagr.expect("a year elapsed"), 0.2));
        let single = run(&bars[..1], &Strategy::BuyAndHold, &config(100.0)).expect("runs");
        assert_eq!(single.metrics.cagr, None);
    }

    #[test]
    fn sortino_and_sharpe_match_hand_computed_values() {
        // Returns 0.02, -0.01, 0.03, -0.02: mean 0.005.
        // Downside: sqrt((0.0001 + 0.0004) / 4) = 0.005 * sqrt(5), so Sortino = 1/sqrt(5).
        // Sample variance: (2 * 0.015² + 2 * 0.025²) / 3 = 0.0017 / 3.
        let mut stats = ReturnStats::default();
        for r in [0.02, -0.01, 0.03, -0.02] {
            stats.push(r);
        }
        let sortino = stats.sortino(1.0).expect("has losers");
        assert!(close_to(sortino, 1.0 / 5f64.sqrt()));
        assert!(close_to(
            stats.sortino(4.0).expect("has losers"),
            2.0 / 5f64.sqrt()
        ));
        let sharpe = stats.sharpe(1.0).expect("has variation");
        assert!((sharpe - 0.210_042).abs() < 1e-6);
    }

    #[test]
    fn ratios_need_two_returns() {
        let mut stats = ReturnStats::default();
        stats.push(-0.1);
        assert_eq!(stats.sharpe(252.0), None);
        assert_eq!(stats.sortino(252.0), None);
    }

    #[test]
    fn empty_bars_are_rejected() {
        let err = run(&[], &Strategy::BuyAndHold, &config(100.0)).expect_err("no bars");
        assert_eq!(err, BacktestError::NoBars);
        assert_eq!(err.to_string(), "no bars to backtest");
    }

    #[test]
    fn invalid_strategies_are_rejected_naming_the_rule() {
        let bars = bars_from_closes(&[10.0]);
        let cases = [
            (0, 5, "the fast period must be at least 1 (got 0)"),
            (
                5,
                5,
                "the slow period must be greater than the fast period (got fast 5, slow 5)",
            ),
            (
                5,
                10_001,
                "the slow period must be at most 10000 (got 10001)",
            ),
        ];
        for (fast, slow, message) in cases {
            let strategy = Strategy::SmaCrossover { fast, slow };
            let err = run(&bars, &strategy, &config(100.0)).expect_err("invalid");
            assert_eq!(err.to_string(), format!("invalid strategy: {message}"));
        }
        assert!(Strategy::SmaCrossover {
            fast: 1,
            slow: 10_000
        }
        .validate()
        .is_ok());
    }

    #[test]
    fn non_positive_cash_is_rejected() {
        let bars = bars_from_closes(&[10.0]);
        for cash in [0.0, -5.0, f64::NAN] {
            let err = run(&bars, &Strategy::BuyAndHold, &config(cash)).expect_err("bad cash");
            assert!(matches!(err, BacktestError::NonPositiveCash(_)));
        }
    }

    #[test]
    fn non_positive_periods_per_year_is_rejected() {
        let bars = bars_from_closes(&[10.0]);
        let cfg = Config {
            initial_cash: 100.0,
            periods_per_year: 0.0,
        };
        let err = run(&bars, &Strategy::BuyAndHold, &cfg).expect_err("bad ppy");
        assert_eq!(err, BacktestError::NonPositivePeriodsPerYear(0.0));
    }

    #[test]
    fn bars_out_of_order_or_repeated_are_rejected() {
        let mut bars = bars_from_closes(&[10.0, 11.0, 12.0]);
        bars[2].t = bars[1].t;
        let err = run(&bars, &Strategy::BuyAndHold, &config(100.0)).expect_err("repeated time");
        assert!(matches!(
            err,
            BacktestError::BarsOutOfOrder { index: 2, .. }
        ));
        assert!(err
            .to_string()
            .starts_with("bars must be strictly increasing in time"));
    }

    #[test]
    fn non_finite_or_non_positive_closes_are_rejected() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut bars = bars_from_closes(&[10.0, 11.0]);
            bars[1].close = bad;
            let err = run(&bars, &Strategy::BuyAndHold, &config(100.0)).expect_err("bad close");
            assert!(matches!(err, BacktestError::InvalidClose { index: 1, .. }));
        }
    }

    #[test]
    fn strategy_names_are_the_wire_tags() {
        assert_eq!(Strategy::BuyAndHold.name(), "buy_and_hold");
        assert_eq!(
            Strategy::SmaCrossover { fast: 1, slow: 2 }.name(),
            "sma_crossover"
        );
    }

    #[test]
    fn downsample_keeps_the_ends_and_evenly_spaced_points() {
        let curve: Vec<(DateTime<Utc>, f64)> = (0..11)
            .map(|i| (t0() + Duration::days(i), i as f64))
            .collect();
        let values = |c: Vec<(DateTime<Utc>, f64)>| c.into_iter().map(|p| p.1).collect::<Vec<_>>();
        assert_eq!(values(downsample(&curve, 3)), vec![0.0, 5.0, 10.0]);
        assert_eq!(
            values(downsample(&curve, 6)),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        assert_eq!(downsample(&curve, 20), curve);
        assert_eq!(values(downsample(&curve, 1)), vec![10.0]);
        assert!(downsample(&curve, 0).is_empty());
    }

    #[test]
    fn sma_crossover_over_a_million_bars_is_linear_time() {
        // A deterministic zig-zag with many crossings.
        let bars: Vec<Bar> = (0..1_000_000_i64)
            .map(|i| {
                let close = 100.0 + 10.0 * ((i as f64) / 500.0).sin() + (i % 7) as f64 * 0.01;
                Bar {
                    t: t0() + Duration::minutes(i),
                    open: close,
                    high: close,
                    low: close,
                    close,
                    volume: 1.0,
                }
            })
            .collect();
        let strategy = Strategy::SmaCrossover {
            fast: 50,
            slow: 200,
        };
        let started = std::time::Instant::now();
        let out = run(&bars, &strategy, &config(10_000.0)).expect("runs");
        let elapsed = started.elapsed();
        assert_eq!(out.bars_processed, 1_000_000);
        assert_eq!(out.equity_curve.len(), 1_000_000);
        assert!(out.trades.len() > 100);
        if cfg!(not(debug_assertions)) {
            assert!(elapsed.as_millis() < 100, "took {elapsed:?}");
        }
    }
}
