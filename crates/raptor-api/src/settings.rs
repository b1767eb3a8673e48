//! A customer's own settings: profile and preferences, visual feedback, onboarding.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::settings::{
    self, Notifications, Preferences, PreferencesPatch, SettingsError, Step,
};
use raptor_store::settings::VisualFeedback;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiPath};
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::session::CurrentSession;
use crate::{AppState, Problem};

const TAG: &str = "settings";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, patch_settings))
        .routes(routes!(get_visual, put_visual))
        .routes(routes!(onboarding))
        .routes(routes!(complete_step))
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

/// Which notifications the user wants.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Notifications)]
struct NotificationsView {
    /// Tell me when an order fills.
    order_fills: bool,
    /// Tell me when a price alert fires.
    price_alerts: bool,
    /// Tell me about new features.
    product_updates: bool,
}

impl From<Notifications> for NotificationsView {
    fn from(n: Notifications) -> Self {
        Self {
            order_fills: n.order_fills,
            price_alerts: n.price_alerts,
            product_updates: n.product_updates,
        }
    }
}

impl From<NotificationsView> for Notifications {
    fn from(n: NotificationsView) -> Self {
        Self {
            order_fills: n.order_fills,
            price_alerts: n.price_alerts,
            product_updates: n.product_updates,
        }
    }
}

/// The user's profile and preferences, with defaults for what was never set.
#[derive(Serialize, ToSchema)]
#[schema(as = Preferences)]
struct PreferencesView {
    /// What to call them.
    display_name: String,
    /// IANA time zone, e.g. `America/New_York`.
    timezone: String,
    /// The chart timeframe to open with, e.g. `1Day`.
    default_timeframe: String,
    /// Notification preferences.
    notifications: NotificationsView,
}

impl From<Preferences> for PreferencesView {
    fn from(p: Preferences) -> Self {
        Self {
            display_name: p.display_name,
            timezone: p.timezone,
            default_timeframe: p.default_timeframe,
            notifications: p.notifications.into(),
        }
    }
}

/// The user's profile and preferences.
#[utoipa::path(get, path = "/api/settings", tag = TAG,
    responses(
        (status = 200, description = "The preferences", body = PreferencesView),
    ),
    security(("session" = [])))]
async fn get_settings(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<PreferencesView>, Problem> {
    let preferences = settings::preferences(&state, &current.user).await?;
    Ok(Json(preferences.into()))
}

/// Preferences to change; what is left out stays as it is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PreferencesPatch)]
struct SettingsPatch {
    /// New display name.
    display_name: Option<String>,
    /// New IANA time zone.
    timezone: Option<String>,
    /// New default chart timeframe.
    default_timeframe: Option<String>,
    /// New notification preferences, all three.
    notifications: Option<NotificationsView>,
}

/// Changes some preferences: all are checked before any is written.
#[utoipa::path(patch, path = "/api/settings", tag = TAG,
    request_body = SettingsPatch,
    responses(
        (status = 200, description = "The preferences after the change", body = PreferencesView),
        (status = 422, description = "A value is invalid (`field` names it) or the body has \
            the wrong shape; nothing was changed", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn patch_settings(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(patch): ApiJson<SettingsPatch>,
) -> Result<Json<PreferencesView>, Problem> {
    let patch = PreferencesPatch {
        display_name: patch.display_name,
        timezone: patch.timezone,
        default_timeframe: patch.default_timeframe,
        notifications: patch.notifications.map(Notifications::from),
    };
    let preferences = settings::update_preferences(&state, &current.user, patch).await?;
    Ok(Json(preferences.into()))
}

/// How the app looks, sounds and moves.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = VisualFeedback)]
struct VisualView {
    /// `system`, `light` or `dark`.
    theme: String,
    /// How charts draw prices: `candles`, `bars`, `line` or `area`.
    chart_style: String,
    /// Keep motion to a minimum.
    reduced_motion: bool,
    /// Play sounds.
    sounds: bool,
    /// Animate changes.
    animations: bool,
    /// Vibrate on mobile.
    haptics: bool,
    /// Profit and loss colours: `green_red`, `red_green` or `blue_orange`.
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

/// The user's visual-feedback settings.
#[utoipa::path(get, path = "/api/settings/visual-feedback", tag = TAG,
    responses(
        (status = 200, description = "The settings", body = VisualView),
    ),
    security(("session" = [])))]
async fn get_visual(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<VisualView>, Problem> {
    let stored = settings::visual_feedback(&state, current.user.id).await?;
    Ok(Json(stored.into()))
}

/// Replaces the user's visual-feedback settings, all of them.
#[utoipa::path(put, path = "/api/settings/visual-feedback", tag = TAG,
    request_body = VisualView,
    responses(
        (status = 200, description = "The settings as stored", body = VisualView),
        (status = 422, description = "A value is invalid (`field` names it) or the body has \
            the wrong shape", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
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

/// The user's progress through onboarding.
#[derive(Serialize, ToSchema)]
struct Onboarding {
    /// Every step, in the order the app shows them.
    steps: Vec<OnboardingStep>,
    /// Whether every step is done.
    complete: bool,
}

/// One onboarding step.
#[derive(Serialize, ToSchema)]
struct OnboardingStep {
    /// Its name: `passkey_added`, `backup_codes_saved`, `first_order` or `first_backtest`.
    step: &'static str,
    /// Whether it is done.
    completed: bool,
    /// When it was done; null while it is not.
    #[schema(required = true)]
    completed_at: Option<DateTime<Utc>>,
}

impl From<&[Step]> for Onboarding {
    fn from(steps: &[Step]) -> Self {
        Self {
            complete: steps.iter().all(|s| s.completed),
            steps: steps
                .iter()
                .map(|s| OnboardingStep {
                    step: s.step,
                    completed: s.completed,
                    completed_at: s.completed_at,
                })
                .collect(),
        }
    }
}

/// The user's onboarding progress.
#[utoipa::path(get, path = "/api/onboarding", tag = TAG,
    responses(
        (status = 200, description = "Every step and whether it is done", body = Onboarding),
    ),
    security(("session" = [])))]
async fn onboarding(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Onboarding>, Problem> {
    let steps = settings::onboarding(&state, current.user.id).await?;
    Ok(Json(Onboarding::from(steps.as_slice())))
}

/// Marks an onboarding step done; doing it again keeps the first time.
#[utoipa::path(post, path = "/api/onboarding/{step}/complete", tag = TAG,
    params(("step" = String, Path, description = "The step: `passkey_added`, \
        `backup_codes_saved`, `first_order` or `first_backtest`")),
    responses(
        (status = 200, description = "The progress after it", body = Onboarding),
        (status = 404, description = "No onboarding step has this name",
            body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn complete_step(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(step): ApiPath<String>,
) -> Result<Json<Onboarding>, Problem> {
    let steps = settings::complete_step(&state, current.user.id, &step).await?;
    Ok(Json(Onboarding::from(steps.as_slice())))
}
