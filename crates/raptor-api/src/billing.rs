//! Operator billing: what each vendor costs, the latest snapshot, and threshold alerts.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use raptor_domain::Email;
use raptor_store::audit::{self, AuditEvent};
use raptor_store::billing::{self, NewAlertConfig, NewSnapshot, Snapshot};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::{ApiJson, ClientInfo};
use crate::guard::{AdminRole, Authorized};
use crate::{AppState, Problem};
use raptor_app::mail::OutgoingEmail;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/billing/snapshot", get(snapshot))
        .route("/api/billing/snapshots", post(record))
        .route("/api/billing/alerts", get(alerts).put(replace_alerts))
}

/// The largest amount accepted (a sanity bound, far above any real invoice).
fn max_amount() -> Decimal {
    Decimal::from(1_000_000_000_000_000_i64)
}

fn snapshot_json(s: &Snapshot) -> Value {
    json!({
        "id": s.id,
        "vendor": s.vendor,
        "period_start": s.period_start,
        "period_end": s.period_end,
        "amount": s.amount.0.normalize().to_string(),
        "currency": s.currency,
        "recorded_at": s.recorded_at,
        "details": s.details.as_ref().map(|d| &d.0),
    })
}

/// Sums the latest amount of every vendor, per currency.
fn totals(latest: &[Snapshot]) -> BTreeMap<String, Decimal> {
    let mut totals = BTreeMap::new();
    for s in latest {
        *totals.entry(s.currency.clone()).or_insert(Decimal::ZERO) += s.amount.0;
    }
    totals
}

/// The latest snapshot per vendor and the totals: well-formed and empty before any data.
async fn snapshot(
    State(state): State<AppState>,
    _admin: Authorized<AdminRole>,
) -> Result<Json<Value>, Problem> {
    let latest = billing::latest_per_vendor(&state.db).await?;
    let totals: Vec<Value> = totals(&latest)
        .into_iter()
        .map(|(currency, amount)| json!({ "currency": currency, "amount": amount.normalize().to_string() }))
        .collect();
    Ok(Json(json!({
        "as_of": state.now(),
        "vendors": latest.iter().map(snapshot_json).collect::<Vec<_>>(),
        "totals": totals,
    })))
}

fn vendor_name(raw: &str) -> Result<String, Problem> {
    let vendor = raw.trim();
    let ok = !vendor.is_empty()
        && vendor.len() <= 64
        && vendor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if ok {
        Ok(vendor.to_owned())
    } else {
        Err(Problem::invalid_field(
            "vendor",
            "must be 1 to 64 letters, digits, spaces, '-', '_' or '.'",
        ))
    }
}

fn currency_code(field: &'static str, raw: &str) -> Result<String, Problem> {
    if raw.len() == 3 && raw.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(raw.to_owned())
    } else {
        Err(Problem::invalid_field(
            field,
            "must be an ISO 4217 code such as USD",
        ))
    }
}

fn money(field: &'static str, value: Decimal) -> Result<Decimal, Problem> {
    if value.is_sign_negative() {
        return Err(Problem::invalid_field(field, "must not be negative"));
    }
    if value.scale() > raptor_store::DECIMAL_SCALE {
        return Err(Problem::invalid_field(
            field,
            "must have at most 8 decimal places",
        ));
    }
    if value > max_amount() {
        return Err(Problem::invalid_field(field, "is implausibly large"));
    }
    Ok(value)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordRequest {
    vendor: String,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    amount: Decimal,
    #[serde(default = "usd")]
    currency: String,
    #[serde(default)]
    details: Option<Value>,
}

fn usd() -> String {
    "USD".to_owned()
}

async fn record(
    State(state): State<AppState>,
    admin: Authorized<AdminRole>,
    client: ClientInfo,
    ApiJson(req): ApiJson<RecordRequest>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let new = NewSnapshot {
        vendor: vendor_name(&req.vendor)?,
        period_start: req.period_start,
        period_end: req.period_end,
        amount: money("amount", req.amount)?,
        currency: currency_code("currency", &req.currency)?,
        details: req.details,
    };
    if new.period_end <= new.period_start {
        return Err(Problem::invalid_field(
            "period_end",
            "must be after period_start",
        ));
    }
    if new.details.as_ref().is_some_and(|d| !d.is_object()) {
        return Err(Problem::invalid_field("details", "must be a JSON object"));
    }
    let before = billing::latest_per_vendor(&state.db).await?;
    let configs = billing::alert_configs(&state.db).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
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
            let details = json!({
                "alert_id": config.id,
                "scope": scope,
                "threshold": threshold.normalize().to_string(),
                "amount": is.normalize().to_string(),
                "currency": config.currency,
            });
            let event = AuditEvent {
                actor_type: "system",
                action: "billing.alert",
                target_type: Some("billing_alert"),
                target_id: Some(config.id.to_string()),
                outcome: "success",
                details: Some(details.clone()),
                ..AuditEvent::default()
            };
            audit::record(&mut tx, &event, now).await?;
            let to = config
                .notify_email
                .clone()
                .unwrap_or_else(|| state.config.alert_email.clone());
            fired.push((to, scope, details));
        }
    }
    let event = AuditEvent {
        actor_user_id: Some(admin.0.user.id),
        actor_email: Some(admin.0.user.email.clone()),
        actor_type: "admin",
        action: "billing.snapshot.record",
        target_type: Some("vendor_billing_snapshot"),
        target_id: Some(recorded.id.to_string()),
        outcome: "success",
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        session_id: Some(admin.0.session.id),
        details: Some(json!({ "vendor": recorded.vendor })),
    };
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;

    // Email goes out after the commit: never for a snapshot that was rolled back.
    for (to, scope, details) in &fired {
        let message = OutgoingEmail {
            from: state.config.mail_from.clone(),
            to: to.clone(),
            subject: format!(
                "Billing alert: {scope} above {} {}",
                details["threshold"].as_str().unwrap_or("?"),
                details["currency"].as_str().unwrap_or("")
            ),
            text_body: format!(
                "Spend for {scope} is now {} {}, above the alert threshold of {}.\n",
                details["amount"].as_str().unwrap_or("?"),
                details["currency"].as_str().unwrap_or(""),
                details["threshold"].as_str().unwrap_or("?"),
            ),
            tag: "billing_alert",
        };
        if let Err(err) = state.mailer.send(&message).await {
            tracing::error!(%err, "a billing alert email could not be sent");
        }
    }
    let alerts: Vec<&Value> = fired.iter().map(|(_, _, d)| d).collect();
    Ok((
        StatusCode::CREATED,
        Json(json!({ "snapshot": snapshot_json(&recorded), "alerts_triggered": alerts })),
    ))
}

fn alert_json(a: &billing::AlertConfig) -> Value {
    json!({
        "id": a.id,
        "vendor": a.vendor,
        "threshold": a.threshold.0.normalize().to_string(),
        "currency": a.currency,
        "enabled": a.enabled,
        "notify_email": a.notify_email,
        "last_triggered_at": a.last_triggered_at,
    })
}

async fn alerts(
    State(state): State<AppState>,
    _admin: Authorized<AdminRole>,
) -> Result<Json<Value>, Problem> {
    let configs = billing::alert_configs(&state.db).await?;
    Ok(Json(
        json!({ "alerts": configs.iter().map(alert_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertRequest {
    #[serde(default)]
    vendor: Option<String>,
    threshold: Decimal,
    #[serde(default = "usd")]
    currency: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    notify_email: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsRequest {
    alerts: Vec<AlertRequest>,
}

async fn replace_alerts(
    State(state): State<AppState>,
    admin: Authorized<AdminRole>,
    client: ClientInfo,
    ApiJson(req): ApiJson<AlertsRequest>,
) -> Result<Json<Value>, Problem> {
    if req.alerts.len() > 100 {
        return Err(Problem::invalid_field("alerts", "at most 100 alerts"));
    }
    let mut configs = Vec::with_capacity(req.alerts.len());
    for a in req.alerts {
        configs.push(NewAlertConfig {
            vendor: a.vendor.as_deref().map(vendor_name).transpose()?,
            threshold: money("threshold", a.threshold)?,
            currency: currency_code("currency", &a.currency)?,
            enabled: a.enabled,
            notify_email: a
                .notify_email
                .as_deref()
                .map(|e| Email::parse(e).map(|e| e.as_str().to_owned()))
                .transpose()
                .map_err(|e| Problem::invalid_field("notify_email", e.reason))?,
        });
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    billing::replace_alert_configs(&mut tx, &configs, now).await?;
    let event = AuditEvent {
        actor_user_id: Some(admin.0.user.id),
        actor_email: Some(admin.0.user.email.clone()),
        actor_type: "admin",
        action: "billing.alerts.replace",
        outcome: "success",
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        session_id: Some(admin.0.session.id),
        details: Some(json!({ "count": configs.len() })),
        ..AuditEvent::default()
    };
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    alerts(State(state), admin).await
}
