//! Parameter sweeps over HTTP: queue one (202), watch its progress, read its ranked results,
//! cancel it.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::sweeps::{self, RankBy, SweepRequest, Values};
use raptor_app::times;
use raptor_domain::backtest::{Execution, Strategy};
use raptor_domain::decimal;
use raptor_store::backtest_sweeps::Sweep;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::backtests::{BacktestExecution, BacktestStrategy};
use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::session::CurrentSession;
use crate::{AppState, Problem, ProblemCode};

const TAG: &str = "backtests";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sweeps, queue_sweep))
        .routes(routes!(get_sweep, cancel_sweep))
}

/// A parameter's value, kept as written so whole numbers stay whole.
#[derive(Deserialize)]
#[serde(transparent)]
struct GridNumber(Number);

impl utoipa::PartialSchema for GridNumber {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <f64 as utoipa::PartialSchema>::schema()
    }
}

impl ToSchema for GridNumber {}

/// The values of one parameter: a list, or a range.
#[derive(Deserialize, ToSchema)]
#[serde(
    untagged,
    expecting = "a list of numbers, or a range {\"from\", \"to\", \"step\"}"
)]
enum GridValues {
    /// These values.
    List(Vec<GridNumber>),
    /// From `from` to `to` (inclusive) by `step`; whole numbers stay whole.
    Range {
        /// First value.
        #[schema(value_type = f64)]
        from: Number,
        /// Last value at most.
        #[schema(value_type = f64)]
        to: Number,
        /// Positive distance between values.
        #[schema(value_type = f64)]
        step: Number,
    },
}

/// What ranks a sweep's results, best (highest) first.
#[derive(Deserialize, Serialize, ToSchema, Default, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum SweepRankBy {
    /// Annualised Sharpe ratio (default).
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

impl From<SweepRankBy> for RankBy {
    fn from(r: SweepRankBy) -> Self {
        match r {
            SweepRankBy::Sharpe => RankBy::Sharpe,
            SweepRankBy::Sortino => RankBy::Sortino,
            SweepRankBy::Calmar => RankBy::Calmar,
            SweepRankBy::TotalReturn => RankBy::TotalReturn,
            SweepRankBy::Cagr => RankBy::Cagr,
        }
    }
}

/// A parameter sweep to queue: one strategy over every combination of its parameters' values.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SweepBody {
    /// Ticker, any case; it must be listed.
    symbol: String,
    /// Bar size: `1Min`, `5Min`, `15Min`, `1Hour` or `1Day`.
    timeframe: String,
    /// First bar time (inclusive).
    #[serde(deserialize_with = "times::deserialize")]
    start: DateTime<Utc>,
    /// End of the range (exclusive); after `start`.
    #[serde(deserialize_with = "times::deserialize")]
    end: DateTime<Utc>,
    /// The strategy type: `sma_crossover`, `rsi_reversion`, `donchian_breakout` or
    /// `buy_and_hold`.
    strategy: String,
    /// Values of each of the strategy's parameters, e.g. `{"fast": {"from": 5, "to": 50,
    /// "step": 5}, "slow": [50, 100, 200]}`. Every combination runs except those the strategy
    /// refuses (a fast period not below the slow one); at most 10,000.
    #[schema(value_type = BTreeMap<String, GridValues>)]
    grid: BTreeMap<String, GridValues>,
    /// Starting cash of every run, a decimal string (default `100000`).
    #[serde(default, deserialize_with = "decimal::optional")]
    initial_cash: Option<Decimal>,
    /// How every run trades (see the single run's `execution`).
    #[serde(default)]
    #[schema(value_type = Option<BacktestExecution>)]
    execution: Execution,
    /// What ranks the results (default `sharpe`).
    #[serde(default)]
    rank_by: SweepRankBy,
}

impl From<SweepBody> for SweepRequest {
    fn from(b: SweepBody) -> Self {
        SweepRequest {
            symbol: b.symbol,
            timeframe: b.timeframe,
            start: b.start,
            end: b.end,
            strategy: b.strategy,
            grid: b
                .grid
                .into_iter()
                .map(|(name, values)| {
                    let values = match values {
                        GridValues::List(list) => {
                            Values::List(list.into_iter().map(|n| n.0).collect())
                        }
                        GridValues::Range { from, to, step } => Values::Range { from, to, step },
                    };
                    (name, values)
                })
                .collect(),
            initial_cash: b.initial_cash,
            execution: b.execution,
            rank_by: b.rank_by.into(),
        }
    }
}

/// One combination's result.
#[derive(Serialize, ToSchema)]
struct SweepResult {
    /// 1 for the best.
    rank: usize,
    /// The strategy with its parameters.
    strategy: BacktestStrategy,
    /// Its metrics, as a single run reports them (without timings).
    #[schema(value_type = Object)]
    metrics: Value,
}

/// A result as stored.
#[derive(Deserialize)]
struct StoredResult {
    rank: usize,
    strategy: Strategy,
    metrics: Value,
}

/// A sweep and how far it got.
#[derive(Serialize, ToSchema)]
struct SweepView {
    /// The sweep's id.
    id: i64,
    /// Ticker.
    symbol: String,
    /// Bar size.
    timeframe: &'static str,
    /// Range start.
    start: DateTime<Utc>,
    /// Range end.
    end: DateTime<Utc>,
    /// The request as queued.
    #[schema(value_type = Object)]
    request: Value,
    /// `queued`, `running`, `succeeded`, `failed` or `canceled`.
    status: String,
    /// Combinations to run.
    total: i64,
    /// Combinations run.
    done: i64,
    /// Seconds still needed at the pace so far, while running.
    #[schema(required)]
    eta_seconds: Option<f64>,
    /// The best 100 results, best first, once it succeeded (null in listings).
    #[schema(required)]
    results: Option<Vec<SweepResult>>,
    /// Why it failed.
    #[schema(required)]
    error: Option<String>,
    /// The background job that runs it.
    #[schema(required)]
    job_id: Option<i64>,
    /// When it was queued.
    created_at: DateTime<Utc>,
    /// When a worker began it.
    #[schema(required)]
    started_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[schema(required)]
    finished_at: Option<DateTime<Utc>>,
}

impl SweepView {
    fn new(sweep: Sweep, now: DateTime<Utc>, with_results: bool) -> Self {
        let eta_seconds = sweeps::eta_seconds(&sweep, now);
        let results = sweep.results.filter(|_| with_results).map(|r| {
            serde_json::from_value::<Vec<StoredResult>>(r.0)
                .unwrap_or_default()
                .into_iter()
                .map(|r| SweepResult {
                    rank: r.rank,
                    strategy: (&r.strategy).into(),
                    metrics: r.metrics,
                })
                .collect()
        });
        Self {
            id: sweep.id,
            symbol: sweep.symbol,
            timeframe: sweep.timeframe.as_str(),
            start: sweep.period_start,
            end: sweep.period_end,
            request: sweep.request.0,
            status: sweep.status,
            total: sweep.total,
            done: sweep.done,
            eta_seconds,
            results,
            error: sweep.error,
            job_id: sweep.job_id,
            created_at: sweep.created_at,
            started_at: sweep.started_at,
            finished_at: sweep.finished_at,
        }
    }
}

async fn found(state: &AppState, user_id: i64, id: i64) -> Result<Sweep, Problem> {
    sweeps::get(state, user_id, id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("you have no sweep {id}")))
}

/// Queues a parameter sweep; a worker runs it on every core. Watch it with
/// `GET /api/backtests/sweeps/{id}`.
#[utoipa::path(post, path = "/api/backtests/sweeps", tag = TAG,
    request_body = SweepBody,
    responses(
        (status = 202, description = "Queued", body = SweepView),
        (status = 400, description = "The body is not JSON", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "A field is not acceptable; `field` names it", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn queue_sweep(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(body): ApiJson<SweepBody>,
) -> Result<(StatusCode, Json<SweepView>), Problem> {
    let plan = sweeps::plan(&state, body.into()).await?;
    let id = sweeps::queue(&state, current.user.id, &plan).await?;
    let sweep = found(&state, current.user.id, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SweepView::new(sweep, state.now(), true)),
    ))
}

/// The user's sweeps.
#[derive(Serialize, ToSchema)]
struct SweepList {
    /// Newest first, at most 100, without their results.
    sweeps: Vec<SweepView>,
}

/// The signed-in user's sweeps, newest first.
#[utoipa::path(get, path = "/api/backtests/sweeps", tag = TAG,
    responses((status = 200, description = "The sweeps", body = SweepList)),
    security(("session" = [])))]
async fn list_sweeps(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<SweepList>, Problem> {
    let now = state.now();
    let sweeps = sweeps::list(&state, current.user.id).await?;
    Ok(Json(SweepList {
        sweeps: sweeps
            .into_iter()
            .map(|s| SweepView::new(s, now, false))
            .collect(),
    }))
}

/// One of the signed-in user's sweeps: progress, an ETA while running, results once done.
#[utoipa::path(get, path = "/api/backtests/sweeps/{id}", tag = TAG,
    params(("id" = i64, Path, description = "The sweep's id.")),
    responses(
        (status = 200, description = "The sweep", body = SweepView),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The user has no such sweep", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn get_sweep(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SweepView>, Problem> {
    let sweep = found(&state, current.user.id, id).await?;
    Ok(Json(SweepView::new(sweep, state.now(), true)))
}

/// Cancels a queued or running sweep: a running one stops within a second.
#[utoipa::path(delete, path = "/api/backtests/sweeps/{id}", tag = TAG,
    params(("id" = i64, Path, description = "The sweep's id.")),
    responses(
        (status = 200, description = "Canceled", body = SweepView),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The user has no such sweep", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 409, description = "It has already ended (`sweep_ended`)", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn cancel_sweep(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SweepView>, Problem> {
    let user = current.user.id;
    if !sweeps::cancel(&state, user, id).await? {
        let sweep = found(&state, user, id).await?;
        return Err(Problem::new(
            ProblemCode::SweepEnded,
            format!("sweep {id} has already {}", sweep.status),
        ));
    }
    let sweep = found(&state, user, id).await?;
    Ok(Json(SweepView::new(sweep, state.now(), true)))
}
