//! A customer's own settings: profile and preferences, visual feedback, onboarding.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use raptor_domain::DisplayName;
use raptor_store::customers;
use raptor_store::settings::{self, VisualFeedback};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::extract::ApiJson;
use crate::session::CurrentSession;
use crate::{AppState, Problem};

/// Timeframes a chart can default to.
const TIMEFRAMES: &[&str] = &["1Min", "5Min", "15Min", "1Hour", "1Day"];
/// Onboarding steps, in the order the app shows them.
const STEPS: &[&str] = &[
    "passkey_added",
    "backup_codes_saved",
    "first_order",
    "first_backtest",
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/settings", get(get_settings).patch(patch_settings))
        .route(
            "/api/settings/visual-feedback",
            get(get_visual).put(put_visual),
        )
        .route("/api/onboarding", get(onboarding))
        .route("/api/onboarding/{step}/complete", post(complete_step))
}

/// Notification preferences.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Notifications {
    order_fills: bool,
    price_alerts: bool,
    product_updates: bool,
}

impl Default for Notifications {
    fn default() -> Self {
        Self {
            order_fills: true,
            price_alerts: true,
            product_updates: false,
        }
    }
}

#[derive(Serialize)]
struct SettingsView {
    display_name: String,
    timezone: String,
    default_timeframe: String,
    notifications: Notifications,
}

async fn load(state: &AppState, current: &CurrentSession) -> Result<SettingsView, Problem> {
    let stored = settings::all(&state.db, current.user.id).await?;
    let text = |key: &str, default: &str| {
        stored
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_owned()
    };
    Ok(SettingsView {
        display_name: current.user.display_name.clone(),
        timezone: text("timezone", "America/New_York"),
        default_timeframe: text("default_timeframe", "1Day"),
        notifications: stored
            .get("notifications")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default(),
    })
}

async fn get_settings(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<SettingsView>, Problem> {
    Ok(Json(load(&state, &current).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsPatch {
    display_name: Option<String>,
    timezone: Option<String>,
    default_timeframe: Option<String>,
    notifications: Option<Notifications>,
}

async fn patch_settings(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(patch): ApiJson<SettingsPatch>,
) -> Result<Json<SettingsView>, Problem> {
    // Validate everything before writing anything.
    let name = patch
        .display_name
        .as_deref()
        .map(|n| DisplayName::parse("display_name", n))
        .transpose()
        .map_err(Problem::invalid)?;
    if let Some(tz) = &patch.timezone {
        tz.parse::<chrono_tz::Tz>().map_err(|_| {
            Problem::invalid_field(
                "timezone",
                format!("'{tz}' is not an IANA time zone such as America/New_York"),
            )
        })?;
    }
    if let Some(tf) = &patch.default_timeframe {
        if !TIMEFRAMES.contains(&tf.as_str()) {
            return Err(Problem::invalid_field(
                "default_timeframe",
                format!("must be one of {}", TIMEFRAMES.join(", ")),
            ));
        }
    }
    let now = state.now();
    let user = current.user.id;
    let mut tx = state.db.begin().await?;
    if let Some(name) = &name {
        customers::set_display_name(&mut tx, user, name.as_str(), now).await?;
    }
    if let Some(tz) = &patch.timezone {
        settings::put(&mut tx, user, "timezone", &json!(tz), now).await?;
    }
    if let Some(tf) = &patch.default_timeframe {
        settings::put(&mut tx, user, "default_timeframe", &json!(tf), now).await?;
    }
    if let Some(n) = &patch.notifications {
        settings::put(&mut tx, user, "notifications", &json!(n), now).await?;
    }
    tx.commit().await?;
    let mut view = load(&state, &current).await?;
    if let Some(name) = name {
        view.display_name = name.as_str().to_owned();
    }
    Ok(Json(view))
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VisualView {
    theme: String,
    chart_style: String,
    reduced_motion: bool,
    sounds: bool,
    animations: bool,
    haptics: bool,
    pnl_colors: String,
}

impl From<VisualFeedback> for VisualView {
    fn from(v: VisualFeedback) -> Self {
        Self {
            theme: v.theme,
            chart_style: v.chart_style,
            reduced_motion: v.reduced_motion,
            sounds: v.sound_enabled,
            animations: v.animations_enabled,
            haptics: v.haptics_enabled,
            pnl_colors: v.pnl_color_scheme,
        }
    }
}

async fn get_visual(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<VisualView>, Problem> {
    let stored = settings::visual_feedback(&state.db, current.user.id)
        .await?
        .unwrap_or_default();
    Ok(Json(stored.into()))
}

fn one_of(field: &'static str, value: &str, allowed: &[&str]) -> Result<(), Problem> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(Problem::invalid_field(
            field,
            format!("must be one of {}", allowed.join(", ")),
        ))
    }
}

async fn put_visual(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(v): ApiJson<VisualView>,
) -> Result<Json<VisualView>, Problem> {
    one_of("theme", &v.theme, &["system", "light", "dark"])?;
    one_of(
        "chart_style",
        &v.chart_style,
        &["candles", "bars", "line", "area"],
    )?;
    one_of(
        "pnl_colors",
        &v.pnl_colors,
        &["green_red", "red_green", "blue_orange"],
    )?;
    let stored = VisualFeedback {
        theme: v.theme,
        chart_style: v.chart_style,
        animations_enabled: v.animations,
        sound_enabled: v.sounds,
        haptics_enabled: v.haptics,
        reduced_motion: v.reduced_motion,
        pnl_color_scheme: v.pnl_colors,
    };
    settings::put_visual_feedback(&state.db, current.user.id, &stored, state.now()).await?;
    Ok(Json(stored.into()))
}

async fn onboarding_view(state: &AppState, user_id: i64) -> Result<Value, Problem> {
    let done = settings::completed_steps(&state.db, user_id).await?;
    let steps: Vec<Value> = STEPS
        .iter()
        .map(|step| {
            let completed = done.iter().find(|d| d.step == *step);
            json!({
                "step": step,
                "completed": completed.is_some(),
                "completed_at": completed.and_then(|c| c.completed_at),
            })
        })
        .collect();
    let complete = steps.iter().all(|s| s["completed"] == true);
    Ok(json!({ "steps": steps, "complete": complete }))
}

async fn onboarding(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Value>, Problem> {
    Ok(Json(onboarding_view(&state, current.user.id).await?))
}

async fn complete_step(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(step): Path<String>,
) -> Result<Json<Value>, Problem> {
    if !STEPS.contains(&step.as_str()) {
        return Err(Problem::not_found(format!(
            "no onboarding step '{step}'; steps are {}",
            STEPS.join(", ")
        )));
    }
    settings::complete_step(&state.db, current.user.id, &step, state.now()).await?;
    Ok(Json(onboarding_view(&state, current.user.id).await?))
}
