//! Backtests: a built-in strategy over stored bars, run by the pure engine in the domain
//! crate, stored with its trades.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use raptor_domain::backtest::{self, Bar, Config, Outcome, Strategy};
use raptor_domain::timeframe::Timeframe;
use raptor_store::backtests::{self, NewBacktest, NewTrade};
use raptor_store::{market, settings, Db};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::ApiJson;
use crate::session::CurrentSession;
use crate::{AppState, Problem};

/// Most bars one run may load.
const MAX_BARS: i64 = 5_000_000;
/// Points kept of the equity curve in answers.
const CURVE_POINTS: usize = 500;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/backtests", get(list).post(create))
        .route("/api/backtests/{id}", get(get_one))
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
            "initial_cash": self.initial_cash.normalize().to_string(),
            "metrics": self.metrics_json(),
            "trades": self.outcome.trades,
            "equity_curve": curve,
            "bars_processed": self.outcome.bars_processed,
            "elapsed_ms": self.elapsed_ms,
        })
    }
}

/// Loads the bars and runs the engine (off the async workers). Bad input → 4xx problems.
pub async fn run(db: &Db, req: &Request) -> Result<Report, Problem> {
    let symbol = req.symbol.trim().to_uppercase();
    if market::symbol(db, &symbol).await?.is_none() {
        return Err(Problem::invalid_field(
            "symbol",
            format!("'{symbol}' is not a listed symbol"),
        ));
    }
    let timeframe: Timeframe = req
        .timeframe
        .parse()
        .map_err(|e| Problem::invalid_field("timeframe", e))?;
    if req.start >= req.end {
        return Err(Problem::invalid_field("end", "must be after start"));
    }
    req.strategy
        .validate()
        .map_err(|e| Problem::invalid_field("strategy", e))?;
    let initial_cash = req.initial_cash.unwrap_or(Decimal::from(100_000));
    if initial_cash <= Decimal::ZERO || initial_cash > Decimal::from(1_000_000_000_000_i64) {
        return Err(Problem::invalid_field(
            "initial_cash",
            "must be positive and at most 1,000,000,000,000",
        ));
    }
    let stored = market::bars(
        db,
        &symbol,
        timeframe.as_str(),
        req.start,
        req.end,
        None,
        MAX_BARS + 1,
    )
    .await?;
    if stored.is_empty() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_bars",
            format!(
                "no {} bars for {symbol} in that range: import or fetch some first",
                timeframe.as_str()
            ),
        ));
    }
    if stored.len() as i64 > MAX_BARS {
        return Err(Problem::invalid_field(
            "start",
            format!("the range holds more than {MAX_BARS} bars; narrow it"),
        ));
    }
    let bars: Vec<Bar> = stored
        .iter()
        .map(|b| Bar {
            t: b.ts,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
        })
        .collect();
    let strategy = req.strategy.clone();
    let config = Config {
        initial_cash: initial_cash.try_into().unwrap_or(100_000.0),
        periods_per_year: timeframe.periods_per_year(),
    };
    let (outcome, elapsed_ms) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let outcome = backtest::run(&bars, &strategy, &config);
        (outcome, started.elapsed().as_secs_f64() * 1000.0)
    })
    .await
    .map_err(|e| Problem::internal(&e))?;
    let outcome = outcome.map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "backtest_failed",
            e.to_string(),
        )
    })?;
    Ok(Report {
        symbol,
        timeframe,
        start: req.start,
        end: req.end,
        strategy: req.strategy.clone(),
        initial_cash,
        outcome,
        elapsed_ms,
    })
}

fn decimal(value: f64) -> Decimal {
    Decimal::try_from(value)
        .map(|d| d.round_dp(8))
        .unwrap_or_default()
}

async fn create(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(req): ApiJson<Request>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let started_at = raptor_store::clock::now();
    let mut trace = crate::traces::Workflow::start(
        &state.db,
        "backtest",
        json!({ "user_id": current.user.id, "symbol": req.symbol, "timeframe": req.timeframe }),
    )
    .await;
    let report = match run(&state.db, &req).await {
        Ok(report) => report,
        Err(problem) => return Err(trace.fail("run", problem).await),
    };
    trace
        .step(
            "run",
            "ok",
            json!({ "bars": report.outcome.bars_processed, "engine_ms": report.elapsed_ms }),
        )
        .await;
    let params = json!(report.strategy);
    let metrics = report.metrics_json();
    let trades: Vec<NewTrade> = report
        .outcome
        .trades
        .iter()
        .flat_map(|t| {
            [
                NewTrade {
                    side: "buy",
                    qty: decimal(t.qty),
                    price: decimal(t.entry_price),
                    executed_at: t.entry_time,
                    realized_pl: None,
                },
                NewTrade {
                    side: "sell",
                    qty: decimal(t.qty),
                    price: decimal(t.exit_price),
                    executed_at: t.exit_time,
                    realized_pl: Some(decimal(t.pnl)),
                },
            ]
        })
        .collect();
    let finished_at = raptor_store::clock::now();
    let stored = async {
        let mut tx = state.db.begin().await?;
        let id = backtests::insert(
            &mut tx,
            &NewBacktest {
                user_id: current.user.id,
                strategy: report.strategy.name(),
                params: &params,
                symbol: &report.symbol,
                timeframe: report.timeframe.as_str(),
                period_start: report.start,
                period_end: report.end,
                initial_cash: report.initial_cash,
                status: "succeeded",
                metrics: Some(&metrics),
                error: None,
                started_at,
                finished_at,
            },
            &trades,
        )
        .await?;
        tx.commit().await?;
        Ok::<_, Problem>(id)
    }
    .await;
    let id = match stored {
        Ok(id) => id,
        Err(problem) => return Err(trace.fail("store", problem).await),
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
    settings::complete_step(&state.db, current.user.id, "first_backtest", finished_at).await?;
    let mut body = report.to_json(Some(id));
    body["trace_id"] = json!(trace_id);
    Ok((StatusCode::CREATED, Json(body)))
}

fn stored_json(b: &backtests::Backtest) -> Value {
    json!({
        "id": b.id,
        "symbol": b.symbol,
        "timeframe": b.timeframe,
        "start": b.period_start,
        "end": b.period_end,
        "strategy": b.params.0,
        "initial_cash": b.initial_cash.0.normalize().to_string(),
        "status": b.status,
        "metrics": b.metrics.as_ref().map(|m| &m.0),
        "error": b.error,
        "created_at": b.created_at,
    })
}

async fn list(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Value>, Problem> {
    let runs = backtests::of_user(&state.db, current.user.id, 100).await?;
    Ok(Json(
        json!({ "backtests": runs.iter().map(stored_json).collect::<Vec<_>>() }),
    ))
}

async fn get_one(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    let run = backtests::get(&state.db, current.user.id, id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("you have no backtest {id}")))?;
    let mut body = stored_json(&run);
    body["trade_legs"] = json!(backtests::trade_count(&state.db, id).await?);
    Ok(Json(body))
}
