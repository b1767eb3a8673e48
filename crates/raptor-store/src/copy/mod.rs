//! Copying every row between two Raptor databases of either dialect, with verification.
//!
//! Values travel in one dialect-neutral form chosen by the column's type (so booleans,
//! timestamps, JSON, exact decimals and 64-bit keys convert exactly), tables go in
//! foreign-key order inside one transaction on the target, and each table is verified by its
//! row count and an order-independent checksum of canonical row values.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Executor;

use crate::dialect::bulk::{self, digest, digest_target, pump, Plan, RowDigest, Side, Sink};
use crate::engine::Db;
pub use crate::error::CopyError;
use crate::error::StoreError;
use crate::migrate;
use crate::schema::{self, Table};

/// Tables the migrations fill (reference data): replaced, not refused, on the target.
const SEEDED: &[&str] = &["symbols", "permissions", "roles", "role_permissions"];

/// The append-only table, which a copy may fill but never empty.
const AUDIT_LOG: &str = "audit_log";

/// What was copied and how it verified, per table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    /// Table name.
    pub table: String,
    /// Rows in the source.
    pub source_rows: i64,
    /// Rows in the target.
    pub target_rows: i64,
    /// Order-independent checksum of the source rows.
    pub source_checksum: String,
    /// The same over the target rows.
    pub target_checksum: String,
}

impl TableReport {
    /// Whether the target holds exactly the source's rows.
    pub fn matches(&self) -> bool {
        self.source_rows == self.target_rows && self.source_checksum == self.target_checksum
    }
}

/// Tables in an order where every referenced table comes first.
fn fk_order(tables: &BTreeMap<String, Table>) -> Vec<String> {
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < tables.len() {
        let before = order.len();
        for (name, table) in tables {
            if done.contains(name) {
                continue;
            }
            let ready = table
                .foreign_keys
                .iter()
                .all(|fk| fk.references == *name || done.contains(&fk.references));
            if ready {
                done.insert(name.clone());
                order.push(name.clone());
            }
        }
        if order.len() == before {
            // A cycle: append the rest as they are (none exist in Raptor's schema).
            order.extend(tables.keys().filter(|t| !done.contains(*t)).cloned());
            break;
        }
    }
    order
}

/// The application tables of a database and their shapes, bookkeeping excluded.
async fn app_tables(db: &Db) -> Result<BTreeMap<String, Table>, StoreError> {
    let mut tables = schema::describe(db).await?;
    tables.retain(|name, _| !schema::BOOKKEEPING_TABLES.contains(&name.as_str()));
    Ok(tables)
}

/// Checks that both databases are at the same revision and plans every table, in foreign-key
/// order.
async fn prepare(from: &Db, to: &Db) -> Result<Vec<Plan>, StoreError> {
    let (source_rev, target_rev) = (
        migrate::current_revision(from).await?,
        migrate::current_revision(to).await?,
    );
    if source_rev != target_rev {
        return Err(CopyError::Revisions {
            source_rev: source_rev.unwrap_or_else(|| "<base>".into()),
            target_rev: target_rev.unwrap_or_else(|| "<base>".into()),
        }
        .into());
    }
    let (source, target) = (app_tables(from).await?, app_tables(to).await?);
    fk_order(&target)
        .into_iter()
        .filter_map(|table| {
            let (s, t) = (source.get(&table)?, target.get(&table)?);
            Some(Plan::new(&table, s, t))
        })
        .collect()
}

fn report(plan: &Plan, source: &RowDigest, target: &RowDigest) -> TableReport {
    TableReport {
        table: plan.table.clone(),
        source_rows: source.count,
        target_rows: target.count,
        source_checksum: source.checksum(),
        target_checksum: target.checksum(),
    }
}

/// Verifies every table: counts and checksums on both sides, each side read concurrently.
pub async fn verify(from: &Db, to: &Db) -> Result<Vec<TableReport>, StoreError> {
    let mut reports = Vec::new();
    for plan in prepare(from, to).await? {
        let (source, target) = tokio::try_join!(
            digest(from, Side::Source, &plan, ""),
            digest_target(to, &plan),
        )?;
        reports.push(report(&plan, &source, &target));
    }
    Ok(reports)
}

/// How a copy runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// Empty the target's tables first; otherwise the target must hold no rows beyond the
    /// migrations' reference data.
    pub truncate: bool,
    /// Count each source table's rows before copying it, for a progress bar's length. It
    /// costs a scan of each table; without it the total given to `progress` is -1.
    pub count_first: bool,
}

/// Copies every row from `from` to `to` (same revision) in one transaction on the target, then
/// verifies: the source's digest is taken from the very rows copied, and the target is read
/// back after the commit. `progress` hears `(table, rows copied so far, rows in the source
/// table or -1)`.
pub async fn copy(
    from: &Db,
    to: &Db,
    options: CopyOptions,
    progress: &mut (dyn FnMut(&str, i64, i64) + Send),
) -> Result<Vec<TableReport>, StoreError> {
    let plans = prepare(from, to).await?;
    // The database refuses to delete audit rows (revision 0006), so --truncate cannot replace
    // an audit log: say so before starting rather than fail on the trigger halfway.
    if options.truncate && plans.iter().any(|p| p.table == AUDIT_LOG) {
        let rows = schema::row_count(to, AUDIT_LOG).await?.unwrap_or(0);
        if rows > 0 {
            return Err(CopyError::AuditLogNotEmpty(rows).into());
        }
    }
    if !options.truncate {
        let mut occupied = Vec::new();
        for plan in plans.iter().filter(|p| !SEEDED.contains(&p.table.as_str())) {
            let rows = schema::row_count(to, &plan.table).await?.unwrap_or(0);
            if rows > 0 {
                occupied.push(format!("{}={rows}", plan.table));
            }
        }
        if !occupied.is_empty() {
            return Err(CopyError::TargetNotEmpty(occupied.join(", ")).into());
        }
    }
    let mut tx = to.begin().await?;
    for plan in plans.iter().rev() {
        let sql = format!("DELETE FROM {}", plan.table);
        on_tx!(tx, t => { (&mut **t).execute(sql.as_str()).await?; });
    }
    let mut sources = Vec::with_capacity(plans.len());
    for plan in &plans {
        let total = if options.count_first {
            schema::row_count(from, &plan.table).await?.unwrap_or(0)
        } else {
            -1
        };
        progress(&plan.table, 0, total);
        let started = std::time::Instant::now();
        let mut sink = Sink::open(&mut tx, plan).await?;
        let digest = pump(from, Side::Source, plan, "", &mut sink, &mut |rows| {
            progress(&plan.table, rows, total)
        })
        .await?;
        sink.finish().await?;
        tracing::debug!(table = %plan.table, rows = digest.count, ms = started.elapsed().as_millis(), "copied");
        sources.push(digest);
        bulk::continue_ids(&mut tx.inner, plan).await?;
    }
    bulk::settle_trace_partitions(&mut tx.inner).await?;
    let started = std::time::Instant::now();
    tx.commit().await?;
    tracing::debug!(ms = started.elapsed().as_millis(), "committed");
    let mut reports = Vec::with_capacity(plans.len());
    for (plan, source) in plans.iter().zip(&sources) {
        let started = std::time::Instant::now();
        let target = digest_target(to, plan).await?;
        tracing::debug!(table = %plan.table, rows = target.count, ms = started.elapsed().as_millis(), "verified");
        reports.push(report(plan, source, &target));
    }
    Ok(reports)
}
