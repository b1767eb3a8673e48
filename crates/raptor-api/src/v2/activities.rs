//! Account activities, as Alpaca's `TradeActivity` (fills) and `NonTradeActivity` (the opening
//! cash deposit).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::America::New_York;
use raptor_app::activities::{self, Activity, ActivityQuery};
use raptor_app::times;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::KeyHolder;
use super::error::{AlpacaError, V2Path, V2Query};
use super::ids::{self, Kind};
use super::orders::time;
use super::{decimal, AlpacaErrorBody, TAG};
use crate::{AppState, Problem};

/// Which activities to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ActivitiesQuery {
    /// Only these types, comma-separated (`FILL`, `CSD`; other Alpaca types answer nothing).
    activity_types: Option<String>,
    /// Only this New York trading date, `YYYY-MM-DD`.
    date: Option<String>,
    /// Only activities after this time.
    after: Option<String>,
    /// Only activities until this time.
    until: Option<String>,
    /// `desc` (newest first, the default) or `asc`.
    direction: Option<String>,
    /// At most this many, 1 to 100 (default 100).
    page_size: Option<i64>,
    /// The `id` of the last activity of the previous page.
    page_token: Option<String>,
}

/// One activity: a fill, or a cash movement.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum AlpacaActivity {
    /// An order filled.
    Fill {
        /// The activity's id (pass as `page_token` to resume after it).
        id: String,
        /// The account's id.
        account_id: String,
        /// `FILL`.
        activity_type: &'static str,
        /// When it filled.
        transaction_time: DateTime<Utc>,
        /// `fill`: orders fill whole.
        #[serde(rename = "type")]
        kind: &'static str,
        /// The price.
        price: String,
        /// The quantity.
        qty: String,
        /// `buy` or `sell`.
        side: &'static str,
        /// Ticker.
        symbol: String,
        /// Always `0`.
        leaves_qty: String,
        /// The order's id.
        order_id: String,
        /// The same as `qty`.
        cum_qty: String,
        /// `filled`.
        order_status: &'static str,
    },
    /// Cash moved.
    Cash {
        /// The activity's id.
        id: String,
        /// The account's id.
        account_id: String,
        /// `CSD`: a cash deposit.
        activity_type: &'static str,
        /// The New York date.
        date: String,
        /// How much.
        net_amount: String,
        /// What it was.
        description: &'static str,
        /// `executed`.
        status: &'static str,
    },
}

fn answer(activity: Activity, account_id: i64) -> AlpacaActivity {
    let id = activity.id();
    let account = ids::uuid(Kind::Account, account_id).to_string();
    match activity {
        Activity::Fill(f) => AlpacaActivity::Fill {
            id,
            account_id: account,
            activity_type: "FILL",
            transaction_time: f.filled_at,
            kind: "fill",
            price: decimal(f.price.0),
            qty: decimal(f.qty.0),
            side: f.side.as_str(),
            symbol: f.symbol,
            leaves_qty: "0".to_owned(),
            order_id: ids::uuid(Kind::Order, f.order_id).to_string(),
            cum_qty: decimal(f.qty.0),
            order_status: "filled",
        },
        Activity::Deposit { at, amount, .. } => AlpacaActivity::Cash {
            id,
            account_id: account,
            activity_type: "CSD",
            date: at.with_timezone(&New_York).format("%Y-%m-%d").to_string(),
            net_amount: decimal(amount),
            description: "opening cash",
            status: "executed",
        },
    }
}

/// The use case's query from the request's (`only`: a type from the path).
pub(crate) fn query(q: ActivitiesQuery, only: Option<String>) -> Result<ActivityQuery, Problem> {
    let ascending = match q.direction.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(Problem::invalid_field("direction", "must be asc or desc")),
    };
    let (mut after, mut until) = (
        time("after", q.after.as_deref())?,
        time("until", q.until.as_deref())?,
    );
    if let Some(date) = q.date.as_deref() {
        let day = times::date("date", date).map_err(Problem::invalid)?;
        let bounds = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .and_then(|t| t.and_local_timezone(New_York).earliest())
                .map(|t| t.with_timezone(&Utc))
        };
        after = bounds(day).map(|t| t - chrono::Duration::microseconds(1));
        until = day
            .succ_opt()
            .and_then(bounds)
            .map(|t| t - chrono::Duration::microseconds(1));
    }
    Ok(ActivityQuery {
        activity_types: only.or(q.activity_types),
        after,
        until,
        ascending,
        page_size: q.page_size,
        page_token: q.page_token,
    })
}

async fn list(
    state: &AppState,
    holder: &KeyHolder,
    q: ActivitiesQuery,
    only: Option<String>,
) -> Result<Json<Vec<AlpacaActivity>>, AlpacaError> {
    let page = activities::page(state, holder.user_id, &query(q, only)?).await?;
    let account_id = page.account_id;
    Ok(Json(
        page.activities
            .into_iter()
            .map(|a| answer(a, account_id))
            .collect(),
    ))
}

/// The key holder's activities: fills and the opening cash, newest first by default.
#[utoipa::path(get, path = "/v2/account/activities", tag = TAG,
    params(ActivitiesQuery),
    responses(
        (status = 200, description = "A page of activities", body = Vec<AlpacaActivity>),
        (status = 404, description = "The key's owner has no paper account", body = AlpacaErrorBody),
        (status = 422, description = "A parameter is not acceptable", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn all(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Query(q): V2Query<ActivitiesQuery>,
) -> Result<Json<Vec<AlpacaActivity>>, AlpacaError> {
    list(&state, &holder, q, None).await
}

/// The key holder's activities of one type.
#[utoipa::path(get, path = "/v2/account/activities/{activity_type}", tag = TAG,
    params(("activity_type" = String, Path, description = "An Alpaca activity type (`FILL`, `CSD`)"),
        ActivitiesQuery),
    responses(
        (status = 200, description = "A page of activities", body = Vec<AlpacaActivity>),
        (status = 404, description = "The key's owner has no paper account", body = AlpacaErrorBody),
        (status = 422, description = "A parameter is not acceptable", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn of_type(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Path(activity_type): V2Path<String>,
    V2Query(q): V2Query<ActivitiesQuery>,
) -> Result<Json<Vec<AlpacaActivity>>, AlpacaError> {
    list(&state, &holder, q, Some(activity_type)).await
}
