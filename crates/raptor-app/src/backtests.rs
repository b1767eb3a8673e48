//! Backtests: a built-in strategy over stored bars, run by the pure engine in the domain
//! crate off the async workers, then stored with its trades and traced.

use std::time::Instant;

use chrono::{DateTime, Utc};
use raptor_domain::backtest::{self, Config, Execution, Outcome, Strategy, TradeSide};
use raptor_domain::orders::Side;
use raptor_domain::timeframe::Timeframe;
use raptor_domain::InvalidInput;
use raptor_store::backtests::{self, NewBacktest, NewTrade};
use raptor_store::{market, settings, StoreError};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::jobs::{self, Handler, Job, JobError, JobFuture, Registry};
use crate::series::{Series, SeriesKey};
use crate::times;
use crate::traces::Workflow;
use crate::App;

/// Most bars one run may load.
pub const MAX_BARS: i64 = 5_000_000;
/// Points kept of the equity curve in answers.
const CURVE_POINTS: usize = 500;
/// What a run is compared with unless it names another symbol.
pub const DEFAULT_BENCHMARK: &str = "SPY";

/// Why a backtest did not run or was not stored.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// The request breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// No bars in the range.
    #[error("no {timeframe} bars for {symbol} in that range: import or fetch some first")]
    NoBars {
        /// Ticker.
        symbol: String,
        /// Timeframe.
        timeframe: &'static str,
    },
    /// The engine refused the run.
    #[error("{0}")]
    Failed(String),
    /// The user already has as many runs or sweeps waiting as they may.
    #[error("you already have {MAX_ACTIVE} {0} queued or running; wait for one to end")]
    Busy(&'static str),
    /// The engine's thread died.
    #[error("the backtest engine stopped: {0}")]
    Engine(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BacktestError {
    /// The stable problem code, also recorded in the trace.
    pub fn code(&self) -> &'static str {
        match self {
            BacktestError::Invalid(_) => "invalid_field",
            BacktestError::NoBars { .. } => "no_bars",
            BacktestError::Failed(_) => "backtest_failed",
            BacktestError::Busy(_) => "too_many_queued",
            BacktestError::Engine(_) | BacktestError::Store(_) => "internal_error",
        }
    }
}

/// What to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Ticker.
    pub symbol: String,
    /// Bar timeframe (`1Min` … `1Day`).
    pub timeframe: String,
    /// First bar time (inclusive).
    pub start: DateTime<Utc>,
    /// End of the range (exclusive).
    pub end: DateTime<Utc>,
    /// The strategy and its parameters.
    pub strategy: Strategy,
    /// Starting cash (default 100,000).
    #[serde(default)]
    pub initial_cash: Option<Decimal>,
    /// How signals fill (default: next open, no costs, all in, long only).
    #[serde(default)]
    pub execution: Execution,
    /// The symbol to compare with by holding it over the range (default SPY, compared only
    /// when it has bars there).
    #[serde(default)]
    pub benchmark: Option<String>,
}

/// A finished run, ready to store or print.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was run (normalised).
    pub symbol: String,
    /// Timeframe.
    pub timeframe: Timeframe,
    /// Range start.
    pub start: DateTime<Utc>,
    /// Range end.
    pub end: DateTime<Utc>,
    /// Strategy.
    pub strategy: Strategy,
    /// Execution model.
    pub execution: Execution,
    /// Starting cash.
    pub initial_cash: Decimal,
    /// The engine's result.
    pub outcome: Outcome,
    /// Engine time, milliseconds (loading excluded).
    pub elapsed_ms: f64,
}

impl Report {
    /// The metrics as stored and answered, with the counts and timing.
    pub fn metrics_json(&self) -> Value {
        let mut metrics = json!(self.outcome.metrics);
        metrics["bars_processed"] = json!(self.outcome.bars_processed);
        metrics["elapsed_ms"] = json!(self.elapsed_ms);
        metrics["bars_per_second"] = json!(if self.elapsed_ms > 0.0 {
            self.outcome.bars_processed as f64 / (self.elapsed_ms / 1000.0)
        } else {
            0.0
        });
        metrics
    }

    /// The whole answer.
    pub fn to_json(&self, id: Option<i64>) -> Value {
        let curve: Vec<Value> = backtest::downsample(&self.outcome.equity_curve, CURVE_POINTS)
            .iter()
            .map(|(t, e)| json!({ "t": t, "equity": e }))
            .collect();
        json!({
            "id": id,
            "symbol": self.symbol,
            "timeframe": self.timeframe.as_str(),
            "start": self.start,
            "end": self.end,
            "strategy": self.strategy,
            "execution": self.execution,
            "initial_cash": self.initial_cash.normalize().to_string(),
            "metrics": self.metrics_json(),
            "trades": self.outcome.trades,
            "equity_curve": curve,
            "bars_processed": self.outcome.bars_processed,
            "elapsed_ms": self.elapsed_ms,
        })
    }
}

/// What a run or sweep asks for, checked.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Ticker, normalised and listed.
    pub symbol: String,
    /// Timeframe.
    pub timeframe: Timeframe,
    /// Starting cash.
    pub initial_cash: Decimal,
}

impl Checked {
    /// The engine's settings for a run trading under `execution`.
    pub fn config(&self, execution: Execution) -> Config {
        Config {
            initial_cash: self.initial_cash.try_into().unwrap_or(100_000.0),
            periods_per_year: self.timeframe.periods_per_year(),
            execution,
        }
    }
}

/// Checks what every run needs: a listed symbol, a timeframe, a range, the starting cash
/// (default 100,000) and the execution model.
pub async fn check(
    app: &App,
    symbol: &str,
    timeframe: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    initial_cash: Option<Decimal>,
    execution: &Execution,
) -> Result<Checked, BacktestError> {
    let symbol = listed(app, "symbol", symbol).await?;
    let timeframe: Timeframe = timeframe
        .parse()
        .map_err(|e| InvalidInput::new("timeframe", e))?;
    times::storable("start", start)?;
    times::storable("end", end)?;
    if start >= end {
        return Err(InvalidInput::new("end", "must be after start").into());
    }
    execution.validate()?;
    let initial_cash = initial_cash.unwrap_or(Decimal::from(100_000));
    if initial_cash <= Decimal::ZERO || initial_cash > Decimal::from(1_000_000_000_000_i64) {
        return Err(InvalidInput::new(
            "initial_cash",
            "must be positive and at most 1,000,000,000,000",
        )
        .into());
    }
    if initial_cash.normalize().scale() > raptor_store::DECIMAL_SCALE {
        // Stored with 8 places: more would come back rounded, 1e-28 as 0.
        return Err(InvalidInput::new("initial_cash", "must have at most 8 decimal places").into());
    }
    Ok(Checked {
        symbol,
        timeframe,
        initial_cash,
    })
}

/// `raw` as a listed ticker (trimmed, upper case), or an error naming `field`. Text that is
/// no ticker (control characters, which PostgreSQL refuses, or invisible ones) is refused
/// before it reaches the store.
async fn listed(app: &App, field: &'static str, raw: &str) -> Result<String, BacktestError> {
    let symbol = crate::text::single_line(field, raw.trim(), 32)?.to_uppercase();
    if market::symbol(&app.db, &symbol).await?.is_none() {
        return Err(InvalidInput::new(field, format!("'{symbol}' is not a listed symbol")).into());
    }
    Ok(symbol)
}

/// A symbol's bars in the range, oldest first: at least one, at most [`MAX_BARS`]. The series
/// this process loaded at the symbol's current bars version when it holds one.
pub async fn load_bars(
    app: &App,
    symbol: &str,
    timeframe: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Series, BacktestError> {
    let key = series_key(app, symbol, timeframe, start, end).await?;
    if let Some(kept) = key.as_ref().and_then(|key| app.series.get(key)) {
        return Ok(kept);
    }
    let most = usize::try_from(MAX_BARS).unwrap_or(usize::MAX);
    let Some(series) = market::engine_bars(&app.db, symbol, timeframe, start, end, most).await?
    else {
        return Err(InvalidInput::new(
            "start",
            format!("the range holds more than {MAX_BARS} bars; narrow it"),
        )
        .into());
    };
    if series.is_empty() {
        return Err(BacktestError::NoBars {
            symbol: symbol.to_owned(),
            timeframe: timeframe.as_str(),
        });
    }
    if let Some(key) = key {
        app.series.put(key, series.clone());
    }
    Ok(series)
}

/// How many of the symbol's bars in the range a run would read from the database: none when
/// this process holds them.
async fn bars_to_load(
    app: &App,
    symbol: &str,
    timeframe: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let key = series_key(app, symbol, timeframe, start, end).await?;
    if key.is_some_and(|key| app.series.get(&key).is_some()) {
        return Ok(0);
    }
    market::count_bars_between(&app.db, symbol, timeframe, start, end).await
}

/// What a series of the symbol's bars would be kept under now; None when it is not listed.
async fn series_key(
    app: &App,
    symbol: &str,
    timeframe: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Option<SeriesKey>, StoreError> {
    Ok(market::bars_version(&app.db, symbol)
        .await?
        .map(|v| SeriesKey {
            listing: v.listing,
            version: v.version,
            timeframe,
            start,
            end,
        }))
}

/// Checks a single run: what every run needs, and its strategy.
async fn check_run(app: &App, req: &Request) -> Result<Checked, BacktestError> {
    let checked = check(
        app,
        &req.symbol,
        &req.timeframe,
        req.start,
        req.end,
        req.initial_cash,
        &req.execution,
    )
    .await?;
    req.strategy.validate()?;
    Ok(checked)
}

/// Loads the bars and runs the engine off the async workers; nothing is stored.
pub async fn run(app: &App, req: &Request) -> Result<Report, BacktestError> {
    let checked = check_run(app, req).await?;
    let timeframe = checked.timeframe;
    let benchmark =
        benchmark_bars(app, req.benchmark.as_deref(), timeframe, req.start, req.end).await?;
    let bars = load_bars(app, &checked.symbol, timeframe, req.start, req.end).await?;
    let strategy = req.strategy.clone();
    let config = checked.config(req.execution);
    let (outcome, elapsed_ms) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let outcome = backtest::run(&bars, &strategy, &config).map(|mut outcome| {
            if let Some((symbol, bars)) = benchmark {
                outcome.metrics.benchmark = backtest::compare(
                    &symbol,
                    &outcome.equity_curve,
                    outcome.metrics.total_return,
                    &bars,
                    config.periods_per_year,
                );
            }
            outcome
        });
        (outcome, started.elapsed().as_secs_f64() * 1000.0)
    })
    .await
    .map_err(|e| BacktestError::Engine(e.to_string()))?;
    let outcome = outcome.map_err(|e| BacktestError::Failed(e.to_string()))?;
    Ok(Report {
        symbol: checked.symbol,
        timeframe,
        start: req.start,
        end: req.end,
        strategy: req.strategy.clone(),
        execution: req.execution,
        initial_cash: checked.initial_cash,
        outcome,
        elapsed_ms,
    })
}

/// The benchmark's bars over the run's range: a named benchmark must be listed and have
/// some; the default is compared only when it has.
pub async fn benchmark_bars(
    app: &App,
    benchmark: Option<&str>,
    timeframe: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Option<(String, Series)>, BacktestError> {
    let named = match benchmark {
        Some(raw) => Some(listed(app, "benchmark", raw).await?),
        None => None,
    };
    let symbol = named
        .clone()
        .unwrap_or_else(|| DEFAULT_BENCHMARK.to_owned());
    match load_bars(app, &symbol, timeframe, start, end).await {
        Ok(bars) => Ok(Some((symbol, bars))),
        // The default is compared only when it can be: not without bars, nor with too many.
        Err(BacktestError::Store(err)) => Err(err.into()),
        Err(_) if named.is_none() => Ok(None),
        Err(BacktestError::NoBars { .. }) => Err(InvalidInput::new(
            "benchmark",
            format!("{symbol} has no {} bars in that range", timeframe.as_str()),
        )
        .into()),
        Err(err) => Err(err),
    }
}

fn decimal(value: f64) -> Decimal {
    Decimal::try_from(value)
        .map(|d| d.round_dp(8))
        .unwrap_or_default()
}

/// A backtest run for a user and stored, with the trace support staff can read.
#[derive(Debug, Clone)]
pub struct StoredRun {
    /// The result.
    pub report: Report,
    /// The stored backtest's id.
    pub id: i64,
    /// The workflow trace's id.
    pub trace_id: String,
}

/// The trade legs of a run as stored: an entry and an exit per round trip.
fn legs(report: &Report) -> Vec<NewTrade> {
    report
        .outcome
        .trades
        .iter()
        .flat_map(|t| {
            let (entry, exit) = match t.side {
                TradeSide::Long => (Side::Buy, Side::Sell),
                TradeSide::Short => (Side::Sell, Side::Buy),
            };
            [
                NewTrade {
                    side: entry,
                    qty: decimal(t.qty),
                    price: decimal(t.entry_price),
                    executed_at: t.entry_time,
                    realized_pl: None,
                },
                NewTrade {
                    side: exit,
                    qty: decimal(t.qty),
                    price: decimal(t.exit_price),
                    executed_at: t.exit_time,
                    realized_pl: Some(decimal(t.pnl)),
                },
            ]
        })
        .collect()
}

fn trace_attributes(user_id: i64, req: &Request) -> serde_json::Value {
    json!({ "user_id": user_id, "symbol": req.symbol, "timeframe": req.timeframe })
}

/// Where a finished run is stored.
#[derive(Debug, Clone, Copy)]
enum Destination {
    /// A new row, for a run answered inline.
    New {
        /// When the request arrived.
        started_at: DateTime<Utc>,
    },
    /// The row of a queued run.
    Queued(i64),
}

/// Runs a backtest for the user, stores it with its trades, and traces both steps; a refused
/// or failed run leaves a failed trace.
pub async fn run_and_store(
    app: &App,
    user_id: i64,
    req: &Request,
) -> Result<StoredRun, BacktestError> {
    let started_at = app.now();
    run_and_store_into(app, user_id, req, Destination::New { started_at }).await
}

async fn run_and_store_into(
    app: &App,
    user_id: i64,
    req: &Request,
    destination: Destination,
) -> Result<StoredRun, BacktestError> {
    let mut trace = Workflow::start(app, "backtest", trace_attributes(user_id, req)).await;
    let report = match run(app, req).await {
        Ok(report) => report,
        Err(err) => {
            trace.fail("run", err.code()).await;
            return Err(err);
        }
    };
    trace
        .step(
            "run",
            "ok",
            json!({ "bars": report.outcome.bars_processed, "engine_ms": report.elapsed_ms }),
        )
        .await;
    let params = json!(report.strategy);
    let execution = json!(report.execution);
    let metrics = report.metrics_json();
    let trades = legs(&report);
    let finished_at = app.now();
    let stored = async {
        let mut tx = app.db.begin().await?;
        let id = match destination {
            Destination::New { started_at } => {
                backtests::insert(
                    &mut tx,
                    &NewBacktest {
                        user_id,
                        strategy: report.strategy.name(),
                        params: &params,
                        execution: &execution,
                        benchmark: req.benchmark.as_deref(),
                        symbol: &report.symbol,
                        timeframe: report.timeframe,
                        period_start: report.start,
                        period_end: report.end,
                        initial_cash: report.initial_cash,
                        status: "succeeded",
                        metrics: Some(&metrics),
                        error: None,
                        created_at: started_at,
                        started_at: Some(started_at),
                        finished_at: Some(finished_at),
                    },
                    &trades,
                )
                .await?
            }
            Destination::Queued(id) => {
                backtests::succeed(&mut tx, id, &report.symbol, &metrics, &trades, finished_at)
                    .await?;
                id
            }
        };
        settings::complete_step(&mut tx, user_id, "first_backtest", finished_at).await?;
        tx.commit().await?;
        Ok::<_, StoreError>(id)
    }
    .await;
    let id = match stored {
        Ok(id) => id,
        Err(err) => {
            let err = BacktestError::from(err);
            trace.fail("store", err.code()).await;
            return Err(err);
        }
    };
    trace
        .step(
            "store",
            "ok",
            json!({ "backtest_id": id, "trades": trades.len() }),
        )
        .await;
    let trace_id = trace.id.clone();
    trace.finish("succeeded").await;
    Ok(StoredRun {
        report,
        id,
        trace_id,
    })
}

/// Most queued or running backtests (and, apart, sweeps) a user may have.
pub const MAX_ACTIVE: i64 = 3;

/// Most bars a run answered inline may step through by default; longer runs are queued.
pub const INLINE_BARS: i64 = 250_000;
/// The job kind that runs a queued backtest.
pub const RUN_JOB: &str = "backtest.run";

/// What became of a submitted run.
#[derive(Debug)]
pub enum Submitted {
    /// It ran and was stored.
    Ran(Box<StoredRun>),
    /// It is long: stored as queued, for a worker to run.
    Queued {
        /// The stored backtest's id.
        id: i64,
        /// The job that runs it.
        job_id: Option<i64>,
    },
}

/// Runs a backtest for the user at once when it spans at most `app.inline_bars` bars
/// ([`INLINE_BARS`] unless set), and queues it for a worker otherwise.
pub async fn submit(app: &App, user_id: i64, req: &Request) -> Result<Submitted, BacktestError> {
    let checked = match check_run(app, req).await {
        Ok(checked) => checked,
        Err(err) => {
            // Refused runs are traced too, for support staff.
            Workflow::start(app, "backtest", trace_attributes(user_id, req))
                .await
                .fail("run", err.code())
                .await;
            return Err(err);
        }
    };
    let benchmark = match req.benchmark.as_deref() {
        Some(raw) => match listed(app, "benchmark", raw).await {
            Ok(named) => Some(named),
            Err(err) => {
                Workflow::start(app, "backtest", trace_attributes(user_id, req))
                    .await
                    .fail("run", err.code())
                    .await;
                return Err(err);
            }
        },
        None => None,
    };
    // Loading is what takes long: a run answers at once when little is left to load.
    let (tf, start, end) = (checked.timeframe, req.start, req.end);
    let compared = benchmark.as_deref().unwrap_or(DEFAULT_BENCHMARK);
    let to_load = bars_to_load(app, &checked.symbol, tf, start, end).await?
        + bars_to_load(app, compared, tf, start, end).await?;
    if to_load <= app.inline_bars {
        return Ok(Submitted::Ran(Box::new(
            run_and_store(app, user_id, req).await?,
        )));
    }
    let now = app.now();
    let (params, execution) = (json!(req.strategy), json!(req.execution));
    let mut tx = app.db.begin().await?;
    if backtests::active(&mut tx, user_id).await? >= MAX_ACTIVE {
        // Waited for, so the next queuer finds the user's lock free.
        tx.rollback().await?;
        return Err(BacktestError::Busy("long backtests"));
    }
    let id = backtests::insert(
        &mut tx,
        &NewBacktest {
            user_id,
            strategy: req.strategy.name(),
            params: &params,
            execution: &execution,
            benchmark: benchmark.as_deref(),
            symbol: &checked.symbol,
            timeframe: checked.timeframe,
            period_start: req.start,
            period_end: req.end,
            initial_cash: checked.initial_cash,
            status: "queued",
            metrics: None,
            error: None,
            created_at: now,
            started_at: None,
            finished_at: None,
        },
        &[],
    )
    .await?;
    let job = Job::new(RUN_JOB, json!({ "backtest_id": id })).on(jobs::BACKTEST_QUEUE);
    let job_id = jobs::enqueue(app, &mut tx, &job).await?.id();
    if let Some(job_id) = job_id {
        backtests::set_job(&mut tx, id, job_id).await?;
    }
    tx.commit().await?;
    Ok(Submitted::Queued { id, job_id })
}

/// Runs queued backtest `id` and stores its result; a run the engine refuses is stored as
/// failed, saying why.
pub async fn execute_queued(app: &App, id: i64) -> Result<(), JobError> {
    let Some(row) = backtests::load(&app.db, id).await? else {
        return Ok(());
    };
    let read = || -> Result<Request, serde_json::Error> {
        Ok(Request {
            symbol: row.symbol.clone(),
            timeframe: row.timeframe.as_str().to_owned(),
            start: row.period_start,
            end: row.period_end,
            strategy: serde_json::from_value(row.params.0.clone())?,
            initial_cash: Some(row.initial_cash.0),
            execution: row
                .execution
                .clone()
                .map(|e| serde_json::from_value(e.0))
                .transpose()?
                .unwrap_or_default(),
            benchmark: row.benchmark.clone(),
        })
    };
    let req = match read() {
        Ok(req) => req,
        Err(err) => {
            backtests::fail(&app.db, id, &format!("unreadable: {err}"), app.now()).await?;
            return Ok(());
        }
    };
    if !backtests::start(&app.db, id, app.now()).await? {
        return Ok(());
    }
    match run_and_store_into(app, row.user_id, &req, Destination::Queued(id)).await {
        Ok(_) => Ok(()),
        Err(BacktestError::Store(err)) => Err(err.into()),
        Err(err) => {
            backtests::fail(&app.db, id, &err.to_string(), app.now()).await?;
            Ok(())
        }
    }
}

struct RunQueued;

impl Handler for RunQueued {
    fn run<'a>(&'a self, app: &'a App, payload: &'a serde_json::Value) -> JobFuture<'a> {
        Box::pin(async move {
            let id = payload["backtest_id"]
                .as_i64()
                .ok_or_else(|| JobError::Permanent("no backtest_id in the payload".into()))?;
            execute_queued(app, id).await
        })
    }
}

/// Adds the handlers of queued runs and sweeps to `registry`.
pub fn register(registry: Registry) -> Registry {
    crate::sweeps::register(registry.with(RUN_JOB, RunQueued))
}

/// Most runs a listing returns.
const MAX_LISTED: i64 = 100;

/// The user's stored runs, newest first.
pub async fn list(app: &App, user_id: i64) -> Result<Vec<backtests::Backtest>, StoreError> {
    backtests::of_user(&app.db, user_id, MAX_LISTED).await
}

/// One of the user's stored runs and how many trade legs it recorded; None when they have no
/// such run.
pub async fn get(
    app: &App,
    user_id: i64,
    id: i64,
) -> Result<Option<(backtests::Backtest, i64)>, StoreError> {
    let Some(run) = backtests::get(&app.db, user_id, id).await? else {
        return Ok(None);
    };
    let legs = backtests::trade_count(&app.db, id).await?;
    Ok(Some((run, legs)))
}
