//! `raptor backtest …`: the app's backtest from a shell (printed, not stored).

use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use raptor_app::backtests::{self, Request};
use raptor_app::App;
use raptor_domain::backtest::{Execution, Strategy};
use raptor_store::DatabaseUrl;
use rust_decimal::Decimal;

use super::{connect_app, CliError};

/// Which bars a run reads: `raptor backtest`'s and `raptor sweep`'s.
#[derive(Debug, Args)]
pub struct RunBars {
    /// Ticker.
    #[arg(long)]
    pub symbol: String,
    /// Timeframe (1Min, 5Min, 15Min, 1Hour, 1Day).
    #[arg(long, default_value = "1Day")]
    pub timeframe: String,
    /// First day (YYYY-MM-DD) or time (RFC 3339).
    #[arg(long)]
    pub start: String,
    /// End day (exclusive) or time.
    #[arg(long)]
    pub end: String,
}

#[derive(Debug, Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    bars: RunBars,
    /// `sma_crossover`, `buy_and_hold`, `rsi_reversion` or `donchian_breakout`.
    #[arg(long, default_value = "sma_crossover")]
    strategy: String,
    /// Fast SMA length (sma_crossover).
    #[arg(long, default_value_t = 10)]
    fast: usize,
    /// Slow SMA length (sma_crossover).
    #[arg(long, default_value_t = 30)]
    slow: usize,
    /// Bars in the RSI or the channel (rsi_reversion, donchian_breakout).
    #[arg(long, default_value_t = 14)]
    period: usize,
    /// RSI oversold level (rsi_reversion).
    #[arg(long, default_value_t = 30.0)]
    lower: f64,
    /// RSI overbought level (rsi_reversion).
    #[arg(long, default_value_t = 70.0)]
    upper: f64,
    /// The execution model as a JSON object, as in `POST /api/backtests`, e.g.
    /// '{"fill":"signal_close","commission":{"type":"per_share","rate":0.005,"minimum":1}}'
    /// (default: next open, no costs, all in, long only).
    #[arg(long)]
    execution: Option<String>,
    /// Symbol to compare with (default SPY, when it has bars in the range).
    #[arg(long)]
    benchmark: Option<String>,
    /// Starting cash.
    #[arg(long, default_value = "100000")]
    initial_cash: Decimal,
    /// Print the whole result as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn when(raw: &str) -> Result<DateTime<Utc>, CliError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            CliError::Refused(format!(
                "'{raw}' is neither YYYY-MM-DD nor an RFC 3339 time"
            ))
        })
}

/// The `--execution` JSON object, or the default model.
pub(super) fn execution(raw: Option<&str>) -> Result<Execution, CliError> {
    raw.map_or(Ok(Execution::default()), |raw| {
        serde_json::from_str(raw).map_err(|e| CliError::Refused(format!("--execution: {e}")))
    })
}

pub async fn run(url: &DatabaseUrl, args: BacktestArgs) -> Result<ExitCode, CliError> {
    let strategy = match args.strategy.as_str() {
        "sma_crossover" | "sma" => Strategy::SmaCrossover {
            fast: args.fast,
            slow: args.slow,
        },
        "buy_and_hold" => Strategy::BuyAndHold,
        "rsi_reversion" | "rsi" => Strategy::RsiReversion {
            period: args.period,
            lower: args.lower,
            upper: args.upper,
        },
        "donchian_breakout" | "donchian" => Strategy::DonchianBreakout {
            period: args.period,
        },
        other => {
            return Err(CliError::Refused(format!(
                "unknown strategy '{other}'; accepted: sma_crossover, buy_and_hold, \
                 rsi_reversion, donchian_breakout"
            )))
        }
    };
    let execution = execution(args.execution.as_deref())?;
    let request = Request {
        symbol: args.bars.symbol,
        timeframe: args.bars.timeframe,
        start: when(&args.bars.start)?,
        end: when(&args.bars.end)?,
        strategy,
        initial_cash: Some(args.initial_cash),
        execution,
        benchmark: args.benchmark,
    };
    let db = connect_app(url, false).await?;
    let report = backtests::run(&App::new(db.clone()), &request).await;
    db.close().await;
    let report = report.map_err(|err| match err {
        backtests::BacktestError::Store(err) => CliError::from(err),
        other => CliError::Refused(other.to_string()),
    })?;
    if args.json {
        out!("{}", report.to_json(None));
        return Ok(ExitCode::SUCCESS);
    }
    let m = &report.outcome.metrics;
    let pct = |v: f64| format!("{:.2}%", v * 100.0);
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("n/a".to_owned(), f);
    out!(
        "{} {} {} → {}",
        report.symbol,
        report.timeframe.as_str(),
        report.start.date_naive(),
        report.end.date_naive()
    );
    out!(
        "strategy        {}",
        serde_json::to_string(&report.strategy).unwrap_or_default()
    );
    out!("total return    {}", pct(m.total_return));
    out!("CAGR            {}", opt(m.cagr, &pct));
    out!("max drawdown    {}", pct(m.max_drawdown));
    out!(
        "Sharpe          {} ({} periods/year)",
        opt(m.sharpe, &|v| format!("{v:.2}")),
        m.periods_per_year
    );
    out!(
        "execution       {}",
        serde_json::to_string(&report.execution).unwrap_or_default()
    );
    out!("Sortino         {}", opt(m.sortino, &|v| format!("{v:.2}")));
    out!("Calmar          {}", opt(m.calmar, &|v| format!("{v:.2}")));
    out!("exposure        {}", pct(m.exposure));
    out!("turnover        {:.2}×", m.turnover);
    out!("fees            {:.2}", m.fees);
    out!("win rate        {}", opt(m.win_rate, &pct));
    out!(
        "profit factor   {}",
        opt(m.profit_factor, &|v| format!("{v:.2}"))
    );
    out!("trades          {}", m.trades);
    out!("final equity    {:.2}", m.final_equity);
    if let Some(b) = &m.benchmark {
        out!(
            "vs {:<12} {} held, {} excess, beta {}, alpha {}",
            b.symbol,
            pct(b.total_return),
            pct(b.excess_return),
            opt(b.beta, &|v| format!("{v:.2}")),
            opt(b.alpha, &pct)
        );
    }
    out!(
        "bars processed  {} in {:.2} ms ({:.1} M bars/s)",
        report.outcome.bars_processed,
        report.elapsed_ms,
        report.outcome.bars_processed as f64 / (report.elapsed_ms / 1000.0).max(1e-9) / 1e6
    );
    Ok(ExitCode::SUCCESS)
}
