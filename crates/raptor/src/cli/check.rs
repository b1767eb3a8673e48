//! `raptor db check`: the runbook's pre-checks as one command, with its STOP gates.

use std::process::ExitCode;

use clap::Args;
use raptor_app::{Clock, SystemClock};
use raptor_domain::JobState;
use raptor_store::migrate::Migrator;
use raptor_store::schema::{self, CUSTOMER_TABLES, EXPECTED_TABLES};
use raptor_store::{jobs, DatabaseUrl, Db};
use serde_json::{json, Value};

use super::CliError;

/// Exit code when a gate fails: the runbook's "STOP".
pub const EXIT_STOP: u8 = 1;
/// Exit code when the database cannot be reached at all.
pub const EXIT_UNREACHABLE: u8 = 3;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// STOP unless the database speaks this dialect (`postgresql` or `sqlite`).
    #[arg(long)]
    expect_dialect: Option<String>,
    /// STOP unless the customer tables are empty (the pre-launch invariant).
    #[arg(long)]
    expect_empty: bool,
    /// STOP unless the schema is at this binary's head.
    #[arg(long)]
    expect_head: bool,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    json: bool,
}

struct Gate {
    name: &'static str,
    passed: bool,
    detail: String,
}

pub async fn run(url: &DatabaseUrl, args: CheckArgs) -> Result<ExitCode, CliError> {
    if let Some(d) = &args.expect_dialect {
        if !matches!(d.as_str(), "postgresql" | "sqlite") {
            return Err(CliError::Refused(format!(
                "--expect-dialect takes postgresql or sqlite, not '{d}'"
            )));
        }
    }
    let db = match Db::connect(url).await {
        Ok(db) => db,
        Err(err) => {
            if args.json {
                out!(
                    "{}",
                    json!({ "result": "unreachable", "target": url.redacted(), "error": err.to_string() })
                );
            } else {
                out!("Could not connect to {}: {err}", url.redacted());
                out!("RESULT: UNREACHABLE — check DATABASE_URL, the network, and the server; escalate if it persists.");
            }
            return Ok(ExitCode::from(EXIT_UNREACHABLE));
        }
    };
    let result = report(&db, url, &args).await;
    db.close().await;
    result
}

async fn report(db: &Db, url: &DatabaseUrl, args: &CheckArgs) -> Result<ExitCode, CliError> {
    let facts = schema::server_facts(db).await?;
    let status = Migrator::embedded().status(db).await;
    let present = schema::table_names(db).await?;
    let missing: Vec<&str> = EXPECTED_TABLES
        .iter()
        .copied()
        .filter(|t| !present.iter().any(|p| p == t))
        .collect();
    let mut counts = Vec::new();
    for table in CUSTOMER_TABLES {
        if present.iter().any(|p| p == table) {
            counts.push((*table, schema::row_count(db, table).await?.unwrap_or(0)));
        }
    }

    let mut gates = Vec::new();
    if let Some(expected) = &args.expect_dialect {
        let actual = db.dialect().name();
        gates.push(Gate {
            name: "dialect",
            passed: actual == expected,
            detail: if actual == expected {
                format!("{actual} as expected")
            } else {
                format!("the database is {actual}, not {expected}: DATABASE_URL does not point at the {expected} database. STOP and escalate.")
            },
        });
    }
    if args.expect_head {
        let (passed, detail) = match &status {
            Ok(s) if s.is_head() && s.drift.is_empty() => (true, format!("at head {}", s.head.as_deref().unwrap_or("<base>"))),
            Ok(s) if !s.drift.is_empty() => (false, "applied migrations were edited: run `raptor db current` for details. STOP.".to_owned()),
            Ok(s) => (false, format!(
                "at {} but head is {}: run `raptor db upgrade head`, then check again.",
                s.current.as_deref().unwrap_or("<base>"),
                s.head.as_deref().unwrap_or("<base>")
            )),
            Err(err) => (false, format!("{err}. STOP: the migration history is broken (`raptor db stamp` may repair it).")),
        };
        gates.push(Gate {
            name: "head",
            passed,
            detail,
        });
    }
    if args.expect_head || args.expect_empty {
        gates.push(Gate {
            name: "tables",
            passed: missing.is_empty(),
            detail: if missing.is_empty() {
                format!("all {} tables present", EXPECTED_TABLES.len())
            } else {
                format!(
                    "missing: {}. Run `raptor db upgrade head`.",
                    missing.join(", ")
                )
            },
        });
    }
    if args.expect_empty {
        let non_empty: Vec<String> = counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| format!("{t}={n}"))
            .collect();
        gates.push(Gate {
            name: "empty",
            passed: non_empty.is_empty() && missing.is_empty(),
            detail: if non_empty.is_empty() {
                "no customer rows (pre-launch invariant holds)".to_owned()
            } else {
                format!(
                    "customer rows exist ({}): the pre-launch path is closed. STOP; fix forward.",
                    non_empty.join(", ")
                )
            },
        });
    }
    let passed = gates.iter().all(|g| g.passed);
    // Queue depth: jobs ready to run, running, and dead, and how long the oldest ready one
    // has waited (a growing age means workers are missing or stuck).
    let queue = if present.iter().any(|p| p == "job_queue") {
        let stats = jobs::stats(db, SystemClock.now()).await?;
        let total = |state| -> i64 {
            stats
                .counts
                .iter()
                .filter(|c| c.state == state)
                .map(|c| c.count)
                .sum()
        };
        Some((
            total(JobState::Queued),
            total(JobState::Running),
            total(JobState::Failed),
            stats.oldest_ready_age_secs,
        ))
    } else {
        None
    };
    let revision = match &status {
        Ok(s) => {
            json!({ "current": s.current, "head": s.head, "at_head": s.is_head(), "drift": s.drift.iter().map(|d| d.to_string()).collect::<Vec<_>>() })
        }
        Err(err) => json!({ "error": err.to_string() }),
    };

    if args.json {
        let body = json!({
            "result": if passed { "ok" } else { "stop" },
            "dialect": db.dialect().name(),
            "server_version": facts.version,
            "target": url.redacted(),
            "tls": facts.tls,
            "revision": revision,
            "tables": { "expected": EXPECTED_TABLES.len(), "present": EXPECTED_TABLES.len() - missing.len(), "missing": missing },
            "customer_rows": counts.iter().map(|(t, n)| (t.to_string(), json!(n))).collect::<serde_json::Map<String, Value>>(),
            "connections": facts.connections.map(|(used, limit)| json!({ "used": used, "limit": limit })),
            "sqlite_shared_page_cache": facts.shared_page_cache,
            "jobs": queue.map(|(queued, running, failed, oldest)| json!({ "queued": queued, "running": running, "failed": failed, "oldest_ready_age_secs": oldest })),
            "gates": gates.iter().map(|g| json!({ "gate": g.name, "passed": g.passed, "detail": g.detail })).collect::<Vec<_>>(),
        });
        out!("{body}");
    } else {
        out!("Raptor pre-checks");
        out!("  dialect        {} {}", db.dialect().name(), facts.version);
        out!("  target         {}", url.redacted());
        match facts.tls {
            Some(true) => out!("  TLS            in use"),
            Some(false) => {
                out!("  TLS            NOT in use (add ?sslmode=require for a remote server)")
            }
            None => {}
        }
        match facts.shared_page_cache {
            Some(false) => out!("  page cache     one per connection"),
            Some(true) => out!(
                "  page cache     SHARED behind one mutex: this binary was built without the \
                 workspace's .cargo/config.toml (LIBSQLITE3_FLAGS), and concurrent reads queue"
            ),
            None => {}
        }
        match &status {
            Ok(s) => out!("  revision       {s}"),
            Err(err) => out!("  revision       {err}"),
        }
        out!(
            "  tables         {}/{} present{}",
            EXPECTED_TABLES.len() - missing.len(),
            EXPECTED_TABLES.len(),
            if missing.is_empty() {
                String::new()
            } else {
                format!(" (missing: {})", missing.join(", "))
            }
        );
        out!(
            "  customer rows  {}",
            counts
                .iter()
                .map(|(t, n)| format!("{t}={n}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if let Some((used, limit)) = facts.connections {
            out!("  connections    {used} of {limit}");
        }
        if let Some((queued, running, failed, oldest)) = queue {
            let waited = oldest.map_or(String::new(), |age| {
                format!(" (the oldest ready one has waited {age} s)")
            });
            out!("  jobs           {queued} queued{waited}, {running} running, {failed} failed");
        }
        for gate in &gates {
            out!(
                "  [{}] {:<7} {}",
                if gate.passed { "ok" } else { "STOP" },
                gate.name,
                gate.detail
            );
        }
        out!(
            "RESULT: {}",
            if passed {
                "OK — all gates passed"
            } else {
                "STOP — a gate failed; do not continue the runbook"
            }
        );
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_STOP)
    })
}
