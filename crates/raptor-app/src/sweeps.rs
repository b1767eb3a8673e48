//! Parameter sweeps: one strategy over a grid of parameters on one symbol's bars, run as a
//! queued job on every core, with progress a client can watch, cancellation, and ranked
//! results kept.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use raptor_domain::backtest::{self, Bar, Config, Execution, Metrics, Strategy};
use raptor_domain::timeframe::Timeframe;
use raptor_domain::InvalidInput;
use raptor_store::backtest_sweeps::{self as stored, NewSweep, Sweep};
use raptor_store::{market, StoreError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Number, Value};

use crate::backtests::{self, BacktestError};
use crate::jobs::{self, Handler, Job, JobError, JobFuture, Registry};
use crate::series::Series;
use crate::App;

/// The job kind that runs a sweep.
pub const SWEEP_JOB: &str = "backtest.sweep";
/// Most combinations one sweep may run.
pub const MAX_COMBINATIONS: usize = 10_000;
/// Most bar steps (combinations × bars) one sweep may take: about a minute on two cores.
pub const MAX_WORK: u64 = 5_000_000_000;
/// Results kept, best first.
pub const KEPT: usize = 100;
/// How often a running sweep records its progress and looks for a cancel.
const PROGRESS_EVERY: StdDuration = StdDuration::from_millis(250);

/// Values of one parameter: a list, or a range from `from` to `to` (inclusive) by `step`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a list of numbers, or a range {\"from\", \"to\", \"step\"}"
)]
pub enum Values {
    /// These values.
    List(Vec<Number>),
    /// `from`, `from + step`, … up to `to`.
    Range {
        /// First value.
        from: Number,
        /// Last value at most.
        to: Number,
        /// Distance between values; positive.
        step: Number,
    },
}

/// Which metric ranks the results, best (highest) first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    /// Annualised Sharpe ratio.
    #[default]
    Sharpe,
    /// Annualised Sortino ratio.
    Sortino,
    /// CAGR over maximum drawdown.
    Calmar,
    /// Total return.
    TotalReturn,
    /// Compound annual growth rate.
    Cagr,
}

impl RankBy {
    fn of(self, m: &Metrics) -> Option<f64> {
        match self {
            RankBy::Sharpe => m.sharpe,
            RankBy::Sortino => m.sortino,
            RankBy::Calmar => m.calmar,
            RankBy::TotalReturn => Some(m.total_return),
            RankBy::Cagr => m.cagr,
        }
        .filter(|v| v.is_finite())
    }
}

/// A sweep to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepRequest {
    /// Ticker.
    pub symbol: String,
    /// Bar timeframe.
    pub timeframe: String,
    /// First bar time (inclusive).
    pub start: DateTime<Utc>,
    /// End of the range (exclusive).
    pub end: DateTime<Utc>,
    /// The strategy type (`sma_crossover`, …).
    pub strategy: String,
    /// Values of each of its parameters; every combination runs, except those the strategy
    /// refuses (a fast period not below the slow one).
    pub grid: BTreeMap<String, Values>,
    /// Starting cash (default 100,000).
    #[serde(default)]
    pub initial_cash: Option<Decimal>,
    /// How every run trades.
    #[serde(default)]
    pub execution: Execution,
    /// What ranks the results.
    #[serde(default)]
    pub rank_by: RankBy,
}

fn expand(name: &str, values: &Values) -> Result<Vec<Value>, InvalidInput> {
    let too_many = || {
        InvalidInput::new(
            "grid",
            format!("'{name}' has more than {MAX_COMBINATIONS} values"),
        )
    };
    match values {
        Values::List(list) if list.is_empty() => Err(InvalidInput::new(
            "grid",
            format!("'{name}' needs at least one value"),
        )),
        Values::List(list) if list.len() > MAX_COMBINATIONS => Err(too_many()),
        Values::List(list) => Ok(list.iter().cloned().map(Value::Number).collect()),
        Values::Range { from, to, step } => {
            if let (Some(from), Some(to), Some(step)) = (from.as_i64(), to.as_i64(), step.as_i64())
            {
                if step <= 0 || to < from {
                    return Err(InvalidInput::new(
                        "grid",
                        format!("'{name}' needs a positive step and from at most to"),
                    ));
                }
                // Counted wide: `to - from` may not fit an i64.
                let count = (i128::from(to) - i128::from(from)) / i128::from(step) + 1;
                if count > MAX_COMBINATIONS as i128 {
                    return Err(too_many());
                }
                return Ok((0..count)
                    // Every value lies between `from` and `to`, so it fits an i64.
                    .filter_map(|k| i64::try_from(i128::from(from) + k * i128::from(step)).ok())
                    .map(Value::from)
                    .collect());
            }
            let (from, to, step) = (
                from.as_f64().unwrap_or(f64::NAN),
                to.as_f64().unwrap_or(f64::NAN),
                step.as_f64().unwrap_or(f64::NAN),
            );
            if !(step > 0.0 && from <= to && (to - from).is_finite()) {
                return Err(InvalidInput::new(
                    "grid",
                    format!("'{name}' needs a positive step and from at most to"),
                ));
            }
            let count = ((to - from) / step + 1e-9).floor();
            if count >= MAX_COMBINATIONS as f64 {
                return Err(too_many());
            }
            Ok((0..=count as usize)
                .map(|k| json!(from + k as f64 * step))
                .collect())
        }
    }
}

/// Every strategy of the grid the strategy accepts, in grid order (the last parameter
/// changing fastest).
pub fn combinations(
    strategy: &str,
    grid: &BTreeMap<String, Values>,
) -> Result<Vec<Strategy>, InvalidInput> {
    let mut partial = vec![serde_json::Map::from_iter([(
        "type".to_owned(),
        json!(strategy),
    )])];
    for (name, values) in grid {
        if name == "type" {
            return Err(InvalidInput::new("grid", "'type' is not a parameter"));
        }
        let values = expand(name, values)?;
        if partial.len().saturating_mul(values.len()) > MAX_COMBINATIONS {
            return Err(InvalidInput::new(
                "grid",
                format!("more than {MAX_COMBINATIONS} combinations"),
            ));
        }
        partial = partial
            .iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut p = p.clone();
                    p.insert(name.clone(), v.clone());
                    p
                })
            })
            .collect();
    }
    let mut strategies = Vec::with_capacity(partial.len());
    for params in partial {
        let strategy: Strategy = serde_json::from_value(Value::Object(params)).map_err(|e| {
            InvalidInput::new(
                "grid",
                format!("not the parameters of a {strategy} strategy: {e}"),
            )
        })?;
        if strategy.validate().is_ok() {
            strategies.push(strategy);
        }
    }
    if strategies.is_empty() {
        return Err(InvalidInput::new(
            "grid",
            "no combination is a valid strategy (for a crossover, fast must be below slow)",
        ));
    }
    Ok(strategies)
}

/// A checked sweep, ready to queue or run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Ticker, normalised.
    pub symbol: String,
    /// Timeframe.
    pub timeframe: Timeframe,
    /// The request as given (stored with the sweep).
    pub request: SweepRequest,
    /// The strategies to run.
    pub strategies: Vec<Strategy>,
    /// Settings shared by every run.
    pub config: Config,
}

/// Checks a sweep: the symbol, range, cash and execution as a single run checks them, and
/// the grid.
pub async fn plan(app: &App, request: SweepRequest) -> Result<Plan, BacktestError> {
    let checked = backtests::check(
        app,
        &request.symbol,
        &request.timeframe,
        request.start,
        request.end,
        request.initial_cash,
        &request.execution,
    )
    .await?;
    let strategies = combinations(&request.strategy, &request.grid)?;
    let bars = market::count_bars_between(
        &app.db,
        &checked.symbol,
        checked.timeframe,
        request.start,
        request.end,
    )
    .await?;
    let work = u64::try_from(bars)
        .unwrap_or(0)
        .saturating_mul(strategies.len() as u64);
    if work > MAX_WORK {
        return Err(InvalidInput::new(
            "grid",
            format!(
                "{} combinations over {bars} bars is more than {MAX_WORK} bar steps; \
                 narrow the grid or the range",
                strategies.len()
            ),
        )
        .into());
    }
    Ok(Plan {
        config: checked.config(request.execution),
        symbol: checked.symbol,
        timeframe: checked.timeframe,
        request,
        strategies,
    })
}

/// Queues a checked sweep for the user; returns its id.
pub async fn queue(app: &App, user_id: i64, plan: &Plan) -> Result<i64, BacktestError> {
    let now = app.now();
    let request = json!(plan.request);
    let mut tx = app.db.begin().await?;
    if stored::active(&mut tx, user_id).await? >= backtests::MAX_ACTIVE {
        // Waited for, so the next queuer finds the user's lock free.
        tx.rollback().await?;
        return Err(BacktestError::Busy("sweeps"));
    }
    let id = stored::insert(
        &mut tx,
        &NewSweep {
            user_id,
            symbol: &plan.symbol,
            timeframe: plan.timeframe,
            period_start: plan.request.start,
            period_end: plan.request.end,
            request: &request,
            total: plan.strategies.len() as i64,
        },
        now,
    )
    .await?;
    let job = Job::new(SWEEP_JOB, json!({ "sweep_id": id })).on(jobs::BACKTEST_QUEUE);
    if let Some(job_id) = jobs::enqueue(app, &mut tx, &job).await?.id() {
        stored::set_job(&mut tx, id, job_id).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// One of the user's sweeps.
pub async fn get(app: &App, user_id: i64, id: i64) -> Result<Option<Sweep>, StoreError> {
    stored::get(&app.db, user_id, id).await
}

/// The user's sweeps, newest first (at most 100).
pub async fn list(app: &App, user_id: i64) -> Result<Vec<Sweep>, StoreError> {
    stored::of_user(&app.db, user_id, 100).await
}

/// One combination's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    /// 1 for the best.
    pub rank: usize,
    /// The strategy with its parameters.
    pub strategy: Strategy,
    /// Its metrics.
    pub metrics: Metrics,
}

/// Runs every strategy over `bars` on every core, counting finished runs into `done` and
/// stopping early when `stop` is set; the results best first by `rank_by`, or None when
/// stopped.
pub fn run_all(
    bars: &[Bar],
    strategies: &[Strategy],
    config: &Config,
    rank_by: RankBy,
    done: &AtomicUsize,
    stop: &AtomicBool,
) -> Result<Option<Vec<Ranked>>, backtest::BacktestError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(strategies.len())
        .max(1);
    let bars = backtest::CheckedBars::new(bars)?;
    let next = AtomicUsize::new(0);
    let results = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= strategies.len() || stop.load(Ordering::Relaxed) {
                            return Ok::<_, backtest::BacktestError>(mine);
                        }
                        mine.push((i, backtest::metrics_of(bars, &strategies[i], config)?));
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        let mut all = Vec::with_capacity(strategies.len());
        for worker in workers {
            match worker.join() {
                Ok(Ok(mine)) => all.extend(mine),
                Ok(Err(err)) => return Err(err),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(all)
    })?;
    if stop.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let mut results = results;
    // Best first; undefined scores last; ties in grid order.
    results.sort_by(|(i, a), (j, b)| {
        let (a, b) = (rank_by.of(a), rank_by.of(b));
        match (a, b) {
            (Some(a), Some(b)) => b.total_cmp(&a),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then(i.cmp(j))
    });
    Ok(Some(
        results
            .into_iter()
            .enumerate()
            .map(|(rank, (i, metrics))| Ranked {
                rank: rank + 1,
                strategy: strategies[i].clone(),
                metrics,
            })
            .collect(),
    ))
}

/// Sets `stop` when dropped: a sweep whose job was abandoned stops its threads.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Loads the plan's bars; an empty range is the sweep's failure, not the job's.
async fn bars_of(app: &App, plan: &Plan) -> Result<Series, BacktestError> {
    backtests::load_bars(
        app,
        &plan.symbol,
        plan.timeframe,
        plan.request.start,
        plan.request.end,
    )
    .await
}

/// Runs queued sweep `id`: records progress every quarter second, stops when it is canceled,
/// and stores the best [`KEPT`] results.
pub async fn execute(app: &App, id: i64) -> Result<(), JobError> {
    let Some(sweep) = stored::load(&app.db, id).await? else {
        return Ok(());
    };
    let request: SweepRequest = match serde_json::from_value(sweep.request.0.clone()) {
        Ok(request) => request,
        Err(err) => {
            stored::fail(&app.db, id, &format!("unreadable: {err}"), app.now()).await?;
            return Ok(());
        }
    };
    if !stored::start(&app.db, id, app.now()).await? {
        return Ok(());
    }
    let plan = match plan(app, request).await {
        Ok(plan) => plan,
        Err(BacktestError::Store(err)) => return Err(err.into()),
        Err(err) => {
            stored::fail(&app.db, id, &err.to_string(), app.now()).await?;
            return Ok(());
        }
    };
    let bars = match bars_of(app, &plan).await {
        Ok(bars) => bars,
        Err(BacktestError::Store(err)) => return Err(err.into()),
        Err(err) => {
            stored::fail(&app.db, id, &err.to_string(), app.now()).await?;
            return Ok(());
        }
    };
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_drop = StopOnDrop(stop.clone());
    let mut task = tokio::task::spawn_blocking({
        let (done, stop) = (done.clone(), stop.clone());
        let rank_by = plan.request.rank_by;
        let (strategies, config) = (plan.strategies.clone(), plan.config);
        move || run_all(&bars, &strategies, &config, rank_by, &done, &stop)
    });
    let ranked = loop {
        tokio::select! {
            finished = &mut task => {
                break finished.map_err(|e| JobError::Retry(format!("sweep {id} stopped: {e}")))?;
            }
            () = tokio::time::sleep(PROGRESS_EVERY) => {
                let count = i64::try_from(done.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
                if !stored::progress(&app.db, id, count).await? {
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }
    };
    match ranked {
        Ok(Some(ranked)) => {
            let kept: Vec<&Ranked> = ranked.iter().take(KEPT).collect();
            stored::succeed(&app.db, id, &json!(kept), app.now()).await?;
        }
        Ok(None) => {}
        Err(err) => {
            stored::fail(&app.db, id, &err.to_string(), app.now()).await?;
        }
    }
    Ok(())
}

/// Cancels one of the user's sweeps that has not ended, and its job if no worker took it
/// yet: false when there is no such sweep.
pub async fn cancel(app: &App, user_id: i64, id: i64) -> Result<bool, StoreError> {
    let now = app.now();
    if !stored::cancel(&app.db, user_id, id, now).await? {
        return Ok(false);
    }
    if let Some(job_id) = stored::get(&app.db, user_id, id)
        .await?
        .and_then(|s| s.job_id)
    {
        raptor_store::jobs::cancel(&app.db, job_id, now).await?;
    }
    Ok(true)
}

/// Seconds a running sweep still needs at the pace it has kept; None until it has finished
/// a combination, or once it has ended.
pub fn eta_seconds(sweep: &Sweep, now: DateTime<Utc>) -> Option<f64> {
    let started = sweep.started_at?;
    if sweep.status != "running" || sweep.done <= 0 {
        return None;
    }
    let elapsed = (now - started).as_seconds_f64().max(0.0);
    Some(elapsed / sweep.done as f64 * (sweep.total - sweep.done) as f64)
}

/// Runs the sweep jobs.
struct RunSweep;

impl Handler for RunSweep {
    fn run<'a>(&'a self, app: &'a App, payload: &'a Value) -> JobFuture<'a> {
        Box::pin(async move {
            let id = payload["sweep_id"]
                .as_i64()
                .ok_or_else(|| JobError::Permanent("no sweep_id in the payload".into()))?;
            execute(app, id).await
        })
    }
}

/// Adds the sweep handler to `registry` (through `backtests::register`).
pub(crate) fn register(registry: Registry) -> Registry {
    registry.with(SWEEP_JOB, RunSweep)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn bars() -> Vec<Bar> {
        let t0: DateTime<Utc> = "2026-01-05T05:00:00Z".parse().expect("time");
        (0..300)
            .map(|i| {
                let close = 100.0 + 10.0 * (f64::from(i) / 9.0).sin() + f64::from(i) * 0.05;
                Bar {
                    t: t0 + Duration::days(i64::from(i)),
                    open: close,
                    high: close + 1.0,
                    low: close - 1.0,
                    close,
                    volume: 1.0,
                }
            })
            .collect()
    }

    fn config() -> Config {
        Config {
            initial_cash: 10_000.0,
            periods_per_year: 252.0,
            execution: Execution::default(),
        }
    }

    #[test]
    fn a_grid_expands_ranges_and_skips_what_the_strategy_refuses() {
        let grid = BTreeMap::from([
            (
                "fast".to_owned(),
                Values::Range {
                    from: 10.into(),
                    to: 30.into(),
                    step: 10.into(),
                },
            ),
            ("slow".to_owned(), Values::List(vec![20.into(), 40.into()])),
        ]);
        let strategies = combinations("sma_crossover", &grid).expect("a grid");
        // (10, 20), (10, 40), (20, 40), (30, 40): fast 20 and 30 against slow 20 are refused.
        let pairs: Vec<_> = strategies
            .iter()
            .map(|s| match s {
                Strategy::SmaCrossover { fast, slow } => (*fast, *slow),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(pairs, [(10, 20), (10, 40), (20, 40), (30, 40)]);
        let rsi = BTreeMap::from([
            ("period".to_owned(), Values::List(vec![14.into()])),
            (
                "lower".to_owned(),
                Values::Range {
                    from: Number::from_f64(20.0).expect("a number"),
                    to: Number::from_f64(30.0).expect("a number"),
                    step: Number::from_f64(2.5).expect("a number"),
                },
            ),
            ("upper".to_owned(), Values::List(vec![70.into()])),
        ]);
        assert_eq!(
            combinations("rsi_reversion", &rsi).expect("a grid").len(),
            5
        );
    }

    #[test]
    fn every_combination_runs_ranked_best_first_unless_stopped() {
        let bars = bars();
        let strategies: Vec<Strategy> = [(3, 10), (5, 20), (10, 30), (2, 50)]
            .into_iter()
            .map(|(fast, slow)| Strategy::SmaCrossover { fast, slow })
            .collect();
        let (done, stop) = (AtomicUsize::new(0), AtomicBool::new(false));
        let ranked = run_all(
            &bars,
            &strategies,
            &config(),
            RankBy::TotalReturn,
            &done,
            &stop,
        )
        .expect("runs")
        .expect("not stopped");
        assert_eq!(done.load(Ordering::Relaxed), 4);
        let returns: Vec<f64> = ranked.iter().map(|r| r.metrics.total_return).collect();
        assert!(returns.windows(2).all(|w| w[0] >= w[1]), "{returns:?}");
        for r in &ranked {
            let single = backtest::run(&bars, &r.strategy, &config()).expect("runs");
            assert_eq!(r.metrics, single.metrics, "{:?}", r.strategy);
        }
        // Stopped before it began: nothing runs and nothing is ranked.
        let (done, stop) = (AtomicUsize::new(0), AtomicBool::new(true));
        let stopped =
            run_all(&bars, &strategies, &config(), RankBy::Sharpe, &done, &stop).expect("runs");
        assert_eq!((stopped, done.load(Ordering::Relaxed)), (None, 0));
    }
}
