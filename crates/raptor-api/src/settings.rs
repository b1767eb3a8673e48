//! A customer's own settings: profile and preferences, visual feedback, onboarding.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::Json;
use raptor_app::settings::{
    self, Notifications, Preferences, PreferencesPatch, SettingsError, Step,
};
use raptor_store::settings::VisualFeedback;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;

use crate::extract::ApiJson;
use crate::session::CurrentSession;
use crate::{AppState, Problem};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/api/settings", get(get_settings).patch(patch_settings))
        .route(
            "/api/settings/visual-feedback",
            get(get_visual).put(put_visual),
        )
        .route("/api/onboarding", get(onboarding))
        .route("/api/onboarding/{step}/complete", post(complete_step))
}

impl From<SettingsError> for Problem {
    fn from(err: SettingsError) -> Self {
        match err {
            SettingsError::Invalid(input) => Problem::invalid(input),
            SettingsError::UnknownStep(_) => Problem::not_found(err.to_string()),
            SettingsError::Store(err) => err.into(),
        }
    }
}

async fn get_settings(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Preferences>, Problem> {
    Ok(Json(settings::preferences(&state, &current.user).await?))
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
) -> Result<Json<Preferences>, Problem> {
    let patch = PreferencesPatch {
        display_name: patch.display_name,
        timezone: patch.timezone,
        default_timeframe: patch.default_timeframe,
        notifications: patch.notifications,
    };
    Ok(Json(
        settings::update_preferences(&state, &current.user, patch).await?,
    ))
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
    let stored = settings::visual_feedback(&state, current.user.id).await?;
    Ok(Json(stored.into()))
}

async fn put_visual(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(v): ApiJson<VisualView>,
) -> Result<Json<VisualView>, Problem> {
    let wanted = VisualFeedback {
        theme: v.theme,
        chart_style: v.chart_style,
        animations_enabled: v.animations,
        sound_enabled: v.sounds,
        haptics_enabled: v.haptics,
        reduced_motion: v.reduced_motion,
        pnl_color_scheme: v.pnl_colors,
    };
    let stored = settings::set_visual_feedback(&state, current.user.id, wanted).await?;
    Ok(Json(stored.into()))
}

fn onboarding_json(steps: &[Step]) -> Json<Value> {
    let complete = steps.iter().all(|s| s.completed);
    let steps: Vec<Value> = steps
        .iter()
        .map(
            |s| json!({ "step": s.step, "completed": s.completed, "completed_at": s.completed_at }),
        )
        .collect();
    Json(json!({ "steps": steps, "complete": complete }))
}

async fn onboarding(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Value>, Problem> {
    Ok(onboarding_json(
        &settings::onboarding(&state, current.user.id).await?,
    ))
}

async fn complete_step(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(step): Path<String>,
) -> Result<Json<Value>, Problem> {
    Ok(onboarding_json(
        &settings::complete_step(&state, current.user.id, &step).await?,
    ))
}
