//! Equal-weight portfolios: one strategy run on each symbol with an equal share of the cash,
//! never rebalanced, and the sum of their equity read as one account.

use chrono::{DateTime, Utc};

use super::metrics::{compute, Activity, Curve};
use super::{Config, Metrics, Outcome, Trade};

/// The portfolio's equity over the union of its symbols' bar times, and its metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Portfolio {
    /// Summary statistics of the summed equity; trades are every symbol's.
    pub metrics: Metrics,
    /// The summed equity at every time any symbol has a bar; a symbol counts its cash share
    /// before its first bar and its last equity between and after its bars.
    pub equity_curve: Vec<(DateTime<Utc>, f64)>,
}

fn mean(curve: &[(DateTime<Utc>, f64)]) -> f64 {
    if curve.is_empty() {
        return 0.0;
    }
    curve.iter().map(|p| p.1).sum::<f64>() / curve.len() as f64
}

/// Combines runs of equal cash shares (`config.initial_cash` is the whole portfolio's).
pub fn combine(runs: &[&Outcome], config: &Config) -> Portfolio {
    let share = config.initial_cash / runs.len().max(1) as f64;
    let mut times: Vec<DateTime<Utc>> = runs
        .iter()
        .flat_map(|r| r.equity_curve.iter().map(|p| p.0))
        .collect();
    times.sort_unstable();
    times.dedup();
    let mut positions = vec![0_usize; runs.len()];
    let mut last = vec![share; runs.len()];
    let mut equity_curve = Vec::with_capacity(times.len());
    for t in times {
        for (k, run) in runs.iter().enumerate() {
            while let Some(&(at, equity)) = run.equity_curve.get(positions[k]) {
                if at > t {
                    break;
                }
                last[k] = equity;
                positions[k] += 1;
            }
        }
        equity_curve.push((t, last.iter().sum()));
    }
    let trades: Vec<Trade> = runs.iter().flat_map(|r| r.trades.clone()).collect();
    let activity = Activity {
        exposure: runs.iter().map(|r| r.metrics.exposure).sum::<f64>() / runs.len().max(1) as f64,
        // Each run's turnover is its traded value over its own mean equity.
        traded: runs
            .iter()
            .map(|r| r.metrics.turnover * mean(&r.equity_curve))
            .sum(),
        fees: runs.iter().map(|r| r.metrics.fees).sum(),
    };
    let metrics = compute(
        &equity_curve.iter().copied().collect::<Curve>(),
        &trades,
        config,
        activity,
    );
    Portfolio {
        metrics,
        equity_curve,
    }
}
