//! A user's preferences: key/value settings, visual feedback, and onboarding progress.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::engine::Db;
use crate::error::StoreError;
use crate::tx::Tx;

/// Every stored setting of a user, by key.
pub async fn all(db: &Db, user_id: i64) -> Result<HashMap<String, Value>, StoreError> {
    let rows: Vec<(String, Json<Value>)> = on_pool!(db, pool => {
        sqlx::query_as("SELECT key, value FROM user_settings WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(pool)
            .await?
    });
    Ok(rows.into_iter().map(|(k, v)| (k, v.0)).collect())
}

/// Sets one setting.
pub async fn put(
    tx: &mut Tx,
    user_id: i64,
    key: &str,
    value: &Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, t => {
        sqlx::query(
            "INSERT INTO user_settings (user_id, key, value, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(key)
        .bind(Json(value))
        .bind(now)
        .execute(&mut **t)
        .await?;
    });
    Ok(())
}

/// How the app should look and feel for a user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VisualFeedback {
    /// `system`, `light` or `dark`.
    pub theme: String,
    /// `candles`, `bars`, `line` or `area`.
    pub chart_style: String,
    /// Animate changes.
    pub animations_enabled: bool,
    /// Play sounds.
    pub sound_enabled: bool,
    /// Vibrate on mobile.
    pub haptics_enabled: bool,
    /// Prefer reduced motion.
    pub reduced_motion: bool,
    /// `green_red`, `red_green` or `blue_orange`.
    pub pnl_color_scheme: String,
}

impl Default for VisualFeedback {
    fn default() -> Self {
        Self {
            theme: "system".into(),
            chart_style: "candles".into(),
            animations_enabled: true,
            sound_enabled: false,
            haptics_enabled: true,
            reduced_motion: false,
            pnl_color_scheme: "green_red".into(),
        }
    }
}

/// A user's visual feedback settings (None: never set, use the defaults).
pub async fn visual_feedback(db: &Db, user_id: i64) -> Result<Option<VisualFeedback>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as(
            "SELECT theme, chart_style, animations_enabled, sound_enabled, haptics_enabled, \
             reduced_motion, pnl_color_scheme FROM visual_feedback_settings WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await?
    }))
}

/// Replaces a user's visual feedback settings.
pub async fn put_visual_feedback(
    db: &Db,
    user_id: i64,
    v: &VisualFeedback,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_write!(db, pool => {
        sqlx::query(
            "INSERT INTO visual_feedback_settings (user_id, animations_enabled, sound_enabled, \
             haptics_enabled, reduced_motion, pnl_color_scheme, updated_at, theme, chart_style) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (user_id) DO UPDATE SET \
             animations_enabled = excluded.animations_enabled, sound_enabled = excluded.sound_enabled, \
             haptics_enabled = excluded.haptics_enabled, reduced_motion = excluded.reduced_motion, \
             pnl_color_scheme = excluded.pnl_color_scheme, updated_at = excluded.updated_at, \
             theme = excluded.theme, chart_style = excluded.chart_style",
        )
        .bind(user_id)
        .bind(v.animations_enabled)
        .bind(v.sound_enabled)
        .bind(v.haptics_enabled)
        .bind(v.reduced_motion)
        .bind(&v.pnl_color_scheme)
        .bind(now)
        .bind(&v.theme)
        .bind(&v.chart_style)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// A completed onboarding step.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CompletedStep {
    /// The step's name.
    pub step: String,
    /// When it was completed.
    pub completed_at: Option<DateTime<Utc>>,
}

/// The steps a user has completed.
pub async fn completed_steps(db: &Db, user_id: i64) -> Result<Vec<CompletedStep>, StoreError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as(
            "SELECT step, completed_at FROM onboarding_progress \
             WHERE user_id = $1 AND status = 'completed' ORDER BY step",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?
    }))
}

/// Marks a step completed; false when it already was (the first completion time stays).
pub async fn complete_step(
    tx: &mut Tx,
    user_id: i64,
    step: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let changed = on_tx!(tx, t => {
        sqlx::query(
            "INSERT INTO onboarding_progress (user_id, step, status, updated_at, completed_at) \
             VALUES ($1, $2, 'completed', $3, $3) ON CONFLICT (user_id, step) DO UPDATE \
             SET status = 'completed', updated_at = excluded.updated_at, \
                 completed_at = excluded.completed_at \
             WHERE onboarding_progress.status <> 'completed'",
        )
        .bind(user_id)
        .bind(step)
        .bind(now)
        .execute(&mut **t)
        .await?
        .rows_affected()
    });
    Ok(changed == 1)
}
