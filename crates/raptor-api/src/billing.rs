//! Operator billing over HTTP: the latest snapshot, recording one (which may fire alerts),
//! and the alert configuration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::billing::{self, AlertMail, BillingError, TriggeredAlert};
use raptor_app::times;
use raptor_domain::decimal;
use raptor_store::billing::{AlertConfig, NewAlertConfig, NewSnapshot, Snapshot};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ClientInfo};
use crate::guard::permits::{BillingManage, BillingRead};
use crate::guard::Permitted;
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::{AppState, Problem};

const TAG: &str = "billing";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(snapshot))
        .routes(routes!(record))
        .routes(routes!(alerts, replace_alerts))
}

impl From<BillingError> for Problem {
    fn from(err: BillingError) -> Self {
        match err {
            BillingError::Invalid(input) => Problem::invalid(input),
            BillingError::Store(err) => err.into(),
        }
    }
}

/// A vendor's cost for one period.
#[derive(Serialize, ToSchema)]
#[schema(as = BillingSnapshot)]
struct SnapshotView {
    /// Snapshot id.
    id: i64,
    /// Who charges it, e.g. `alpaca`.
    vendor: String,
    /// Start of the billed period.
    period_start: DateTime<Utc>,
    /// End of the billed period.
    period_end: DateTime<Utc>,
    /// How much, as an exact decimal string without trailing zeros (`"99.1"`).
    amount: String,
    /// ISO 4217 code.
    currency: String,
    /// When it was recorded.
    recorded_at: DateTime<Utc>,
    /// The vendor's breakdown as recorded; null if none.
    #[schema(value_type = Option<Object>, required = true)]
    details: Option<Value>,
}

impl From<&Snapshot> for SnapshotView {
    fn from(s: &Snapshot) -> Self {
        Self {
            id: s.id,
            vendor: s.vendor.clone(),
            period_start: s.period_start,
            period_end: s.period_end,
            amount: s.amount.0.normalize().to_string(),
            currency: s.currency.clone(),
            recorded_at: s.recorded_at,
            details: s.details.as_ref().map(|d| d.0.clone()),
        }
    }
}

/// The sum of the latest amounts in one currency.
#[derive(Serialize, ToSchema)]
struct BillingTotal {
    /// ISO 4217 code.
    currency: String,
    /// The exact sum, as a decimal string.
    amount: String,
}

/// What the operation costs now.
#[derive(Serialize, ToSchema)]
struct BillingOverview {
    /// When this was read.
    as_of: DateTime<Utc>,
    /// The latest snapshot of each vendor.
    vendors: Vec<SnapshotView>,
    /// Their amounts summed per currency.
    totals: Vec<BillingTotal>,
}

/// The latest snapshot per vendor and the totals: well-formed and empty before any data.
#[utoipa::path(get, path = "/api/billing/snapshot", tag = TAG,
    responses(
        (status = 200, description = "The latest costs", body = BillingOverview),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn snapshot(
    State(state): State<AppState>,
    _admin: Permitted<BillingRead>,
) -> Result<Json<BillingOverview>, Problem> {
    let latest = billing::latest(&state).await?;
    Ok(Json(BillingOverview {
        as_of: latest.as_of,
        vendors: latest.vendors.iter().map(SnapshotView::from).collect(),
        totals: latest
            .totals
            .into_iter()
            .map(|(currency, amount)| BillingTotal {
                currency,
                amount: amount.normalize().to_string(),
            })
            .collect(),
    }))
}

/// A vendor's cost to record.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewBillingSnapshot)]
struct RecordRequest {
    /// Who charges it, e.g. `alpaca`.
    vendor: String,
    /// Start of the billed period.
    #[serde(deserialize_with = "times::deserialize")]
    period_start: DateTime<Utc>,
    /// End of the billed period; after the start.
    #[serde(deserialize_with = "times::deserialize")]
    period_end: DateTime<Utc>,
    /// How much, as a decimal string; not negative, at most 8 decimal places.
    #[serde(deserialize_with = "decimal::required")]
    amount: Decimal,
    /// ISO 4217 code in capitals (default `USD`).
    #[serde(default = "usd")]
    currency: String,
    /// The vendor's breakdown: a JSON object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    details: Option<Value>,
}

fn usd() -> String {
    "USD".to_owned()
}

/// A recorded snapshot and the alerts it set off.
#[derive(Serialize, ToSchema)]
struct RecordedSnapshot {
    /// The snapshot as stored.
    snapshot: SnapshotView,
    /// Alerts whose threshold this snapshot crossed.
    alerts_triggered: Vec<AlertTriggered>,
}

/// An alert a snapshot set off.
#[derive(Serialize, ToSchema)]
struct AlertTriggered {
    /// The alert's id.
    alert_id: i64,
    /// The vendor it watches, or `all vendors`.
    scope: String,
    /// Its threshold, as a decimal string.
    threshold: String,
    /// The amount that crossed it, as a decimal string.
    amount: String,
    /// ISO 4217 currency.
    currency: String,
}

impl From<TriggeredAlert> for AlertTriggered {
    fn from(alert: TriggeredAlert) -> Self {
        Self {
            alert_id: alert.alert_id,
            scope: alert.scope,
            threshold: alert.threshold.normalize().to_string(),
            amount: alert.amount.normalize().to_string(),
            currency: alert.currency,
        }
    }
}

/// Records a vendor's cost; alerts whose threshold it crosses are audited and mailed.
#[utoipa::path(post, path = "/api/billing/snapshots", tag = TAG,
    request_body = RecordRequest,
    responses(
        (status = 201, description = "Recorded", body = RecordedSnapshot),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "A value is invalid (`field` names it) or the body has \
            the wrong shape; nothing was stored", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn record(
    State(state): State<AppState>,
    admin: Permitted<BillingManage>,
    client: ClientInfo,
    ApiJson(req): ApiJson<RecordRequest>,
) -> Result<(StatusCode, Json<RecordedSnapshot>), Problem> {
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
        Json(RecordedSnapshot {
            snapshot: SnapshotView::from(&recorded.snapshot),
            alerts_triggered: recorded
                .alerts_triggered
                .into_iter()
                .map(AlertTriggered::from)
                .collect(),
        }),
    ))
}

/// A cost threshold that mails someone when crossed.
#[derive(Serialize, ToSchema)]
#[schema(as = BillingAlert)]
struct AlertView {
    /// Alert id.
    id: i64,
    /// The vendor watched; null for the total of all vendors.
    #[schema(required = true)]
    vendor: Option<String>,
    /// Alert when the amount goes above this (decimal string).
    threshold: String,
    /// Currency of the threshold.
    currency: String,
    /// Whether it is active.
    enabled: bool,
    /// Who is told; null for the operators' address.
    #[schema(required = true)]
    notify_email: Option<String>,
    /// When it last fired; null if never.
    #[schema(required = true)]
    last_triggered_at: Option<DateTime<Utc>>,
}

impl From<&AlertConfig> for AlertView {
    fn from(a: &AlertConfig) -> Self {
        Self {
            id: a.id,
            vendor: a.vendor.clone(),
            threshold: a.threshold.0.normalize().to_string(),
            currency: a.currency.clone(),
            enabled: a.enabled,
            notify_email: a.notify_email.clone(),
            last_triggered_at: a.last_triggered_at,
        }
    }
}

/// Every configured alert.
#[derive(Serialize, ToSchema)]
struct BillingAlerts {
    /// The alerts.
    alerts: Vec<AlertView>,
}

impl From<&[AlertConfig]> for BillingAlerts {
    fn from(configs: &[AlertConfig]) -> Self {
        Self {
            alerts: configs.iter().map(AlertView::from).collect(),
        }
    }
}

/// The alert configuration.
#[utoipa::path(get, path = "/api/billing/alerts", tag = TAG,
    responses(
        (status = 200, description = "Every alert", body = BillingAlerts),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn alerts(
    State(state): State<AppState>,
    _admin: Permitted<BillingRead>,
) -> Result<Json<BillingAlerts>, Problem> {
    let configs = billing::alerts(&state).await?;
    Ok(Json(BillingAlerts::from(configs.as_slice())))
}

/// One alert to configure.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewBillingAlert)]
struct AlertRequest {
    /// The vendor to watch; leave out for the total of all vendors.
    #[serde(default)]
    vendor: Option<String>,
    /// Alert when the amount goes above this (decimal string, not negative).
    #[serde(deserialize_with = "decimal::required")]
    threshold: Decimal,
    /// ISO 4217 code in capitals (default `USD`).
    #[serde(default = "usd")]
    currency: String,
    /// Whether it is active (default true).
    #[serde(default = "yes")]
    enabled: bool,
    /// Who to tell; leave out for the operators' address.
    #[serde(default)]
    notify_email: Option<String>,
}

fn yes() -> bool {
    true
}

/// The whole alert configuration, replacing the current one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewBillingAlerts)]
struct AlertsRequest {
    /// Every alert to keep or add (at most 100).
    alerts: Vec<AlertRequest>,
}

/// Replaces the alert configuration as a whole.
#[utoipa::path(put, path = "/api/billing/alerts", tag = TAG,
    request_body = AlertsRequest,
    responses(
        (status = 200, description = "The alerts as stored", body = BillingAlerts),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)",
            body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "A value is invalid (`field` names it) or the body has \
            the wrong shape; nothing was changed", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn replace_alerts(
    State(state): State<AppState>,
    admin: Permitted<BillingManage>,
    client: ClientInfo,
    ApiJson(req): ApiJson<AlertsRequest>,
) -> Result<Json<BillingAlerts>, Problem> {
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
    Ok(Json(BillingAlerts::from(stored.as_slice())))
}
