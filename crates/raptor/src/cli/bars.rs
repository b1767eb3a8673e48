//! `raptor bars …`: fill the bar store from a CSV file or with demo data. Both write through
//! the one bar repository (re-running never duplicates) and then let the trading runtime fill
//! resting orders against the new bars.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use raptor_app::market::{self, BarsError};
use raptor_app::App;
use raptor_domain::calendar;
use raptor_domain::timeframe::Timeframe;
use raptor_domain::walk;
use raptor_store::market::StoredBar;
use raptor_store::{DatabaseUrl, StoreError};
use tokio::task::JoinHandle;

use super::{connect_app, CliError};

#[derive(Debug, Subcommand)]
pub enum BarsCommand {
    /// Import bars from a CSV file (timestamp, open, high, low, close, volume[, trade_count, vwap][, symbol]).
    Import {
        /// The CSV file (with a header row).
        file: PathBuf,
        /// Symbol of every row (or give a `symbol` column).
        #[arg(long)]
        symbol: Option<String>,
        /// Timeframe of the bars.
        #[arg(long)]
        timeframe: String,
        /// Rows written per transaction.
        #[arg(long, default_value_t = 5000)]
        batch: usize,
    },
    /// Fetch bars from Alpaca into the store (needs ALPACA_API_KEY_ID / ALPACA_API_SECRET_KEY).
    Fetch {
        /// Ticker.
        #[arg(long)]
        symbol: String,
        /// Timeframe of the bars.
        #[arg(long, default_value = "1Day")]
        timeframe: String,
        /// Start (RFC 3339).
        #[arg(long)]
        start: DateTime<Utc>,
        /// End (RFC 3339; default now).
        #[arg(long)]
        end: Option<DateTime<Utc>>,
        /// Alpaca settings.
        #[command(flatten)]
        alpaca: super::AlpacaArgs,
    },
    /// Fill a few symbols with deterministic synthetic bars up to now.
    Demo {
        /// Symbols to fill.
        #[arg(long, value_delimiter = ',', default_value = "AAPL,MSFT,SPY")]
        symbols: Vec<String>,
        /// Recent trading sessions of minute bars (older history is daily).
        #[arg(long, default_value_t = 10)]
        sessions: usize,
    },
}

impl BarsCommand {
    pub async fn run(self, url: &DatabaseUrl) -> Result<ExitCode, CliError> {
        let db = connect_app(url, false).await?;
        let app = App::new(db.clone());
        let result = match self {
            BarsCommand::Import {
                file,
                symbol,
                timeframe,
                batch,
            } => import(&app, &file, symbol.as_deref(), &timeframe, batch).await,
            BarsCommand::Demo { symbols, sessions } => demo(&app, &symbols, sessions).await,
            BarsCommand::Fetch {
                symbol,
                timeframe,
                start,
                end,
                alpaca,
            } => fetch(&app, &symbol, &timeframe, start, end, &alpaca).await,
        };
        db.close().await;
        result
    }
}

fn refused(message: impl Into<String>) -> CliError {
    CliError::Refused(message.into())
}

impl From<BarsError> for CliError {
    fn from(err: BarsError) -> Self {
        match err {
            BarsError::Store(err) => err.into(),
            other => refused(other.to_string()),
        }
    }
}

/// Lets the trading runtime fill resting orders against what was just written.
async fn run_runtime(app: &App, symbols: impl IntoIterator<Item = String>) -> Result<(), CliError> {
    for (symbol, matched) in market::match_symbols(app, symbols).await? {
        if matched.filled + matched.rejected + matched.expired > 0 {
            out!(
                "{symbol}: {} orders filled, {} rejected, {} expired",
                matched.filled,
                matched.rejected,
                matched.expired
            );
        }
    }
    Ok(())
}

/// Column positions, found by header name.
struct Columns {
    ts: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: usize,
    trade_count: Option<usize>,
    vwap: Option<usize>,
    symbol: Option<usize>,
}

impl Columns {
    fn find(header: &csv::StringRecord) -> Result<Self, CliError> {
        let position = |names: &[&str]| {
            header
                .iter()
                .position(|h| names.contains(&h.trim().to_ascii_lowercase().as_str()))
        };
        let required = |names: &[&str]| {
            position(names)
                .ok_or_else(|| refused(format!("line 1: the header has no {} column", names[0])))
        };
        Ok(Self {
            ts: required(&["timestamp", "t", "time", "ts"])?,
            open: required(&["open", "o"])?,
            high: required(&["high", "h"])?,
            low: required(&["low", "l"])?,
            close: required(&["close", "c"])?,
            volume: required(&["volume", "v"])?,
            trade_count: position(&["trade_count", "n"]),
            vwap: position(&["vwap", "vw"]),
            symbol: position(&["symbol"]),
        })
    }

    fn parse(
        &self,
        row: &csv::StringRecord,
        line: u64,
    ) -> Result<(Option<String>, StoredBar), CliError> {
        let field = |i: usize| row.get(i).map(str::trim).unwrap_or_default();
        let number = |name: &str, i: usize| -> Result<f64, CliError> {
            field(i)
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    refused(format!(
                        "line {line}: {name} '{}' is not a non-negative number",
                        field(i)
                    ))
                })
        };
        let ts = DateTime::parse_from_rfc3339(field(self.ts))
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                refused(format!(
                    "line {line}: timestamp '{}' is not RFC 3339 (2026-11-20T14:30:00Z)",
                    field(self.ts)
                ))
            })?;
        let bar = StoredBar {
            ts,
            open: number("open", self.open)?,
            high: number("high", self.high)?,
            low: number("low", self.low)?,
            close: number("close", self.close)?,
            volume: number("volume", self.volume)?,
            trade_count: match self.trade_count.map(field).filter(|s| !s.is_empty()) {
                Some(n) => Some(n.parse().map_err(|_| {
                    refused(format!("line {line}: trade_count '{n}' is not an integer"))
                })?),
                None => None,
            },
            vwap: match self.vwap.map(field).filter(|s| !s.is_empty()) {
                Some(v) => Some(
                    v.parse()
                        .map_err(|_| refused(format!("line {line}: vwap '{v}' is not a number")))?,
                ),
                None => None,
            },
        };
        if bar.high < bar.low
            || bar.high < bar.open.max(bar.close)
            || bar.low > bar.open.min(bar.close)
            || bar.open == 0.0
        {
            return Err(refused(format!(
                "line {line}: prices are inconsistent (need low <= open, close <= high, open > 0)"
            )));
        }
        let symbol = self
            .symbol
            .map(|i| field(i).to_uppercase())
            .filter(|s| !s.is_empty());
        Ok((symbol, bar))
    }
}

/// A batch being written on a task of its own.
struct Batch {
    task: JoinHandle<Result<Vec<String>, StoreError>>,
    rows: u64,
    /// Where in the file the batch ends.
    byte: u64,
}

/// The import's batch being written, and what the ones before wrote.
#[derive(Default)]
struct Writing {
    batch: Option<Batch>,
    written: u64,
    symbols: BTreeSet<String>,
}

impl Writing {
    /// Starts writing `rows`, which end at `byte` of the file; the batch before must be
    /// finished.
    fn start(
        &mut self,
        app: &App,
        timeframe: Timeframe,
        mut rows: Vec<(String, StoredBar)>,
        byte: u64,
    ) {
        debug_assert!(
            self.batch.is_none(),
            "a batch started before the last finished"
        );
        let app = app.clone();
        let len = rows.len() as u64;
        let task =
            tokio::spawn(async move { market::store_batch(&app, timeframe, &mut rows).await });
        self.batch = Some(Batch {
            task,
            rows: len,
            byte,
        });
    }

    /// Waits for the batch being written, if any, and counts it.
    async fn finish(&mut self, bar: &ProgressBar) -> Result<(), CliError> {
        let Some(batch) = self.batch.take() else {
            return Ok(());
        };
        let symbols = match batch.task.await {
            Ok(written) => written?,
            Err(err) => match err.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(err) => return Err(refused(format!("a batch's write stopped: {err}"))),
            },
        };
        self.symbols.extend(symbols);
        let before = self.written;
        self.written += batch.rows;
        bar.set_position(batch.byte);
        // Off a terminal: a plain line every 100,000 rows instead of a bar.
        if !std::io::stderr().is_terminal() && self.written / 100_000 > before / 100_000 {
            eprintln!("imported {} rows", self.written);
        }
        Ok(())
    }
}

fn progress(total_bytes: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(total_bytes);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta}) {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

async fn import(
    app: &App,
    file: &PathBuf,
    symbol: Option<&str>,
    timeframe: &str,
    batch: usize,
) -> Result<ExitCode, CliError> {
    let timeframe: Timeframe = timeframe
        .parse()
        .map_err(|e: raptor_domain::UnknownTimeframe| refused(e.to_string()))?;
    if batch == 0 || batch > 100_000 {
        return Err(refused("--batch must be between 1 and 100000"));
    }
    let opened = File::open(file).map_err(|source| CliError::Io {
        context: format!("cannot open {}", file.display()),
        source,
    })?;
    let size = opened.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(BufReader::with_capacity(1 << 20, opened));
    let header = reader
        .headers()
        .map_err(|e| refused(format!("line 1: {e}")))?
        .clone();
    let columns = Columns::find(&header)?;
    let fixed = symbol.map(str::to_uppercase);
    if fixed.is_none() && columns.symbol.is_none() {
        return Err(refused("give --symbol or a symbol column"));
    }
    for known in fixed.iter() {
        market::require_listed(app, known).await?;
    }
    let bar = progress(size);
    let started = std::time::Instant::now();
    let mut pending: Vec<(String, StoredBar)> = Vec::with_capacity(batch);
    let mut writing = Writing::default();
    let mut record = csv::StringRecord::new();
    loop {
        // The position before reading is where the next record starts: its line number.
        let line = reader.position().line();
        let read = reader
            .read_record(&mut record)
            .map_err(|e| refused(format!("line {line}: {e}")))
            .and_then(|more| {
                if more {
                    let (row_symbol, parsed) = columns.parse(&record, line)?;
                    let Some(row_symbol) = row_symbol.or_else(|| fixed.clone()) else {
                        return Err(refused(format!("line {line}: the symbol column is empty")));
                    };
                    pending.push((row_symbol, parsed));
                }
                Ok(more)
            });
        let more = match read {
            Ok(more) => more,
            Err(err) => {
                // The batches before the bad row are written, as the batch being written is.
                return Err(match writing.finish(&bar).await {
                    Ok(()) => err,
                    Err(write) => refused(format!("{err}; the batch before it failed: {write}")),
                });
            }
        };
        if pending.len() >= batch || (!more && !pending.is_empty()) {
            // One transaction per batch: a bad row stops the import before its batch is
            // written, and re-running the file is harmless. The batch is written while the
            // next one is parsed.
            let rows = std::mem::replace(&mut pending, Vec::with_capacity(batch));
            writing.finish(&bar).await?;
            writing.start(app, timeframe, rows, reader.position().byte());
        }
        if !more {
            break;
        }
    }
    writing.finish(&bar).await?;
    let (written, symbols) = (writing.written, writing.symbols);
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    out!(
        "Imported {written} {} bars for {} in {seconds:.2} s ({:.0} rows/s)",
        timeframe.as_str(),
        symbols.iter().cloned().collect::<Vec<_>>().join(", "),
        written as f64 / seconds.max(1e-9)
    );
    run_runtime(app, symbols).await?;
    Ok(ExitCode::SUCCESS)
}

fn stored(bars: &[raptor_domain::Bar]) -> Vec<StoredBar> {
    bars.iter()
        .map(|b| StoredBar {
            ts: b.t,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
            trade_count: None,
            vwap: None,
        })
        .collect()
}

async fn demo(app: &App, symbols: &[String], sessions: usize) -> Result<ExitCode, CliError> {
    if !(1..=60).contains(&sessions) {
        return Err(refused("--sessions must be between 1 and 60"));
    }
    let now = app.now();
    let recent = calendar::last_sessions(now, sessions);
    let Some(first) = recent.first() else {
        return Err(refused("no recent trading sessions found"));
    };
    // A year of daily history before the minute bars start.
    let history = calendar::sessions_between(
        first.date - chrono::Duration::days(366),
        calendar::previous_trading_day(first.date),
    );
    let mut names = Vec::new();
    for raw in symbols {
        let symbol = raw.trim().to_uppercase();
        market::require_listed(app, &symbol).await?;
        let start_price = 50.0 + (walk::seed_for(&symbol) % 40_000) as f64 / 100.0;
        // Minute bars must not run past now: drop the part of today's session still to come.
        let minutes: Vec<raptor_domain::Bar> = walk::minute_walk(&symbol, start_price, &recent)
            .into_iter()
            .filter(|b| b.t < now)
            .collect();
        let Some(opening) = minutes.first().map(|b| b.open) else {
            continue;
        };
        let mut total =
            market::store_bars(app, &symbol, Timeframe::Min1, &stored(&minutes)).await?;
        for tf in [
            Timeframe::Min5,
            Timeframe::Min15,
            Timeframe::Hour1,
            Timeframe::Day1,
        ] {
            total += market::store_bars(app, &symbol, tf, &stored(&walk::aggregate(&minutes, tf)))
                .await?;
        }
        total += market::store_bars(
            app,
            &symbol,
            Timeframe::Day1,
            &stored(&walk::daily_walk(&symbol, opening, &history)),
        )
        .await?;
        out!(
            "{symbol}: {total} bars ({} sessions of minute bars, {} days of daily history)",
            recent.len(),
            history.len()
        );
        names.push(symbol);
    }
    run_runtime(app, names).await?;
    Ok(ExitCode::SUCCESS)
}

async fn fetch(
    app: &App,
    symbol: &str,
    timeframe: &str,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    alpaca: &super::AlpacaArgs,
) -> Result<ExitCode, CliError> {
    let timeframe: Timeframe = timeframe
        .parse()
        .map_err(|e: raptor_domain::UnknownTimeframe| refused(e.to_string()))?;
    let symbol = symbol.to_uppercase();
    market::require_listed(app, &symbol).await?;
    let source = alpaca.source().ok_or_else(|| {
        refused("set ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY to fetch from Alpaca")
    })?;
    let app = app.clone().with_bar_source(std::sync::Arc::new(source));
    let end = end.unwrap_or_else(|| app.now());
    let done = market::fetch_bars(&app, &symbol, timeframe, start, end).await?;
    out!(
        "Fetched {} {} bars for {symbol} from Alpaca ({} written)",
        done.fetched,
        timeframe.as_str(),
        done.written
    );
    let m = done.matched;
    if m.filled + m.rejected + m.expired > 0 {
        out!(
            "{symbol}: {} orders filled, {} rejected, {} expired",
            m.filled,
            m.rejected,
            m.expired
        );
    }
    Ok(ExitCode::SUCCESS)
}
