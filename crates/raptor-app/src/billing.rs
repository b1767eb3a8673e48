//! Operator billing: vendor cost snapshots, the latest per vendor with totals, and threshold
//! alerts that fire (audited, then mailed) when a snapshot pushes spend over a line.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use raptor_domain::{Email, InvalidInput};
use raptor_store::audit::{self, AuditEvent};
use raptor_store::billing::{self, AlertConfig, NewAlertConfig, NewSnapshot, Snapshot};
use raptor_store::StoreError;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::mail::{delivery, OutgoingEmail};
use crate::App;
use crate::{text, times};

/// Most alerts one configuration may hold.
const MAX_ALERTS: usize = 100;

/// Why a billing change was refused.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// The input breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The latest snapshot of every vendor and what they add up to.
#[derive(Debug, Clone)]
pub struct Latest {
    /// When this was read.
    pub as_of: DateTime<Utc>,
    /// The newest snapshot per vendor.
    pub vendors: Vec<Snapshot>,
    /// Their amounts summed per currency.
    pub totals: BTreeMap<String, Decimal>,
}

/// Sums the latest amount of every vendor, per currency.
fn totals(latest: &[Snapshot]) -> BTreeMap<String, Decimal> {
    let mut totals = BTreeMap::new();
    for s in latest {
        *totals.entry(s.currency.clone()).or_insert(Decimal::ZERO) += s.amount.0;
    }
    totals
}

/// The latest snapshot per vendor and the totals (empty before any data).
pub async fn latest(app: &App) -> Result<Latest, StoreError> {
    let vendors = billing::latest_per_vendor(&app.db).await?;
    Ok(Latest {
        as_of: app.now(),
        totals: totals(&vendors),
        vendors,
    })
}

fn vendor_name(raw: &str) -> Result<String, InvalidInput> {
    let vendor = raw.trim();
    let ok = !vendor.is_empty()
        && vendor.len() <= 64
        && vendor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if ok {
        Ok(vendor.to_owned())
    } else {
        Err(InvalidInput::new(
            "vendor",
            "must be 1 to 64 letters, digits, spaces, '-', '_' or '.'",
        ))
    }
}

fn currency_code(field: &'static str, raw: &str) -> Result<String, InvalidInput> {
    if raw.len() == 3 && raw.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(raw.to_owned())
    } else {
        Err(InvalidInput::new(
            field,
            "must be an ISO 4217 code such as USD",
        ))
    }
}

fn money(field: &'static str, value: Decimal) -> Result<Decimal, InvalidInput> {
    // A sanity bound, far above any real invoice.
    let max = Decimal::from(1_000_000_000_000_000_i64);
    if value.is_sign_negative() {
        return Err(InvalidInput::new(field, "must not be negative"));
    }
    if value.scale() > raptor_store::DECIMAL_SCALE {
        return Err(InvalidInput::new(
            field,
            "must have at most 8 decimal places",
        ));
    }
    if value > max {
        return Err(InvalidInput::new(field, "is implausibly large"));
    }
    Ok(value)
}

/// Where alert mail comes from and goes when an alert names no address.
#[derive(Debug, Clone, Copy)]
pub struct AlertMail<'a> {
    /// Sender.
    pub from: &'a str,
    /// Recipient of alerts without their own address.
    pub default_to: &'a str,
}

/// A stored snapshot and the alerts it set off (each `{alert_id, scope, threshold, amount,
/// currency}`).
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The snapshot as stored.
    pub snapshot: Snapshot,
    /// Alerts that crossed their threshold with it.
    pub alerts_triggered: Vec<TriggeredAlert>,
}

/// An alert a snapshot set off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggeredAlert {
    /// The alert's id.
    pub alert_id: i64,
    /// The vendor it watches, or `all vendors`.
    pub scope: String,
    /// Its threshold.
    pub threshold: Decimal,
    /// The amount that crossed it.
    pub amount: Decimal,
    /// Their currency.
    pub currency: String,
}

impl TriggeredAlert {
    /// The audit entry's details.
    fn details(&self) -> Value {
        json!({
            "alert_id": self.alert_id,
            "scope": self.scope,
            "threshold": self.threshold.normalize().to_string(),
            "amount": self.amount.normalize().to_string(),
            "currency": self.currency,
        })
    }
}

/// Records a snapshot (checked and normalised first), audited as `actor` (who and from where). Every enabled alert whose
/// amount (the vendor's, or all vendors' in its currency) crosses its threshold with this
/// snapshot is marked, audited and its email enqueued in the same transaction: mailed by a
/// worker, never for a snapshot that was rolled back.
pub async fn record_snapshot(
    app: &App,
    input: NewSnapshot,
    actor: &AuditEvent,
    mail: AlertMail<'_>,
) -> Result<Recorded, BillingError> {
    let new = NewSnapshot {
        vendor: vendor_name(&input.vendor)?,
        amount: money("amount", input.amount)?,
        currency: currency_code("currency", &input.currency)?,
        ..input
    };
    times::storable("period_start", new.period_start)?;
    times::storable("period_end", new.period_end)?;
    if new.period_end <= new.period_start {
        return Err(InvalidInput::new("period_end", "must be after period_start").into());
    }
    if let Some(details) = &new.details {
        if !details.is_object() {
            return Err(InvalidInput::new("details", "must be a JSON object").into());
        }
        text::json_without_nul("details", details)?;
    }
    let before = billing::latest_per_vendor(&app.db).await?;
    let configs = billing::alert_configs(&app.db).await?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let recorded = billing::record(&mut tx, &new, now).await?;
    let mut after: Vec<Snapshot> = before
        .iter()
        .filter(|s| s.vendor != recorded.vendor)
        .cloned()
        .collect();
    after.push(recorded.clone());
    let (totals_before, totals_after) = (totals(&before), totals(&after));
    let previous = before
        .iter()
        .find(|s| s.vendor == recorded.vendor)
        .map(|s| s.amount.0);

    let mut fired = Vec::new();
    for config in configs.iter().filter(|c| c.enabled) {
        let threshold = config.threshold.0;
        let (was, is) = match &config.vendor {
            Some(vendor) if *vendor == recorded.vendor && config.currency == recorded.currency => {
                (previous.unwrap_or(Decimal::ZERO), recorded.amount.0)
            }
            None if config.currency == recorded.currency => (
                totals_before
                    .get(&config.currency)
                    .copied()
                    .unwrap_or(Decimal::ZERO),
                totals_after
                    .get(&config.currency)
                    .copied()
                    .unwrap_or(Decimal::ZERO),
            ),
            _ => continue,
        };
        if was <= threshold && is > threshold {
            billing::mark_triggered(&mut tx, config.id, now).await?;
            let scope = config
                .vendor
                .clone()
                .unwrap_or_else(|| "all vendors".to_owned());
            let alert = TriggeredAlert {
                alert_id: config.id,
                scope,
                threshold,
                amount: is,
                currency: config.currency.clone(),
            };
            let event = AuditEvent {
                actor_type: "system",
                action: "billing.alert",
                target_type: Some("billing_alert"),
                target_id: Some(config.id.to_string()),
                outcome: "success",
                details: Some(alert.details()),
                ..AuditEvent::default()
            };
            audit::record(&mut tx, &event, now).await?;
            let to = config
                .notify_email
                .clone()
                .unwrap_or_else(|| mail.default_to.to_owned());
            fired.push((to, alert));
        }
    }
    let event = AuditEvent {
        action: "billing.snapshot.record",
        target_type: Some("vendor_billing_snapshot"),
        target_id: Some(recorded.id.to_string()),
        outcome: "success",
        details: Some(json!({ "vendor": recorded.vendor })),
        ..actor.clone()
    };
    audit::record(&mut tx, &event, now).await?;
    for (to, alert) in &fired {
        let (threshold, amount) = (alert.threshold.normalize(), alert.amount.normalize());
        let message = OutgoingEmail {
            from: mail.from.to_owned(),
            to: to.clone(),
            subject: format!(
                "Billing alert: {} above {threshold} {}",
                alert.scope, alert.currency
            ),
            text_body: format!(
                "Spend for {} is now {amount} {}, above the alert threshold of {threshold}.\n",
                alert.scope, alert.currency
            ),
            tag: "billing_alert".to_owned(),
            reply_to: None,
            headers: Vec::new(),
        };
        delivery::enqueue(app, &mut tx, &message).await?;
    }
    tx.commit().await?;
    Ok(Recorded {
        snapshot: recorded,
        alerts_triggered: fired.into_iter().map(|(_, alert)| alert).collect(),
    })
}

/// The alert configuration.
pub async fn alerts(app: &App) -> Result<Vec<AlertConfig>, StoreError> {
    billing::alert_configs(&app.db).await
}

/// Replaces every alert at once, audited as `actor`; the configuration as stored.
pub async fn replace_alerts(
    app: &App,
    inputs: Vec<NewAlertConfig>,
    actor: &AuditEvent,
) -> Result<Vec<AlertConfig>, BillingError> {
    if inputs.len() > MAX_ALERTS {
        return Err(InvalidInput::new("alerts", "at most 100 alerts").into());
    }
    let mut configs = Vec::with_capacity(inputs.len());
    for a in inputs {
        configs.push(NewAlertConfig {
            vendor: a.vendor.as_deref().map(vendor_name).transpose()?,
            threshold: money("threshold", a.threshold)?,
            currency: currency_code("currency", &a.currency)?,
            notify_email: a
                .notify_email
                .as_deref()
                .map(|e| Email::parse(e).map(|e| e.as_str().to_owned()))
                .transpose()
                .map_err(|e| InvalidInput::new("notify_email", e.reason))?,
            ..a
        });
    }
    let now = app.now();
    let mut tx = app.db.begin().await?;
    billing::replace_alert_configs(&mut tx, &configs, now).await?;
    let event = AuditEvent {
        action: "billing.alerts.replace",
        outcome: "success",
        details: Some(json!({ "count": configs.len() })),
        ..actor.clone()
    };
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(billing::alert_configs(&app.db).await?)
}
