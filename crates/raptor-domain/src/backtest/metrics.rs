//! What a run's equity curve and trades add up to, and how they compare with holding a
//! benchmark over the same bars.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Bar, Config, Trade};

/// Summary statistics of a backtest. Returns and drawdowns are fractions (0.1 = 10%).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// `final_equity / initial_cash - 1`.
    pub total_return: f64,
    /// Compound annual growth rate over the bars' time span; `None` for a zero-length span or
    /// when equity ended at or below zero (a short is never liquidated).
    pub cagr: Option<f64>,
    /// Largest peak-to-trough fall of equity, as a positive fraction of the peak.
    pub max_drawdown: f64,
    /// Annualised Sharpe ratio of per-bar returns (risk-free rate 0); `None` if undefined.
    pub sharpe: Option<f64>,
    /// Annualised Sortino ratio of per-bar returns (target 0); `None` if undefined.
    pub sortino: Option<f64>,
    /// CAGR over the maximum drawdown; `None` without a drawdown or a CAGR.
    pub calmar: Option<f64>,
    /// The annualisation factor used.
    pub periods_per_year: f64,
    /// Share of trades with positive P&L; `None` without trades.
    pub win_rate: Option<f64>,
    /// Gross profit over gross loss; `None` without a losing trade.
    pub profit_factor: Option<f64>,
    /// Number of trades, including one still open at the end.
    pub trades: usize,
    /// Share of bars that closed with a position held.
    pub exposure: f64,
    /// Value of every fill over the mean equity.
    pub turnover: f64,
    /// Commission paid in all.
    pub fees: f64,
    /// Equity after the last bar.
    pub final_equity: f64,
    /// The run against holding the benchmark; `None` when it was not compared.
    pub benchmark: Option<Benchmark>,
}

/// A run against buying and holding a benchmark symbol over the same range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Benchmark {
    /// The benchmark's ticker.
    pub symbol: String,
    /// The benchmark's last close over its first, less 1.
    pub total_return: f64,
    /// The run's total return less the benchmark's.
    pub excess_return: f64,
    /// Covariance of the run's per-bar returns with the benchmark's, over the benchmark's
    /// variance, on the bars both have; `None` with fewer than two such returns or a flat
    /// benchmark.
    pub beta: Option<f64>,
    /// Annualised Jensen's alpha (risk-free rate 0): `(mean run return − beta × mean
    /// benchmark return) × periods per year`; `None` without a beta.
    pub alpha: Option<f64>,
}

/// What trading did over a run, counted by the engine.
pub(super) struct Activity {
    pub(super) exposure: f64,
    pub(super) traded: f64,
    pub(super) fees: f64,
}

/// Streaming mean, variance and downside deviation of per-bar returns, from sums of each
/// return less the first one (a shift that keeps the sums exact for a steady series, and
/// needs no division per return).
#[derive(Debug, Default)]
pub(super) struct ReturnStats {
    n: usize,
    shift: f64,
    sum: f64,
    sum_sq: f64,
    downside_sq: f64,
}

impl ReturnStats {
    pub(super) fn push(&mut self, r: f64) {
        if self.n == 0 {
            self.shift = r;
        }
        self.n += 1;
        let d = r - self.shift;
        self.sum += d;
        self.sum_sq += d * d;
        let down = r.min(0.0);
        self.downside_sq += down * down;
    }

    fn mean(&self) -> f64 {
        self.shift + self.sum / self.n.max(1) as f64
    }

    /// The sum of squared deviations from the mean.
    fn m2(&self) -> f64 {
        (self.sum_sq - self.sum * self.sum / self.n.max(1) as f64).max(0.0)
    }

    /// `mean / sample stdev * sqrt(ppy)`; `None` with fewer than 2 returns or no variation
    /// (a stdev that is zero, or only rounding noise next to the mean).
    pub(super) fn sharpe(&self, periods_per_year: f64) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let (mean, stdev) = (self.mean(), (self.m2() / (self.n - 1) as f64).sqrt());
        if stdev.is_nan() || stdev <= 1e-12 * mean.abs() {
            return None;
        }
        Some(mean / stdev * periods_per_year.sqrt())
    }

    /// `mean / downside deviation * sqrt(ppy)`, the downside deviation averaging `min(r, 0)²`
    /// over all returns; `None` with fewer than 2 returns or no losing bar.
    pub(super) fn sortino(&self, periods_per_year: f64) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let downside = (self.downside_sq / self.n as f64).sqrt();
        if downside.is_nan() || downside <= 0.0 {
            return None;
        }
        Some(self.mean() / downside * periods_per_year.sqrt())
    }
}

/// What the metrics need of an equity curve, gathered point by point: its ends, per-point
/// returns, the deepest fall from a running peak and the mean.
#[derive(Debug)]
pub(super) struct Curve {
    first: Option<DateTime<Utc>>,
    last: Option<(DateTime<Utc>, f64)>,
    returns: ReturnStats,
    peak: f64,
    /// The deepest fall so far is `gap / at_peak`, kept apart to compare without dividing.
    gap: f64,
    at_peak: f64,
    sum: f64,
    points: usize,
}

impl Default for Curve {
    fn default() -> Self {
        Self {
            first: None,
            last: None,
            returns: ReturnStats::default(),
            peak: f64::NEG_INFINITY,
            gap: 0.0,
            at_peak: 1.0,
            sum: 0.0,
            points: 0,
        }
    }
}

impl Curve {
    pub(super) fn push(&mut self, t: DateTime<Utc>, equity: f64) {
        if let Some((_, previous)) = self.last {
            self.returns.push(equity / previous - 1.0);
        }
        self.first.get_or_insert(t);
        self.last = Some((t, equity));
        self.peak = self.peak.max(equity);
        let gap = self.peak - equity;
        // gap / peak > self.gap / self.at_peak, both peaks positive.
        if self.peak > 0.0 && gap * self.at_peak > self.gap * self.peak {
            self.gap = gap;
            self.at_peak = self.peak;
        }
        self.sum += equity;
        self.points += 1;
    }

    fn mean(&self) -> Option<f64> {
        (self.points > 0).then(|| self.sum / self.points as f64)
    }

    /// The largest peak-to-trough fall, as a fraction of the peak.
    fn drawdown(&self) -> f64 {
        self.gap / self.at_peak
    }
}

impl FromIterator<(DateTime<Utc>, f64)> for Curve {
    fn from_iter<I: IntoIterator<Item = (DateTime<Utc>, f64)>>(points: I) -> Self {
        let mut curve = Curve::default();
        for (t, equity) in points {
            curve.push(t, equity);
        }
        curve
    }
}

/// The largest peak-to-trough fall of `equity`, as a fraction of the peak.
#[cfg(test)]
pub(super) fn max_drawdown(equity: impl IntoIterator<Item = f64>) -> f64 {
    equity
        .into_iter()
        .map(|e| (DateTime::<Utc>::MIN_UTC, e))
        .collect::<Curve>()
        .drawdown()
}

pub(super) fn compute(
    curve: &Curve,
    trades: &[Trade],
    config: &Config,
    activity: Activity,
) -> Metrics {
    let initial = config.initial_cash;
    let start = curve.first.unwrap_or(DateTime::<Utc>::MIN_UTC);
    let (end, final_equity) = curve.last.unwrap_or((start, initial));
    let stats = &curve.returns;

    let years = (end - start).as_seconds_f64() / (365.25 * 86_400.0);
    // Shorts are never liquidated, so equity can end at or below zero: no growth rate then.
    let cagr = (years > 0.0)
        .then(|| (final_equity / initial).powf(1.0 / years) - 1.0)
        .filter(|c| c.is_finite());
    let drawdown = curve.drawdown();

    let wins = trades.iter().filter(|t| t.pnl > 0.0).count();
    let gross_profit: f64 = trades.iter().map(|t| t.pnl.max(0.0)).sum();
    let has_loss = trades.iter().any(|t| t.pnl < 0.0);
    let gross_loss: f64 = trades.iter().map(|t| t.pnl.min(0.0)).sum::<f64>().abs();
    let mean_equity = curve.mean().unwrap_or(initial);

    Metrics {
        total_return: final_equity / initial - 1.0,
        cagr,
        max_drawdown: drawdown,
        sharpe: stats
            .sharpe(config.periods_per_year)
            .filter(|v| v.is_finite()),
        sortino: stats
            .sortino(config.periods_per_year)
            .filter(|v| v.is_finite()),
        calmar: cagr
            .filter(|_| drawdown > 0.0)
            .map(|c| c / drawdown)
            .filter(|v| v.is_finite()),
        periods_per_year: config.periods_per_year,
        win_rate: (!trades.is_empty()).then(|| wins as f64 / trades.len() as f64),
        profit_factor: has_loss.then(|| gross_profit / gross_loss),
        trades: trades.len(),
        exposure: activity.exposure,
        turnover: if mean_equity > 0.0 {
            activity.traded / mean_equity
        } else {
            0.0
        },
        fees: activity.fees,
        final_equity,
        benchmark: None,
    }
}

/// Compares a run's equity curve, whose total return was `total_return`, with holding
/// `symbol` over its `bars` (the same range, oldest first); `None` without bars.
pub fn compare(
    symbol: &str,
    curve: &[(DateTime<Utc>, f64)],
    total_return: f64,
    bars: &[Bar],
    periods_per_year: f64,
) -> Option<Benchmark> {
    let (first, last) = (bars.first()?, bars.last()?);
    let benchmark_return = last.close / first.close - 1.0;
    // Per-bar returns over the times both series have, walked together.
    let (mut run, mut held) = (ReturnStats::default(), ReturnStats::default());
    // The sum of products of the shifted returns, for the covariance.
    let mut cross = 0.0;
    let mut previous: Option<(f64, f64)> = None;
    let mut j = 0;
    for &(t, equity) in curve {
        while j < bars.len() && bars[j].t < t {
            j += 1;
        }
        let Some(bar) = bars.get(j).filter(|b| b.t == t) else {
            continue;
        };
        if let Some((e0, c0)) = previous {
            let (r, b) = (equity / e0 - 1.0, bar.close / c0 - 1.0);
            run.push(r);
            held.push(b);
            cross += (r - run.shift) * (b - held.shift);
        }
        previous = Some((equity, bar.close));
    }
    let covariance = cross - run.sum * held.sum / held.n.max(1) as f64;
    let beta = (held.n >= 2 && held.m2() > 0.0).then(|| covariance / held.m2());
    Some(Benchmark {
        symbol: symbol.to_owned(),
        total_return: benchmark_return,
        excess_return: total_return - benchmark_return,
        beta,
        alpha: beta.map(|beta| (run.mean() - beta * held.mean()) * periods_per_year),
    })
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
