//! A customer's own settings: profile and preferences, visual feedback, onboarding.

use chrono::{DateTime, Utc};
use raptor_domain::{DisplayName, InvalidInput, Timeframe};
use raptor_store::settings::{self, VisualFeedback};
use raptor_store::users::User;
use raptor_store::{customers, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::App;

/// Onboarding steps, in the order the app shows them.
pub const STEPS: &[&str] = &[
    "passkey_added",
    "backup_codes_saved",
    "first_order",
    "first_backtest",
];

/// Why a settings change was refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The input breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// No onboarding step of that name.
    #[error("no onboarding step '{0}'; steps are {steps}", steps = STEPS.join(", "))]
    UnknownStep(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Notification preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// Tell me when an order fills.
    pub order_fills: bool,
    /// Tell me when a price alert fires.
    pub price_alerts: bool,
    /// Tell me about new features.
    pub product_updates: bool,
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

/// A user's profile and preferences, with defaults for what was never set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preferences {
    /// What to call them.
    pub display_name: String,
    /// IANA time zone.
    pub timezone: String,
    /// The chart timeframe to open with.
    pub default_timeframe: String,
    /// Notification preferences.
    pub notifications: Notifications,
}

/// `user`'s preferences.
pub async fn preferences(app: &App, user: &User) -> Result<Preferences, StoreError> {
    let stored = settings::all(&app.db, user.id).await?;
    let text = |key: &str, default: &str| {
        stored
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_owned()
    };
    Ok(Preferences {
        display_name: user.display_name.clone(),
        timezone: text("timezone", "America/New_York"),
        default_timeframe: text("default_timeframe", Timeframe::Day1.as_str()),
        notifications: stored
            .get("notifications")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default(),
    })
}

/// The preferences to change; None leaves one as it is.
#[derive(Debug, Clone, Default)]
pub struct PreferencesPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New IANA time zone.
    pub timezone: Option<String>,
    /// New default chart timeframe.
    pub default_timeframe: Option<String>,
    /// New notification preferences.
    pub notifications: Option<Notifications>,
}

/// Changes `user`'s preferences: everything is checked before anything is written, and all
/// of it is written in one transaction.
pub async fn update_preferences(
    app: &App,
    user: &User,
    patch: PreferencesPatch,
) -> Result<Preferences, SettingsError> {
    let name = patch
        .display_name
        .as_deref()
        .map(|n| DisplayName::parse("display_name", n))
        .transpose()?;
    if let Some(tz) = &patch.timezone {
        tz.parse::<chrono_tz::Tz>().map_err(|_| {
            InvalidInput::new(
                "timezone",
                format!("'{tz}' is not an IANA time zone such as America/New_York"),
            )
        })?;
    }
    if let Some(tf) = &patch.default_timeframe {
        if !Timeframe::ALL.iter().any(|t| t.as_str() == tf) {
            let names: Vec<&str> = Timeframe::ALL.iter().map(|t| t.as_str()).collect();
            return Err(InvalidInput::new(
                "default_timeframe",
                format!("must be one of {}", names.join(", ")),
            )
            .into());
        }
    }
    let now = app.now();
    let mut tx = app.db.begin().await?;
    if let Some(name) = &name {
        customers::set_display_name(&mut tx, user.id, name.as_str(), now).await?;
    }
    if let Some(tz) = &patch.timezone {
        settings::put(&mut tx, user.id, "timezone", &json!(tz), now).await?;
    }
    if let Some(tf) = &patch.default_timeframe {
        settings::put(&mut tx, user.id, "default_timeframe", &json!(tf), now).await?;
    }
    if let Some(n) = &patch.notifications {
        settings::put(&mut tx, user.id, "notifications", &json!(n), now).await?;
    }
    tx.commit().await?;
    let mut view = preferences(app, user).await?;
    if let Some(name) = name {
        view.display_name = name.as_str().to_owned();
    }
    Ok(view)
}

/// How the app looks and feels for the user (defaults until set).
pub async fn visual_feedback(app: &App, user_id: i64) -> Result<VisualFeedback, StoreError> {
    Ok(settings::visual_feedback(&app.db, user_id)
        .await?
        .unwrap_or_default())
}

fn one_of(field: &'static str, value: &str, allowed: &[&str]) -> Result<(), InvalidInput> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(InvalidInput::new(
            field,
            format!("must be one of {}", allowed.join(", ")),
        ))
    }
}

/// Replaces the user's visual feedback settings. Refusals name the fields as clients know
/// them (`theme`, `chart_style`, `pnl_colors`).
pub async fn set_visual_feedback(
    app: &App,
    user_id: i64,
    visual: VisualFeedback,
) -> Result<VisualFeedback, SettingsError> {
    one_of("theme", &visual.theme, &["system", "light", "dark"])?;
    one_of(
        "chart_style",
        &visual.chart_style,
        &["candles", "bars", "line", "area"],
    )?;
    one_of(
        "pnl_colors",
        &visual.pnl_color_scheme,
        &["green_red", "red_green", "blue_orange"],
    )?;
    settings::put_visual_feedback(&app.db, user_id, &visual, app.now()).await?;
    Ok(visual)
}

/// One onboarding step and whether (and when) it was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its name.
    pub step: &'static str,
    /// When it was completed; None while it is not.
    pub completed_at: Option<DateTime<Utc>>,
    /// Whether it is done.
    pub completed: bool,
}

/// Every onboarding step in order, with the user's progress.
pub async fn onboarding(app: &App, user_id: i64) -> Result<Vec<Step>, StoreError> {
    let done = settings::completed_steps(&app.db, user_id).await?;
    Ok(STEPS
        .iter()
        .map(|step| {
            let completed = done.iter().find(|d| d.step == *step);
            Step {
                step,
                completed: completed.is_some(),
                completed_at: completed.and_then(|c| c.completed_at),
            }
        })
        .collect())
}

/// Marks an onboarding step done (again is harmless); the progress after it.
pub async fn complete_step(
    app: &App,
    user_id: i64,
    step: &str,
) -> Result<Vec<Step>, SettingsError> {
    if !STEPS.contains(&step) {
        return Err(SettingsError::UnknownStep(step.to_owned()));
    }
    let mut tx = app.db.begin().await?;
    settings::complete_step(&mut tx, user_id, step, app.now()).await?;
    tx.commit().await?;
    Ok(onboarding(app, user_id).await?)
}
