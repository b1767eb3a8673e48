//! Backtests over HTTP: run and store one, list them, read one back.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::backtest_portfolios::{self, PortfolioRequest};
use raptor_app::backtests::{self, BacktestError, Report, Request, Submitted};
use raptor_app::times;
use raptor_domain::backtest::{
    self as engine, Benchmark, Commission, Direction, Execution, Fill, Metrics, Sizing, Trade,
    TradeSide,
};
use raptor_domain::{decimal, Strategy, Timeframe};
use raptor_store::backtests as stored;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::session::CurrentSession;
use crate::{AppState, Problem, ProblemCode};

const TAG: &str = "backtests";

/// Points kept of the equity curve in answers (as `raptor backtest` prints them).
const CURVE_POINTS: usize = 500;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_backtests, run_backtest))
        .routes(routes!(get_backtest))
        .routes(routes!(run_portfolio))
}

impl From<BacktestError> for Problem {
    fn from(err: BacktestError) -> Self {
        match err {
            BacktestError::Invalid(input) => Problem::invalid(input),
            BacktestError::NoBars { .. } => Problem::new(ProblemCode::NoBars, err.to_string()),
            BacktestError::Failed(_) => Problem::new(ProblemCode::BacktestFailed, err.to_string()),
            BacktestError::Busy(_) => Problem::new(ProblemCode::TooManyQueued, err.to_string()),
            BacktestError::Engine(_) => Problem::internal(&err),
            BacktestError::Store(store) => store.into(),
        }
    }
}

/// A built-in strategy and its parameters, tagged by `type`. A short signal opens a short
/// position under `long_short` execution and only closes a long one otherwise.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum BacktestStrategy {
    /// Long on the first bar, held to the end.
    BuyAndHold,
    /// Long when the fast simple moving average of closes crosses above the slow one, short
    /// when it crosses below.
    SmaCrossover {
        /// Bars in the fast average (1 to 10000).
        fast: usize,
        /// Bars in the slow average (more than `fast`, at most 10000).
        slow: usize,
    },
    /// Wilder's RSI of closes: long while below `lower`, short while above `upper`.
    RsiReversion {
        /// Bars in the index (2 to 10000).
        period: usize,
        /// Oversold level, above 0 and below 100.
        lower: f64,
        /// Overbought level, above `lower` and below 100.
        upper: f64,
    },
    /// Long when a close is above the highest high of the `period` bars before it, short
    /// when below their lowest low.
    DonchianBreakout {
        /// Bars in the channel (1 to 10000).
        period: usize,
    },
}

impl From<BacktestStrategy> for Strategy {
    fn from(s: BacktestStrategy) -> Self {
        match s {
            BacktestStrategy::BuyAndHold => Strategy::BuyAndHold,
            BacktestStrategy::SmaCrossover { fast, slow } => Strategy::SmaCrossover { fast, slow },
            BacktestStrategy::RsiReversion {
                period,
                lower,
                upper,
            } => Strategy::RsiReversion {
                period,
                lower,
                upper,
            },
            BacktestStrategy::DonchianBreakout { period } => Strategy::DonchianBreakout { period },
        }
    }
}

impl From<&Strategy> for BacktestStrategy {
    fn from(s: &Strategy) -> Self {
        match *s {
            Strategy::BuyAndHold => BacktestStrategy::BuyAndHold,
            Strategy::SmaCrossover { fast, slow } => BacktestStrategy::SmaCrossover { fast, slow },
            Strategy::RsiReversion {
                period,
                lower,
                upper,
            } => BacktestStrategy::RsiReversion {
                period,
                lower,
                upper,
            },
            Strategy::DonchianBreakout { period } => BacktestStrategy::DonchianBreakout { period },
        }
    }
}

/// Where a signal given at a bar's close fills.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum BacktestFill {
    /// At the next bar's open (a signal on the last bar never fills).
    NextOpen,
    /// At the close of the signal's own bar.
    SignalClose,
}

/// Commission per fill, tagged by `type`.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BacktestCommission {
    /// Free.
    None,
    /// Cash per share, at least `minimum` per fill.
    PerShare {
        /// Cash per share (at least 0).
        rate: f64,
        /// Least charged per fill (default 0).
        #[schema(required = false)]
        minimum: f64,
    },
    /// Percent of the fill's value, at least `minimum` per fill.
    Percent {
        /// Percent of notional, 0.1 meaning 0.1% (at least 0, below 100).
        rate: f64,
        /// Least charged per fill (default 0).
        #[schema(required = false)]
        minimum: f64,
    },
    /// The same amount on every fill.
    Fixed {
        /// Cash per fill (at least 0).
        amount: f64,
    },
}

/// How many whole shares an entry takes, never more than the equity covers with commission.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BacktestSizing {
    /// As many as the equity covers.
    AllIn,
    /// As many as a share of the equity covers.
    Fraction {
        /// Above 0, at most 1.
        fraction: f64,
    },
    /// A fixed number, fewer when the equity does not cover them.
    Quantity {
        /// Whole shares, at least 1.
        qty: f64,
    },
}

/// Which positions a run may hold.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum BacktestDirection {
    /// Short signals only close longs.
    LongOnly,
    /// Short signals reverse into a short position.
    LongShort,
}

/// How a run trades. Every field is optional in a request; the defaults are `next_open`, no
/// commission, no slippage, `all_in` and `long_only`.
#[derive(Serialize, ToSchema)]
pub(crate) struct BacktestExecution {
    /// Where signals fill.
    #[schema(required = false)]
    fill: BacktestFill,
    /// What each fill pays.
    #[schema(required = false)]
    commission: BacktestCommission,
    /// Basis points a fill pays away from its price (0 to 1000): buys above, sells below.
    #[schema(required = false)]
    slippage_bps: f64,
    /// How many shares an entry takes.
    #[schema(required = false)]
    sizing: BacktestSizing,
    /// Whether short signals open short positions.
    #[schema(required = false)]
    direction: BacktestDirection,
}

impl From<&Execution> for BacktestExecution {
    fn from(e: &Execution) -> Self {
        Self {
            fill: match e.fill {
                Fill::NextOpen => BacktestFill::NextOpen,
                Fill::SignalClose => BacktestFill::SignalClose,
            },
            commission: match e.commission {
                Commission::None => BacktestCommission::None,
                Commission::PerShare { rate, minimum } => {
                    BacktestCommission::PerShare { rate, minimum }
                }
                Commission::Percent { rate, minimum } => {
                    BacktestCommission::Percent { rate, minimum }
                }
                Commission::Fixed { amount } => BacktestCommission::Fixed { amount },
            },
            slippage_bps: e.slippage_bps,
            sizing: match e.sizing {
                Sizing::AllIn => BacktestSizing::AllIn,
                Sizing::Fraction { fraction } => BacktestSizing::Fraction { fraction },
                Sizing::Quantity { qty } => BacktestSizing::Quantity { qty },
            },
            direction: match e.direction {
                Direction::LongOnly => BacktestDirection::LongOnly,
                Direction::LongShort => BacktestDirection::LongShort,
            },
        }
    }
}

/// A backtest to run over stored bars.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BacktestRequest {
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
    /// The strategy to run.
    strategy: BacktestStrategy,
    /// Starting cash, a decimal string (default `100000`; at most 1,000,000,000,000).
    #[serde(default, deserialize_with = "decimal::optional")]
    initial_cash: Option<Decimal>,
    /// How the run trades (see each field's default).
    #[serde(default)]
    #[schema(value_type = Option<BacktestExecution>)]
    execution: Execution,
    /// A listed symbol to compare with by holding it over the range (default `SPY`, compared
    /// only when it has bars there; a named one must have some).
    #[serde(default)]
    benchmark: Option<String>,
}

impl From<BacktestRequest> for Request {
    fn from(r: BacktestRequest) -> Self {
        Request {
            symbol: r.symbol,
            timeframe: r.timeframe,
            start: r.start,
            end: r.end,
            strategy: r.strategy.into(),
            initial_cash: r.initial_cash,
            execution: r.execution,
            benchmark: r.benchmark,
        }
    }
}

/// A run's summary statistics. Returns and drawdowns are fractions (0.1 = 10%).
#[derive(Serialize, ToSchema)]
struct BacktestMetrics {
    /// Final equity over initial cash, less 1.
    total_return: f64,
    /// Compound annual growth rate; null for a zero-length span.
    cagr: Option<f64>,
    /// Largest peak-to-trough fall of equity, as a positive fraction of the peak.
    max_drawdown: f64,
    /// Annualised Sharpe ratio of per-bar returns (risk-free rate 0); null if undefined.
    sharpe: Option<f64>,
    /// Annualised Sortino ratio of per-bar returns (target 0); null if undefined.
    sortino: Option<f64>,
    /// CAGR over the maximum drawdown; null without either.
    calmar: Option<f64>,
    /// Bars per year, the annualisation factor used.
    periods_per_year: f64,
    /// Share of trades with a positive profit; null without trades.
    win_rate: Option<f64>,
    /// Gross profit over gross loss; null without a losing trade.
    profit_factor: Option<f64>,
    /// Number of round trips, including one still open at the end.
    trades: usize,
    /// Share of bars that closed with a position held.
    exposure: f64,
    /// Value of every fill over the mean equity.
    turnover: f64,
    /// Commission paid in all.
    fees: f64,
    /// Equity after the last bar.
    final_equity: f64,
    /// The run against holding the benchmark; null when the default benchmark has no bars in
    /// the range.
    benchmark: Option<BacktestBenchmark>,
    /// Bars the engine stepped through.
    bars_processed: usize,
    /// Engine time in milliseconds (loading the bars excluded).
    elapsed_ms: f64,
    /// Bars per second of engine time.
    bars_per_second: f64,
}

impl From<&Report> for BacktestMetrics {
    fn from(r: &Report) -> Self {
        Self::new(&r.outcome.metrics, r.outcome.bars_processed, r.elapsed_ms)
    }
}

impl BacktestMetrics {
    fn new(m: &Metrics, bars: usize, elapsed_ms: f64) -> Self {
        Self {
            total_return: m.total_return,
            cagr: m.cagr,
            max_drawdown: m.max_drawdown,
            sharpe: m.sharpe,
            sortino: m.sortino,
            calmar: m.calmar,
            periods_per_year: m.periods_per_year,
            win_rate: m.win_rate,
            profit_factor: m.profit_factor,
            trades: m.trades,
            exposure: m.exposure,
            turnover: m.turnover,
            fees: m.fees,
            final_equity: m.final_equity,
            benchmark: m.benchmark.as_ref().map(BacktestBenchmark::from),
            bars_processed: bars,
            elapsed_ms,
            bars_per_second: if elapsed_ms > 0.0 {
                bars as f64 / (elapsed_ms / 1000.0)
            } else {
                0.0
            },
        }
    }
}

/// A run against buying and holding a benchmark over the same range.
#[derive(Serialize, ToSchema)]
struct BacktestBenchmark {
    /// The benchmark's ticker.
    symbol: String,
    /// Its last close over its first, less 1.
    total_return: f64,
    /// The run's total return less the benchmark's.
    excess_return: f64,
    /// Covariance of per-bar returns with the benchmark's over its variance, on the bars both
    /// have; null with fewer than two or a flat benchmark.
    beta: Option<f64>,
    /// Annualised Jensen's alpha (risk-free rate 0); null without a beta.
    alpha: Option<f64>,
}

impl From<&Benchmark> for BacktestBenchmark {
    fn from(b: &Benchmark) -> Self {
        Self {
            symbol: b.symbol.clone(),
            total_return: b.total_return,
            excess_return: b.excess_return,
            beta: b.beta,
            alpha: b.alpha,
        }
    }
}

/// Which way a trade faced.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum BacktestTradeSide {
    /// Bought, then sold.
    Long,
    /// Sold short, then bought back.
    Short,
}

/// One round trip: an entry and the fill that closed it.
#[derive(Serialize, ToSchema)]
struct BacktestTrade {
    /// Long or short.
    side: BacktestTradeSide,
    /// When the position was opened.
    entry_time: DateTime<Utc>,
    /// Fill price of the entry, slippage included.
    entry_price: f64,
    /// When it was closed (the last bar's time if still open at the end).
    exit_time: DateTime<Utc>,
    /// Fill price of the exit, slippage included (the last close if still open at the end).
    exit_price: f64,
    /// Whole shares.
    qty: f64,
    /// Commission paid on the entry and the exit.
    fees: f64,
    /// Profit or loss in cash, after fees.
    pnl: f64,
    /// `pnl` over the entry's value (0.1 = +10%).
    return_pct: f64,
    /// Whether the position was still open after the last bar, only marked to market.
    open_at_end: bool,
}

impl From<&Trade> for BacktestTrade {
    fn from(t: &Trade) -> Self {
        Self {
            side: match t.side {
                TradeSide::Long => BacktestTradeSide::Long,
                TradeSide::Short => BacktestTradeSide::Short,
            },
            entry_time: t.entry_time,
            entry_price: t.entry_price,
            exit_time: t.exit_time,
            exit_price: t.exit_price,
            qty: t.qty,
            fees: t.fees,
            pnl: t.pnl,
            return_pct: t.return_pct,
            open_at_end: t.open_at_end,
        }
    }
}

/// Equity at one bar's close.
#[derive(Serialize, ToSchema)]
struct EquityPoint {
    /// The bar's time.
    t: DateTime<Utc>,
    /// Cash plus the position's value at the close.
    equity: f64,
}

/// A finished run, as stored.
#[derive(Serialize, ToSchema)]
struct BacktestRun {
    /// The stored backtest's id.
    id: i64,
    /// Ticker.
    symbol: String,
    /// Bar size.
    timeframe: &'static str,
    /// Range start.
    start: DateTime<Utc>,
    /// Range end.
    end: DateTime<Utc>,
    /// The strategy run.
    strategy: BacktestStrategy,
    /// How it traded.
    execution: BacktestExecution,
    /// Starting cash, a decimal string.
    initial_cash: String,
    /// Summary statistics.
    metrics: BacktestMetrics,
    /// Round trips, oldest first.
    trades: Vec<BacktestTrade>,
    /// Equity over time, thinned to at most 500 evenly spaced points (first and last kept).
    equity_curve: Vec<EquityPoint>,
    /// Bars the engine stepped through.
    bars_processed: usize,
    /// Engine time in milliseconds.
    elapsed_ms: f64,
    /// The workflow trace of the run, for support staff (`/api/admin/traces/{workflow_id}`).
    trace_id: String,
}

impl BacktestRun {
    fn new(report: &Report, id: i64, trace_id: String) -> Self {
        Self {
            id,
            symbol: report.symbol.clone(),
            timeframe: report.timeframe.as_str(),
            start: report.start,
            end: report.end,
            strategy: (&report.strategy).into(),
            execution: (&report.execution).into(),
            initial_cash: report.initial_cash.normalize().to_string(),
            metrics: report.into(),
            trades: report
                .outcome
                .trades
                .iter()
                .map(BacktestTrade::from)
                .collect(),
            equity_curve: engine::downsample(&report.outcome.equity_curve, CURVE_POINTS)
                .into_iter()
                .map(|(t, equity)| EquityPoint { t, equity })
                .collect(),
            bars_processed: report.outcome.bars_processed,
            elapsed_ms: report.elapsed_ms,
            trace_id,
        }
    }
}

/// A long run, queued for a worker.
#[derive(Serialize, ToSchema)]
struct QueuedBacktest {
    /// The stored backtest's id: `GET /api/backtests/{id}` shows its status and, once it
    /// succeeded, its metrics.
    id: i64,
    /// `queued`.
    status: &'static str,
    /// The background job that runs it.
    #[schema(required)]
    job_id: Option<i64>,
}

/// Runs a backtest over the stored bars of a symbol and stores it with its trades. A run over
/// more than 250,000 bars is queued instead (202) and run by a worker.
#[utoipa::path(post, path = "/api/backtests", tag = TAG,
    request_body = BacktestRequest,
    responses(
        (status = 201, description = "The run, stored", body = BacktestRun),
        (status = 202, description = "A long run, queued", body = QueuedBacktest),
        (status = 400, description = "The body is not JSON", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "A field is not acceptable (`field` names it), the range holds no bars (`no_bars`) or the strategy could not run (`backtest_failed`)", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn run_backtest(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(req): ApiJson<BacktestRequest>,
) -> Result<Response, Problem> {
    Ok(
        match backtests::submit(&state, current.user.id, &req.into()).await? {
            Submitted::Ran(run) => (
                StatusCode::CREATED,
                Json(BacktestRun::new(&run.report, run.id, run.trace_id)),
            )
                .into_response(),
            Submitted::Queued { id, job_id } => (
                StatusCode::ACCEPTED,
                Json(QueuedBacktest {
                    id,
                    status: "queued",
                    job_id,
                }),
            )
                .into_response(),
        },
    )
}

/// One strategy on several symbols, each with an equal share of the cash.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PortfolioBody {
    /// Tickers, any case, each listed, none twice (1 to 50).
    symbols: Vec<String>,
    /// Bar size: `1Min`, `5Min`, `15Min`, `1Hour` or `1Day`.
    timeframe: String,
    /// First bar time (inclusive).
    #[serde(deserialize_with = "times::deserialize")]
    start: DateTime<Utc>,
    /// End of the range (exclusive); after `start`.
    #[serde(deserialize_with = "times::deserialize")]
    end: DateTime<Utc>,
    /// The strategy every symbol runs.
    strategy: BacktestStrategy,
    /// The whole portfolio's starting cash, a decimal string (default `100000`), split
    /// equally.
    #[serde(default, deserialize_with = "decimal::optional")]
    initial_cash: Option<Decimal>,
    /// How every run trades.
    #[serde(default)]
    #[schema(value_type = Option<BacktestExecution>)]
    execution: Execution,
    /// A listed symbol to compare the portfolio with (default `SPY`, when it has bars there).
    #[serde(default)]
    benchmark: Option<String>,
}

/// One symbol's run in a portfolio.
#[derive(Serialize, ToSchema)]
struct PortfolioLeg {
    /// Ticker.
    symbol: String,
    /// Its share of the cash, a decimal string.
    initial_cash: String,
    /// Its summary statistics.
    metrics: BacktestMetrics,
    /// Its round trips, oldest first.
    trades: Vec<BacktestTrade>,
}

/// The equal-weight portfolio: the legs' equity summed, never rebalanced.
#[derive(Serialize, ToSchema)]
struct PortfolioTotal {
    /// Summary statistics of the summed equity (`bars_processed` counts the distinct bar
    /// times); compared with the benchmark.
    metrics: BacktestMetrics,
    /// Equity over time, thinned to at most 500 evenly spaced points (first and last kept).
    equity_curve: Vec<EquityPoint>,
}

/// A portfolio run.
#[derive(Serialize, ToSchema)]
struct PortfolioRun {
    /// Bar size.
    timeframe: &'static str,
    /// The whole portfolio's starting cash, a decimal string.
    initial_cash: String,
    /// Each symbol's run, in the order asked.
    symbols: Vec<PortfolioLeg>,
    /// The portfolio.
    portfolio: PortfolioTotal,
}

/// Runs one strategy on several symbols with equal shares of the cash and reports each and
/// the equal-weight portfolio. Answered at once; not stored.
#[utoipa::path(post, path = "/api/backtests/portfolios", tag = TAG,
    request_body = PortfolioBody,
    responses(
        (status = 200, description = "The runs and the portfolio", body = PortfolioRun),
        (status = 400, description = "The body is not JSON", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "A field is not acceptable (`field` names it), or a symbol has no bars in the range (`no_bars`)", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn run_portfolio(
    State(state): State<AppState>,
    _current: CurrentSession,
    ApiJson(body): ApiJson<PortfolioBody>,
) -> Result<Json<PortfolioRun>, Problem> {
    let request = PortfolioRequest {
        symbols: body.symbols,
        timeframe: body.timeframe,
        start: body.start,
        end: body.end,
        strategy: body.strategy.into(),
        initial_cash: body.initial_cash,
        execution: body.execution,
        benchmark: body.benchmark,
    };
    let report = backtest_portfolios::run(&state, &request).await?;
    Ok(Json(PortfolioRun {
        timeframe: report.timeframe.as_str(),
        initial_cash: report.initial_cash.normalize().to_string(),
        symbols: report
            .legs
            .iter()
            .map(|leg| PortfolioLeg {
                symbol: leg.symbol.clone(),
                initial_cash: leg.initial_cash.round_dp(8).normalize().to_string(),
                metrics: BacktestMetrics::new(
                    &leg.outcome.metrics,
                    leg.outcome.bars_processed,
                    leg.elapsed_ms,
                ),
                trades: leg.outcome.trades.iter().map(BacktestTrade::from).collect(),
            })
            .collect(),
        portfolio: PortfolioTotal {
            metrics: BacktestMetrics::new(
                &report.portfolio.metrics,
                report.portfolio.equity_curve.len(),
                report.elapsed_ms,
            ),
            equity_curve: engine::downsample(&report.portfolio.equity_curve, CURVE_POINTS)
                .into_iter()
                .map(|(t, equity)| EquityPoint { t, equity })
                .collect(),
        },
    }))
}

/// A stored run.
#[derive(Serialize, ToSchema)]
struct StoredBacktest {
    /// The backtest's id.
    id: i64,
    /// Ticker.
    symbol: String,
    /// Bar size.
    #[schema(value_type = String)]
    timeframe: Timeframe,
    /// Range start.
    start: DateTime<Utc>,
    /// Range end.
    end: DateTime<Utc>,
    /// The strategy run, as stored.
    #[schema(value_type = BacktestStrategy)]
    strategy: Value,
    /// How it traded, as stored.
    #[schema(value_type = Option<BacktestExecution>)]
    execution: Option<Value>,
    /// Starting cash, a decimal string.
    initial_cash: String,
    /// `succeeded`; for a queued run `queued`, `running` or `failed` (runs answered at once
    /// are stored only when they succeed).
    status: String,
    /// Summary statistics, as stored; null until a queued run succeeds.
    #[schema(value_type = Option<BacktestMetrics>)]
    metrics: Option<Value>,
    /// The benchmark it was asked to compare with, when one was named.
    #[schema(required)]
    benchmark: Option<String>,
    /// Why the run failed.
    error: Option<String>,
    /// When it was stored.
    created_at: DateTime<Utc>,
}

impl From<stored::Backtest> for StoredBacktest {
    fn from(b: stored::Backtest) -> Self {
        Self {
            id: b.id,
            symbol: b.symbol,
            timeframe: b.timeframe,
            start: b.period_start,
            end: b.period_end,
            strategy: b.params.0,
            execution: b.execution.map(|e| e.0),
            benchmark: b.benchmark,
            initial_cash: b.initial_cash.0.normalize().to_string(),
            status: b.status,
            metrics: b.metrics.map(|m| m.0),
            error: b.error,
            created_at: b.created_at,
        }
    }
}

/// The user's stored runs.
#[derive(Serialize, ToSchema)]
struct BacktestList {
    /// Newest first, at most 100.
    backtests: Vec<StoredBacktest>,
}

/// The signed-in user's stored backtests, newest first.
#[utoipa::path(get, path = "/api/backtests", tag = TAG,
    responses(
        (status = 200, description = "The runs", body = BacktestList),
    ),
    security(("session" = [])))]
async fn list_backtests(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<BacktestList>, Problem> {
    let runs = backtests::list(&state, current.user.id).await?;
    Ok(Json(BacktestList {
        backtests: runs.into_iter().map(StoredBacktest::from).collect(),
    }))
}

/// A stored run and how many trades it recorded.
#[derive(Serialize, ToSchema)]
struct BacktestDetail {
    #[serde(flatten)]
    run: StoredBacktest,
    /// Trade legs recorded: a buy and a sell per round trip.
    trade_legs: i64,
}

/// One of the signed-in user's stored backtests.
#[utoipa::path(get, path = "/api/backtests/{id}", tag = TAG,
    params(("id" = i64, Path, description = "The backtest's id.")),
    responses(
        (status = 200, description = "The run", body = BacktestDetail),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The user has no such backtest", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn get_backtest(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<BacktestDetail>, Problem> {
    let (run, legs) = backtests::get(&state, current.user.id, id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("you have no backtest {id}")))?;
    Ok(Json(BacktestDetail {
        run: run.into(),
        trade_legs: legs,
    }))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use raptor_domain::backtest::{Metrics, Outcome};

    use super::*;

    fn report(points: usize) -> Report {
        let start: DateTime<Utc> = "2026-01-05T05:00:00Z".parse().expect("time");
        let curve: Vec<(DateTime<Utc>, f64)> = (0..points)
            .map(|i| (start + Duration::days(i as i64), 10_000.0 + i as f64 * 0.5))
            .collect();
        Report {
            symbol: "SPY".into(),
            timeframe: Timeframe::Day1,
            start,
            end: start + Duration::days(points as i64),
            strategy: Strategy::SmaCrossover { fast: 5, slow: 20 },
            execution: Execution {
                commission: Commission::PerShare {
                    rate: 0.005,
                    minimum: 1.0,
                },
                sizing: Sizing::Fraction { fraction: 0.5 },
                direction: Direction::LongShort,
                ..Execution::default()
            },
            initial_cash: Decimal::new(1_000_000, 2),
            outcome: Outcome {
                metrics: Metrics {
                    total_return: 0.125,
                    cagr: Some(0.3),
                    max_drawdown: 0.05,
                    sharpe: None,
                    sortino: Some(1.5),
                    calmar: Some(6.0),
                    periods_per_year: 252.0,
                    win_rate: Some(0.5),
                    profit_factor: None,
                    trades: 1,
                    exposure: 0.4,
                    turnover: 2.5,
                    fees: 2.0,
                    final_equity: 11_250.0,
                    benchmark: Some(Benchmark {
                        symbol: "QQQ".into(),
                        total_return: 0.1,
                        excess_return: 0.025,
                        beta: Some(1.1),
                        alpha: None,
                    }),
                },
                trades: vec![Trade {
                    side: TradeSide::Short,
                    entry_time: start,
                    entry_price: 100.0,
                    exit_time: start + Duration::days(3),
                    exit_price: 112.5,
                    qty: 100.0,
                    fees: 2.0,
                    pnl: 1_250.0,
                    return_pct: 0.125,
                    open_at_end: false,
                }],
                equity_curve: curve,
                bars_processed: points,
            },
            elapsed_ms: 2.5,
        }
    }

    #[test]
    fn a_run_answers_what_the_use_case_reports_and_stores() {
        for (points, elapsed_ms) in [(1_001, 2.5), (3, 0.0)] {
            let report = Report {
                elapsed_ms,
                ..report(points)
            };
            let mut expected = report.to_json(Some(7));
            expected["trace_id"] = "backtest-1".into();
            let answered = serde_json::to_value(BacktestRun::new(&report, 7, "backtest-1".into()))
                .expect("json");
            assert_eq!(answered, expected, "{points} points");
            assert_eq!(answered["metrics"], report.metrics_json());
        }
    }

    #[test]
    fn strategies_read_and_write_as_the_domain_does() {
        for strategy in [
            Strategy::BuyAndHold,
            Strategy::SmaCrossover { fast: 3, slow: 9 },
            Strategy::RsiReversion {
                period: 14,
                lower: 30.0,
                upper: 70.0,
            },
            Strategy::DonchianBreakout { period: 20 },
        ] {
            let wire = serde_json::to_value(&strategy).expect("json");
            let ours = BacktestStrategy::from(&strategy);
            assert_eq!(serde_json::to_value(&ours).expect("json"), wire);
            let read: BacktestStrategy = serde_json::from_value(wire).expect("read");
            assert_eq!(Strategy::from(read), strategy);
        }
    }
}
