//! `raptor db copy`: move every row between two Raptor databases, then prove it arrived.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use raptor_store::copy::{self, TableReport};
use raptor_store::{DatabaseUrl, Db, StoreError};
use serde_json::json;

use super::CliError;

/// Connects without the driver's slow-statement warnings: whole-table scans are the job here.
async fn connect(url: &DatabaseUrl) -> Result<Db, raptor_store::StoreError> {
    let settings = raptor_store::EngineSettings {
        statement_logging: false,
        ..Default::default()
    };
    let db = Db::connect_with(url, &settings).await?;
    tracing::info!(
        "Database engine initialized: dialect={} target={}",
        db.dialect(),
        url.redacted()
    );
    Ok(db)
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The database to read (any accepted URL form).
    #[arg(long, hide_env_values = true)]
    from: String,
    /// The database to fill (same revision; empty unless --truncate).
    #[arg(long, hide_env_values = true)]
    to: String,
    /// Replace the target's rows instead of refusing a non-empty target.
    #[arg(long)]
    truncate: bool,
    /// Only compare row counts and checksums, copying nothing.
    #[arg(long)]
    verify_only: bool,
    /// Print the verification as JSON.
    #[arg(long)]
    json: bool,
}

fn print(reports: &[TableReport], json_output: bool) -> bool {
    let all = reports.iter().all(TableReport::matches);
    let rows: i64 = reports.iter().map(|r| r.target_rows).sum();
    if json_output {
        let tables: Vec<_> = reports
            .iter()
            .map(|r| json!({ "table": r.table, "source_rows": r.source_rows, "target_rows": r.target_rows, "checksum_match": r.source_checksum == r.target_checksum }))
            .collect();
        out!(
            "{}",
            json!({ "verified": all, "rows": rows, "tables": tables })
        );
    } else {
        out!(
            "{:<28} {:>12} {:>12}  checksum",
            "table",
            "source rows",
            "target rows"
        );
        for r in reports {
            let verdict = if r.matches() {
                "ok"
            } else if r.source_rows != r.target_rows {
                "COUNT DIFFERS"
            } else {
                "CONTENT DIFFERS"
            };
            out!(
                "{:<28} {:>12} {:>12}  {verdict}",
                r.table,
                r.source_rows,
                r.target_rows
            );
        }
        if all {
            out!(
                "VERIFIED: {} tables, {rows} rows, identical on both sides",
                reports.len()
            );
        } else {
            out!("NOT VERIFIED: the target differs from the source (tables marked above)");
        }
    }
    all
}

pub async fn run(args: CopyArgs) -> Result<ExitCode, CliError> {
    let (from_url, to_url) = (
        DatabaseUrl::parse(&args.from)?,
        DatabaseUrl::parse(&args.to)?,
    );
    let from = connect(&from_url).await?;
    let to = match connect(&to_url).await {
        Ok(db) => db,
        Err(err) => {
            from.close().await;
            return Err(err.into());
        }
    };
    let result = transfer(&from, &to, &args).await;
    from.close().await;
    to.close().await;
    let reports = result.map_err(|e| CliError::Refused(e.to_string()))?;
    Ok(if print(&reports, args.json) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn transfer(from: &Db, to: &Db, args: &CopyArgs) -> Result<Vec<TableReport>, StoreError> {
    if args.verify_only {
        return copy::verify(from, to).await;
    }
    let terminal = std::io::stderr().is_terminal();
    let style = ProgressStyle::with_template(
        "{prefix:<24} [{bar:30}] {pos:>10}/{len:<10} {per_sec:>12} {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .ok();
    // One bar per table on a terminal, left on screen when the table is done; plain lines
    // otherwise.
    let mut current: Option<(String, Option<ProgressBar>)> = None;
    let mut progress = |table: &str, rows: i64, total: i64| {
        if current.as_ref().is_none_or(|(name, _)| name != table) {
            if let Some((_, Some(bar))) = current.take() {
                bar.finish();
            }
            let bar = match (&style, terminal) {
                (Some(style), true) => {
                    let bar = ProgressBar::new(total.max(0) as u64)
                        .with_style(style.clone())
                        .with_prefix(table.to_owned());
                    Some(bar)
                }
                _ => {
                    eprintln!("copying {table}");
                    None
                }
            };
            current = Some((table.to_owned(), bar));
        }
        if let Some((_, Some(bar))) = &current {
            bar.set_position(rows.max(0) as u64);
        }
    };
    let started = std::time::Instant::now();
    let options = copy::CopyOptions {
        truncate: args.truncate,
        count_first: terminal,
    };
    let reports = copy::copy(from, to, options, &mut progress).await;
    if let Some((_, Some(bar))) = current {
        bar.finish();
    }
    let reports = reports?;
    let rows: i64 = reports.iter().map(|r| r.target_rows).sum();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "copied and verified {rows} rows in {seconds:.2} s ({:.0} rows/s)",
        rows as f64 / seconds.max(1e-9)
    );
    Ok(reports)
}
