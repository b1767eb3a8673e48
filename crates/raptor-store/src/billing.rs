//! What each vendor costs Raxx (database host, market data, email), and alert thresholds.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::types::Json;

use crate::decimal::DbDecimal;
use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// One recorded cost.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Snapshot {
    /// Row id.
    pub id: i64,
    /// Who charges it.
    pub vendor: String,
    /// Start of the billed period.
    pub period_start: DateTime<Utc>,
    /// End of the billed period.
    pub period_end: DateTime<Utc>,
    /// How much.
    pub amount: DbDecimal,
    /// ISO 4217 code.
    pub currency: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Vendor-specific breakdown.
    pub details: Option<Json<Value>>,
}

/// A cost to record.
#[derive(Debug, Clone)]
pub struct NewSnapshot {
    /// Who charges it.
    pub vendor: String,
    /// Start of the billed period.
    pub period_start: DateTime<Utc>,
    /// End of the billed period.
    pub period_end: DateTime<Utc>,
    /// How much.
    pub amount: Decimal,
    /// ISO 4217 code.
    pub currency: String,
    /// Vendor-specific breakdown.
    pub details: Option<Value>,
}

const SNAPSHOT_COLUMNS: &str =
    "id, vendor, period_start, period_end, amount, currency, recorded_at, details";

/// Records a snapshot.
pub async fn record(
    tx: &mut Tx,
    new: &NewSnapshot,
    now: DateTime<Utc>,
) -> Result<Snapshot, StoreError> {
    let sql = format!(
        "INSERT INTO vendor_billing_snapshots (vendor, period_start, period_end, amount, currency, \
         recorded_at, details) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {SNAPSHOT_COLUMNS}"
    );
    Ok(on_tx!(tx, t => {
        sqlx::query_as(&sql)
            .bind(&new.vendor)
            .bind(new.period_start)
            .bind(new.period_end)
            .bind(DbDecimal(new.amount))
            .bind(&new.currency)
            .bind(now)
            .bind(new.details.as_ref().map(Json))
            .fetch_one(&mut **t)
            .await?
    }))
}

/// The most recently recorded snapshot of each vendor, by vendor name.
pub async fn latest_per_vendor(db: &Db) -> Result<Vec<Snapshot>, StoreError> {
    let sql = format!(
        "SELECT {SNAPSHOT_COLUMNS} FROM vendor_billing_snapshots s WHERE s.id = \
         (SELECT s2.id FROM vendor_billing_snapshots s2 WHERE s2.vendor = s.vendor \
          ORDER BY s2.recorded_at DESC, s2.id DESC LIMIT 1) ORDER BY s.vendor"
    );
    Ok(on_pool!(db, pool => sqlx::query_as(&sql).fetch_all(pool).await?))
}

/// An alert threshold.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertConfig {
    /// Row id.
    pub id: i64,
    /// The vendor watched (None: the total of all vendors).
    pub vendor: Option<String>,
    /// Alert when the amount goes above this.
    pub threshold: DbDecimal,
    /// Currency of the threshold.
    pub currency: String,
    /// Whether it is active.
    pub enabled: bool,
    /// Who to tell (None: the operators' address).
    pub notify_email: Option<String>,
    /// When it last fired.
    pub last_triggered_at: Option<DateTime<Utc>>,
}

/// A threshold to configure.
#[derive(Debug, Clone)]
pub struct NewAlertConfig {
    /// The vendor watched (None: the total).
    pub vendor: Option<String>,
    /// Alert above this.
    pub threshold: Decimal,
    /// Its currency.
    pub currency: String,
    /// Active or not.
    pub enabled: bool,
    /// Who to tell.
    pub notify_email: Option<String>,
}

/// Every configured alert.
pub async fn alert_configs(db: &Db) -> Result<Vec<AlertConfig>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as(
            "SELECT id, vendor, threshold, currency, enabled, notify_email, last_triggered_at \
             FROM billing_alert_configs ORDER BY id",
        )
        .fetch_all(pool)
        .await?
    }))
}

/// Replaces every alert with a new set. Two replacements at once take turns: on PostgreSQL
/// each would otherwise delete only the rows it can see and both sets would stay.
pub async fn replace_alert_configs(
    tx: &mut Tx,
    configs: &[NewAlertConfig],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let take_turns = tx.dialect().locks_rows();
    on_tx!(tx, t => {
        if take_turns {
            sqlx::query("LOCK TABLE billing_alert_configs IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut **t)
                .await?;
        }
        sqlx::query("DELETE FROM billing_alert_configs").execute(&mut **t).await?;
        for c in configs {
            sqlx::query(
                "INSERT INTO billing_alert_configs (vendor, threshold, currency, enabled, notify_email, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(c.vendor.as_deref())
            .bind(DbDecimal(c.threshold))
            .bind(&c.currency)
            .bind(c.enabled)
            .bind(c.notify_email.as_deref())
            .bind(now)
            .execute(&mut **t)
            .await?;
        }
    });
    Ok(())
}

/// Records that an alert fired.
pub async fn mark_triggered(tx: &mut Tx, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query("UPDATE billing_alert_configs SET last_triggered_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut **t)
            .await?;
    });
    Ok(())
}
