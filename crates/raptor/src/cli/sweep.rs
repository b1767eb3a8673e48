//! `raptor sweep …`: a parameter sweep over stored bars on every core of this machine,
//! printing its progress and then the best runs (not stored; `POST /api/backtests/sweeps`
//! queues one for a worker).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use raptor_app::sweeps::{self, RankBy, SweepRequest, Values};
use raptor_app::{backtests, App};
use raptor_store::DatabaseUrl;
use rust_decimal::Decimal;
use serde_json::Number;

use super::backtest::{execution, when, RunBars};
use super::{connect_app, CliError};

#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    bars: RunBars,
    /// `sma_crossover`, `rsi_reversion`, `donchian_breakout` or `buy_and_hold`.
    #[arg(long, default_value = "sma_crossover")]
    strategy: String,
    /// A parameter's values, repeated per parameter: `fast=5:50:5` (from:to:step) or
    /// `slow=50,100,200`.
    #[arg(long = "grid", required = true)]
    grid: Vec<String>,
    /// What ranks the runs: sharpe, sortino, calmar, total_return or cagr.
    #[arg(long, default_value = "sharpe")]
    rank_by: String,
    /// Starting cash of every run.
    #[arg(long, default_value = "100000")]
    initial_cash: Decimal,
    /// The execution model as a JSON object, as in `POST /api/backtests`.
    #[arg(long)]
    execution: Option<String>,
    /// How many of the best runs to print.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

fn number(raw: &str, entry: &str) -> Result<Number, CliError> {
    serde_json::from_str(raw.trim())
        .map_err(|_| CliError::Refused(format!("--grid {entry}: '{raw}' is not a number")))
}

/// `name=from:to:step` or `name=a,b,c`.
fn parameter(entry: &str) -> Result<(String, Values), CliError> {
    let (name, values) = entry.split_once('=').ok_or_else(|| {
        CliError::Refused(format!(
            "--grid {entry}: expected name=from:to:step or name=a,b"
        ))
    })?;
    let range: Vec<&str> = values.split(':').collect();
    let values = match range.as_slice() {
        [from, to, step] => Values::Range {
            from: number(from, entry)?,
            to: number(to, entry)?,
            step: number(step, entry)?,
        },
        _ => Values::List(
            values
                .split(',')
                .map(|v| number(v, entry))
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok((name.trim().to_owned(), values))
}

pub async fn run(url: &DatabaseUrl, args: SweepArgs) -> Result<ExitCode, CliError> {
    let grid: BTreeMap<String, Values> = args
        .grid
        .iter()
        .map(|entry| parameter(entry))
        .collect::<Result<_, _>>()?;
    let rank_by: RankBy = serde_json::from_value(serde_json::json!(args.rank_by))
        .map_err(|_| CliError::Refused(format!("--rank-by: unknown metric '{}'", args.rank_by)))?;
    let request = SweepRequest {
        symbol: args.bars.symbol,
        timeframe: args.bars.timeframe,
        start: when(&args.bars.start)?,
        end: when(&args.bars.end)?,
        strategy: args.strategy,
        grid,
        initial_cash: Some(args.initial_cash),
        execution: execution(args.execution.as_deref())?,
        rank_by,
    };
    let db = connect_app(url, false).await?;
    let app = App::new(db.clone());
    let refused = |err: backtests::BacktestError| match err {
        backtests::BacktestError::Store(err) => CliError::from(err),
        other => CliError::Refused(other.to_string()),
    };
    let plan = sweeps::plan(&app, request).await.map_err(refused)?;
    let started = Instant::now();
    let bars = backtests::load_bars(
        &app,
        &plan.symbol,
        plan.timeframe,
        plan.request.start,
        plan.request.end,
    )
    .await
    .map_err(refused)?;
    db.close().await;
    let loaded = started.elapsed();
    let total = plan.strategies.len();
    let bar_count = bars.len();
    let (done, stop) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let mut task = tokio::task::spawn_blocking({
        let (done, stop) = (done.clone(), stop.clone());
        let (strategies, config) = (plan.strategies.clone(), plan.config);
        move || sweeps::run_all(&bars, &strategies, &config, rank_by, &done, &stop)
    });
    let running = Instant::now();
    let ranked = loop {
        tokio::select! {
            finished = &mut task => break finished,
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                let count = done.load(Ordering::Relaxed);
                let elapsed = running.elapsed().as_secs_f64();
                let eta = if count > 0 {
                    format!("{:.0} s left", elapsed / count as f64 * (total - count) as f64)
                } else {
                    "ETA once the first run ends".to_owned()
                };
                eprintln!("{count}/{total} runs, {eta}");
            }
        }
    };
    let ranked = ranked
        .map_err(|e| CliError::Refused(format!("the sweep stopped: {e}")))?
        .map_err(|e| CliError::Refused(e.to_string()))?
        .unwrap_or_default();
    let took = running.elapsed().as_secs_f64();
    let steps = (total * bar_count) as f64;
    out!(
        "{total} runs over {bar_count} bars in {took:.2} s, after loading them in {:.2} s \
         ({:.1} M bar steps/s)",
        loaded.as_secs_f64(),
        steps / took.max(1e-9) / 1e6
    );
    out!("rank  total return  sharpe   max drawdown  trades  strategy");
    for r in ranked.iter().take(args.top) {
        let m = &r.metrics;
        out!(
            "{:>4}  {:>11.2}%  {:>6}  {:>12.2}%  {:>6}  {}",
            r.rank,
            m.total_return * 100.0,
            m.sharpe.map_or("n/a".into(), |s| format!("{s:.2}")),
            m.max_drawdown * 100.0,
            m.trades,
            serde_json::to_string(&r.strategy).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
