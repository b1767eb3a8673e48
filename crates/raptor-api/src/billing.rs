//! Operator billing over HTTP: the latest snapshot, recording one (which may fire alerts),
//! and the alert configuration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::billing::{self, AlertMail, BillingError};
use raptor_store::billing::{AlertConfig, NewAlertConfig, NewSnapshot, Snapshot};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;

use crate::extract::{ApiJson, ClientInfo};
use crate::guard::{AdminRole, Authorized};
use crate::{AppState, Problem};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/api/billing/snapshot", get(snapshot))
        .route("/api/billing/snapshots", post(record))
        .route("/api/billing/alerts", get(alerts).put(replace_alerts))
}

impl From<BillingError> for Problem {
    fn from(err: BillingError) -> Self {
        match err {
            BillingError::Invalid(input) => Problem::invalid(input),
            BillingError::Store(err) => err.into(),
        }
    }
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

/// The latest snapshot per vendor and the totals: well-formed and empty before any data.
async fn snapshot(
    State(state): State<AppState>,
    _admin: Authorized<AdminRole>,
) -> Result<Json<Value>, Problem> {
    let latest = billing::latest(&state).await?;
    let totals: Vec<Value> = latest
        .totals
        .iter()
        .map(|(currency, amount)| json!({ "currency": currency, "amount": amount.normalize().to_string() }))
        .collect();
    Ok(Json(json!({
        "as_of": latest.as_of,
        "vendors": latest.vendors.iter().map(snapshot_json).collect::<Vec<_>>(),
        "totals": totals,
    })))
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
    let input = NewSnapshot {
        vendor: req.vendor,
        period_start: req.period_start,
        period_end: req.period_end,
        amount: req.amount,
        currency: req.currency,
        details: req.details,
    };
    let mail = AlertMail {
        from: &state.config.mail_from,
        default_to: &state.config.alert_email,
    };
    let recorded =
        billing::record_snapshot(&state, input, &admin.0.actor(&client, "admin"), mail).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "snapshot": snapshot_json(&recorded.snapshot),
            "alerts_triggered": recorded.alerts_triggered,
        })),
    ))
}

fn alert_json(a: &AlertConfig) -> Value {
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

fn alerts_json(configs: &[AlertConfig]) -> Json<Value> {
    Json(json!({ "alerts": configs.iter().map(alert_json).collect::<Vec<_>>() }))
}

async fn alerts(
    State(state): State<AppState>,
    _admin: Authorized<AdminRole>,
) -> Result<Json<Value>, Problem> {
    Ok(alerts_json(&billing::alerts(&state).await?))
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
    let inputs = req
        .alerts
        .into_iter()
        .map(|a| NewAlertConfig {
            vendor: a.vendor,
            threshold: a.threshold,
            currency: a.currency,
            enabled: a.enabled,
            notify_email: a.notify_email,
        })
        .collect();
    let stored = billing::replace_alerts(&state, inputs, &admin.0.actor(&client, "admin")).await?;
    Ok(alerts_json(&stored))
}
