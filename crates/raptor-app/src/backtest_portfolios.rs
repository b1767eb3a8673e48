//! Multi-symbol backtests: one strategy on each of a list of symbols with an equal share of
//! the cash, reported per symbol and as one equal-weight portfolio. Answered at once, not
//! stored.

use std::collections::HashSet;
use std::time::Instant;

use chrono::{DateTime, Utc};
use raptor_domain::backtest::{self, Execution, Outcome, Portfolio, Strategy};
use raptor_domain::timeframe::Timeframe;
use raptor_domain::InvalidInput;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::backtests::{self, BacktestError, Checked, MAX_BARS};
use crate::series::Series;
use crate::App;

/// Most symbols one portfolio may hold.
pub const MAX_SYMBOLS: usize = 50;

/// A portfolio run to make.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortfolioRequest {
    /// Tickers, each listed, none twice.
    pub symbols: Vec<String>,
    /// Bar timeframe.
    pub timeframe: String,
    /// First bar time (inclusive).
    pub start: DateTime<Utc>,
    /// End of the range (exclusive).
    pub end: DateTime<Utc>,
    /// The strategy every symbol runs.
    pub strategy: Strategy,
    /// The whole portfolio's starting cash (default 100,000), split equally.
    #[serde(default)]
    pub initial_cash: Option<Decimal>,
    /// How every run trades.
    #[serde(default)]
    pub execution: Execution,
    /// The symbol to compare the portfolio with (default SPY, when it has bars there).
    #[serde(default)]
    pub benchmark: Option<String>,
}

/// One symbol's run.
#[derive(Debug, Clone)]
pub struct Leg {
    /// Ticker.
    pub symbol: String,
    /// Its share of the cash.
    pub initial_cash: Decimal,
    /// What the engine made of it.
    pub outcome: Outcome,
    /// Its engine time, milliseconds.
    pub elapsed_ms: f64,
}

/// A finished portfolio run.
#[derive(Debug, Clone)]
pub struct PortfolioReport {
    /// Timeframe.
    pub timeframe: Timeframe,
    /// The whole portfolio's starting cash.
    pub initial_cash: Decimal,
    /// Each symbol's run, in the order asked.
    pub legs: Vec<Leg>,
    /// The equal-weight portfolio.
    pub portfolio: Portfolio,
    /// Engine time for every run and the combination, milliseconds (loading excluded).
    pub elapsed_ms: f64,
}

/// Checks the symbols (each listed, none twice, at most [`MAX_SYMBOLS`]) and the rest as a
/// single run is checked.
async fn check(app: &App, req: &PortfolioRequest) -> Result<Vec<Checked>, BacktestError> {
    if req.symbols.is_empty() || req.symbols.len() > MAX_SYMBOLS {
        return Err(
            InvalidInput::new("symbols", format!("must name 1 to {MAX_SYMBOLS} symbols")).into(),
        );
    }
    req.strategy.validate()?;
    let mut seen = HashSet::new();
    let mut checked = Vec::with_capacity(req.symbols.len());
    for symbol in &req.symbols {
        let one = backtests::check(
            app,
            symbol,
            &req.timeframe,
            req.start,
            req.end,
            req.initial_cash,
            &req.execution,
        )
        .await
        .map_err(|err| match err {
            BacktestError::Invalid(input) if input.field == "symbol" => {
                InvalidInput::new("symbols", input.reason).into()
            }
            err => err,
        })?;
        if !seen.insert(one.symbol.clone()) {
            return Err(
                InvalidInput::new("symbols", format!("'{}' is named twice", one.symbol)).into(),
            );
        }
        checked.push(one);
    }
    Ok(checked)
}

/// Runs the strategy on every symbol with an equal share of the cash and combines them.
pub async fn run(app: &App, req: &PortfolioRequest) -> Result<PortfolioReport, BacktestError> {
    let checked = check(app, req).await?;
    let whole = checked[0].initial_cash;
    let share = whole / Decimal::from(checked.len());
    let timeframe = checked[0].timeframe;
    let mut loaded: Vec<(String, Series)> = Vec::with_capacity(checked.len());
    let mut total = 0;
    for one in &checked {
        let bars = backtests::load_bars(app, &one.symbol, timeframe, req.start, req.end).await?;
        total += bars.len() as i64;
        if total > MAX_BARS {
            return Err(InvalidInput::new(
                "symbols",
                format!("the symbols hold more than {MAX_BARS} bars in the range; narrow it"),
            )
            .into());
        }
        loaded.push((one.symbol.clone(), bars));
    }
    let benchmark =
        backtests::benchmark_bars(app, req.benchmark.as_deref(), timeframe, req.start, req.end)
            .await?;
    let each = Checked {
        initial_cash: share,
        ..checked[0].clone()
    }
    .config(req.execution);
    let whole_config = checked[0].config(req.execution);
    let strategy = req.strategy.clone();
    let (result, elapsed_ms) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let result = loaded
            .into_iter()
            .map(|(symbol, bars)| {
                let started = Instant::now();
                backtest::run(&bars, &strategy, &each)
                    .map(|outcome| (symbol, outcome, started.elapsed().as_secs_f64() * 1000.0))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|runs| {
                let outcomes: Vec<&Outcome> = runs.iter().map(|(_, o, _)| o).collect();
                let mut portfolio = backtest::combine(&outcomes, &whole_config);
                if let Some((symbol, bars)) = benchmark {
                    portfolio.metrics.benchmark = backtest::compare(
                        &symbol,
                        &portfolio.equity_curve,
                        portfolio.metrics.total_return,
                        &bars,
                        whole_config.periods_per_year,
                    );
                }
                (runs, portfolio)
            });
        (result, started.elapsed().as_secs_f64() * 1000.0)
    })
    .await
    .map_err(|e| BacktestError::Engine(e.to_string()))?;
    let (runs, portfolio) = result.map_err(|e| BacktestError::Failed(e.to_string()))?;
    Ok(PortfolioReport {
        timeframe,
        initial_cash: whole,
        legs: runs
            .into_iter()
            .map(|(symbol, outcome, elapsed_ms)| Leg {
                symbol,
                initial_cash: share,
                outcome,
                elapsed_ms,
            })
            .collect(),
        portfolio,
        elapsed_ms,
    })
}
