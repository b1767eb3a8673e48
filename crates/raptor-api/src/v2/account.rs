//! The account, its configuration, and the market's clock and calendar.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use chrono_tz::America::New_York;
use raptor_app::{portfolio, times, trading};
use raptor_domain::calendar;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::KeyHolder;
use super::error::{AlpacaError, V2Json, V2Query};
use super::ids::{self, Kind};
use super::{decimal, TAG};
use crate::{AppState, Problem};

/// The paper account, as Alpaca's `TradeAccount`: money as decimal strings.
#[derive(Serialize, ToSchema)]
pub(crate) struct TradeAccount {
    /// The account's id.
    id: String,
    /// `PA` and the account's number.
    account_number: String,
    /// Always `ACTIVE`.
    status: &'static str,
    /// `USD`.
    currency: String,
    /// Cash.
    cash: String,
    /// Cash not reserved by working buy orders (no margin is offered).
    buying_power: String,
    /// The same as `buying_power`.
    regt_buying_power: String,
    /// The same as `buying_power`.
    daytrading_buying_power: String,
    /// The same as `buying_power`.
    non_marginable_buying_power: String,
    /// Cash plus positions at their latest prices.
    equity: String,
    /// The same as `equity`.
    portfolio_value: String,
    /// Equity at the previous close.
    last_equity: String,
    /// Positions at their latest prices.
    long_market_value: String,
    /// Always `0`: short selling is not offered.
    short_market_value: String,
    /// Always `1`: no margin.
    multiplier: String,
    /// Always `0`.
    initial_margin: String,
    /// Always `0`.
    maintenance_margin: String,
    /// Always `0`.
    accrued_fees: String,
    /// Whether new orders are refused (the kill switch, `suspend_trade`).
    trading_blocked: bool,
    /// The same as `trading_blocked`: the user suspended trading.
    trade_suspended_by_user: bool,
    /// Always false.
    transfers_blocked: bool,
    /// Always false.
    account_blocked: bool,
    /// Always false.
    pattern_day_trader: bool,
    /// Always false.
    shorting_enabled: bool,
    /// Always 0.
    daytrade_count: i64,
}

/// The key holder's paper account.
#[utoipa::path(get, path = "/v2/account", tag = TAG,
    responses(
        (status = 200, description = "The account", body = TradeAccount),
        (status = 404, description = "The key's owner has no paper account", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn account(
    State(state): State<AppState>,
    holder: KeyHolder,
) -> Result<Json<TradeAccount>, AlpacaError> {
    let summary = trading::account_summary(&state, holder.user_id).await?;
    let account = &summary.account;
    let buying_power = decimal(summary.buying_power());
    let equity = decimal(summary.equity());
    let blocked = summary.kill_switch.kill_switch;
    Ok(Json(TradeAccount {
        id: ids::uuid(Kind::Account, account.id).to_string(),
        account_number: format!("PA{:08}", account.id),
        status: "ACTIVE",
        currency: account.currency.clone(),
        cash: decimal(account.cash.0),
        regt_buying_power: buying_power.clone(),
        daytrading_buying_power: buying_power.clone(),
        non_marginable_buying_power: buying_power.clone(),
        buying_power,
        portfolio_value: equity.clone(),
        equity,
        last_equity: decimal(summary.last_equity),
        long_market_value: decimal(summary.long_market_value),
        short_market_value: "0".to_owned(),
        multiplier: "1".to_owned(),
        initial_margin: "0".to_owned(),
        maintenance_margin: "0".to_owned(),
        accrued_fees: "0".to_owned(),
        trading_blocked: blocked,
        trade_suspended_by_user: blocked,
        transfers_blocked: false,
        account_blocked: false,
        pattern_day_trader: false,
        shorting_enabled: false,
        daytrade_count: 0,
    }))
}

/// The account's configuration, as Alpaca's `AccountConfiguration`. Only fractional, cash-only,
/// long-only trading is offered; `suspend_trade` is the kill switch.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccountConfiguration {
    /// Always `entry`.
    dtbp_check: &'static str,
    /// Always `entry`.
    pdt_check: &'static str,
    /// Always `all`.
    trade_confirm_email: &'static str,
    /// Whether new orders are refused (the kill switch).
    suspend_trade: bool,
    /// Always true: short selling is not offered.
    no_shorting: bool,
    /// Always true.
    fractional_trading: bool,
    /// Always `1`: no margin.
    max_margin_multiplier: &'static str,
    /// Always false.
    ptp_no_exception_entry: bool,
}

/// The account's configuration.
#[utoipa::path(get, path = "/v2/account/configurations", tag = TAG,
    responses(
        (status = 200, description = "The configuration", body = AccountConfiguration),
        (status = 404, description = "The key's owner has no paper account", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn configurations(
    State(state): State<AppState>,
    holder: KeyHolder,
) -> Result<Json<AccountConfiguration>, AlpacaError> {
    let kill_switch = trading::kill_switch_of(&state, holder.user_id).await?;
    Ok(Json(AccountConfiguration {
        dtbp_check: "entry",
        pdt_check: "entry",
        trade_confirm_email: "all",
        suspend_trade: kill_switch.kill_switch,
        no_shorting: true,
        fractional_trading: true,
        max_margin_multiplier: "1",
        ptp_no_exception_entry: false,
    }))
}

/// A configuration to set, as alpaca-py sends it (every field, unset ones null).
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewConfiguration {
    /// True turns the kill switch on (every new order is refused), false off.
    #[serde(default)]
    suspend_trade: Option<bool>,
    /// `entry` (or null).
    #[serde(default)]
    dtbp_check: Option<String>,
    /// `entry` (or null).
    #[serde(default)]
    pdt_check: Option<String>,
    /// `all` (or null).
    #[serde(default)]
    trade_confirm_email: Option<String>,
    /// True (or null): short selling is not offered.
    #[serde(default)]
    no_shorting: Option<bool>,
    /// True (or null).
    #[serde(default)]
    fractional_trading: Option<bool>,
    /// `1` (or null): no margin.
    #[serde(default)]
    max_margin_multiplier: Option<String>,
    /// False (or null).
    #[serde(default)]
    ptp_no_exception_entry: Option<bool>,
}

impl NewConfiguration {
    /// Refuses a setting Raptor does not offer, naming it.
    fn check(&self) -> Result<(), Problem> {
        let fixed = [
            (
                "dtbp_check",
                self.dtbp_check.as_deref().is_none_or(|v| v == "entry"),
                "entry",
            ),
            (
                "pdt_check",
                self.pdt_check.as_deref().is_none_or(|v| v == "entry"),
                "entry",
            ),
            (
                "trade_confirm_email",
                self.trade_confirm_email
                    .as_deref()
                    .is_none_or(|v| v == "all"),
                "all",
            ),
            ("no_shorting", self.no_shorting != Some(false), "true"),
            (
                "fractional_trading",
                self.fractional_trading != Some(false),
                "true",
            ),
            (
                "max_margin_multiplier",
                self.max_margin_multiplier
                    .as_deref()
                    .is_none_or(|v| v == "1"),
                "1",
            ),
            (
                "ptp_no_exception_entry",
                self.ptp_no_exception_entry != Some(true),
                "false",
            ),
        ];
        match fixed.into_iter().find(|(_, offered, _)| !offered) {
            Some((field, _, value)) => Err(Problem::invalid_field(
                field,
                format!("only {value} is offered"),
            )),
            None => Ok(()),
        }
    }
}

/// Sets the account's configuration: `suspend_trade` turns the kill switch on or off (audited
/// as `trading.kill_switch`); every other setting must be the one offered.
#[utoipa::path(patch, path = "/v2/account/configurations", tag = TAG,
    request_body = NewConfiguration,
    responses(
        (status = 200, description = "The configuration as it now is", body = AccountConfiguration),
        (status = 400, description = "The body is not JSON", body = AlpacaErrorBody),
        (status = 404, description = "The key's owner has no paper account", body = AlpacaErrorBody),
        (status = 422, description = "A setting that is not offered", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn configure(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Json(body): V2Json<NewConfiguration>,
) -> Result<Json<AccountConfiguration>, AlpacaError> {
    body.check()?;
    if let Some(suspend) = body.suspend_trade {
        let event = holder.audit_event(
            "trading.kill_switch",
            serde_json::json!({ "enabled": suspend }),
        );
        trading::set_kill_switch(
            &state,
            holder.user_id,
            suspend,
            Some("suspend_trade"),
            &event,
        )
        .await?;
    }
    configurations(State(state), holder).await
}

/// The market clock, as Alpaca's `Clock` (times in New York's offset).
#[derive(Serialize, ToSchema)]
pub(crate) struct Clock {
    /// Now.
    timestamp: String,
    /// Whether the regular session is open.
    is_open: bool,
    /// The next regular open.
    next_open: String,
    /// The close of the open session, else of the next one.
    next_close: String,
}

fn new_york(t: DateTime<Utc>) -> String {
    t.with_timezone(&New_York)
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

/// The NYSE market clock.
#[utoipa::path(get, path = "/v2/clock", tag = TAG,
    responses((status = 200, description = "The clock", body = Clock)),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn clock(
    State(state): State<AppState>,
    _holder: KeyHolder,
) -> Result<Json<Clock>, AlpacaError> {
    let now = state.now();
    let clock = calendar::clock(now);
    Ok(Json(Clock {
        timestamp: new_york(now),
        is_open: clock.is_open,
        next_open: new_york(clock.next_open),
        next_close: new_york(clock.next_close),
    }))
}

/// Which days of the calendar to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CalendarQuery {
    /// First date, `YYYY-MM-DD` (default: January 1 of this year).
    start: Option<String>,
    /// Last date, `YYYY-MM-DD` (default: December 31 of next year; at most 10 years after
    /// `start`).
    end: Option<String>,
}

/// A trading day, as Alpaca's `Calendar`: New York times.
#[derive(Serialize, ToSchema)]
pub(crate) struct CalendarDay {
    /// `YYYY-MM-DD`.
    date: String,
    /// Regular open, `HH:MM`.
    open: String,
    /// Regular close, `HH:MM` (`13:00` on early-close days).
    close: String,
    /// Extended hours open, `HHMM`.
    session_open: String,
    /// Extended hours close, `HHMM`.
    session_close: String,
    /// The next trading day, when trades of this one settle (T+1).
    settlement_date: String,
}

fn date(field: &'static str, text: Option<&str>) -> Result<Option<NaiveDate>, Problem> {
    text.map(|t| {
        // Alpaca's clients send dates; a full timestamp's date part is taken too.
        times::date(field, t.get(..10).unwrap_or(t)).map_err(Problem::invalid)
    })
    .transpose()
}

/// The longest calendar one request lists.
const MAX_CALENDAR_DAYS: u64 = 3_660;

/// The NYSE trading days from `start` to `end`, with their hours.
#[utoipa::path(get, path = "/v2/calendar", tag = TAG,
    params(CalendarQuery),
    responses(
        (status = 200, description = "The trading days, oldest first", body = Vec<CalendarDay>),
        (status = 422, description = "A date is malformed, the range is backwards or longer \
            than 10 years, or it ends too late to settle by 9999-12-31", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn calendar(
    State(state): State<AppState>,
    _holder: KeyHolder,
    V2Query(q): V2Query<CalendarQuery>,
) -> Result<Json<Vec<CalendarDay>>, AlpacaError> {
    let today = state.now().with_timezone(&New_York).date_naive();
    let start = date("start", q.start.as_deref())?
        .or_else(|| NaiveDate::from_ymd_opt(today.year(), 1, 1))
        .unwrap_or(today);
    let end = date("end", q.end.as_deref())?
        .or_else(|| NaiveDate::from_ymd_opt(today.year() + 1, 12, 31))
        .unwrap_or(today);
    if end < start {
        return Err(Problem::invalid_field("end", "must not be before start").into());
    }
    if start.checked_add_days(Days::new(MAX_CALENDAR_DAYS)) < Some(end) {
        return Err(Problem::invalid_field("end", "must be at most 10 years after start").into());
    }
    // Every day listed settles by the trading day after `end`, which must have a 4-digit year.
    if calendar::next_trading_day(end).year() > 9999 {
        return Err(Problem::invalid_field(
            "end",
            "must be early enough that its trades settle by 9999-12-31",
        )
        .into());
    }
    let sessions = calendar::sessions_between(start, end);
    let days = sessions
        .iter()
        .map(|s| {
            let settles = calendar::next_trading_day(s.date);
            let local = |t: DateTime<Utc>, format: &str| {
                t.with_timezone(&New_York).format(format).to_string()
            };
            CalendarDay {
                date: s.date.format("%Y-%m-%d").to_string(),
                open: local(s.open, "%H:%M"),
                close: local(s.close, "%H:%M"),
                session_open: local(s.extended_open, "%H%M"),
                session_close: local(s.extended_close, "%H%M"),
                settlement_date: settles.format("%Y-%m-%d").to_string(),
            }
        })
        .collect();
    Ok(Json(days))
}

use super::AlpacaErrorBody;

/// Which history to rebuild.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// `nD`, `nW`, `nM` or `nA` (default `1M`), ending with `date_end`.
    period: Option<String>,
    /// `1Min`, `5Min`, `15Min`, `1H` or `1D` (default `15Min` up to a week, else `1D`).
    timeframe: Option<String>,
    /// The last New York date, `YYYY-MM-DD` (default today).
    date_end: Option<String>,
    /// Include pre- and after-market hours in intraday points.
    extended_hours: Option<String>,
    /// Not offered: give `period` and `date_end`.
    start: Option<String>,
    /// Not offered: give `period` and `date_end`.
    end: Option<String>,
    /// Accepted for Alpaca's clients; there are no cash flows to report besides the opening cash.
    cashflow_types: Option<String>,
}

impl HistoryQuery {
    /// The query in the use case's terms.
    pub(crate) fn into_query(self) -> Result<portfolio::HistoryQuery, Problem> {
        if self.start.is_some() || self.end.is_some() {
            return Err(Problem::invalid_field(
                "start",
                "give period and date_end instead",
            ));
        }
        let _ = self.cashflow_types;
        Ok(portfolio::HistoryQuery {
            period: self.period,
            timeframe: self.timeframe,
            date_end: date("date_end", self.date_end.as_deref())?,
            extended_hours: super::query_bool("extended_hours", self.extended_hours.as_deref())?,
        })
    }
}

/// The account's equity over time, as Alpaca's `PortfolioHistory`.
#[derive(Serialize, ToSchema)]
pub(crate) struct PortfolioHistory {
    /// Each point's start, in Unix seconds.
    timestamp: Vec<i64>,
    /// The equity at each point's end.
    equity: Vec<f64>,
    /// `equity` less `base_value`.
    profit_loss: Vec<f64>,
    /// `profit_loss` as a fraction of `base_value`.
    profit_loss_pct: Vec<f64>,
    /// The equity at the close before the first point.
    base_value: f64,
    /// The timeframe of the points.
    timeframe: &'static str,
    /// Always empty: no cash moves besides the opening cash.
    #[schema(value_type = Object)]
    cashflow: serde_json::Map<String, serde_json::Value>,
}

/// The key holder's equity over a period, rebuilt from its fills and the stored bars.
#[utoipa::path(get, path = "/v2/account/portfolio/history", tag = TAG,
    params(HistoryQuery),
    responses(
        (status = 200, description = "The history", body = PortfolioHistory),
        (status = 404, description = "The key's owner has no paper account", body = AlpacaErrorBody),
        (status = 422, description = "A parameter is not acceptable, or the period holds too \
            many points of the timeframe", body = AlpacaErrorBody),
    ),
    security(("alpaca_key_id" = [], "alpaca_secret_key" = [])))]
pub(crate) async fn portfolio_history(
    State(state): State<AppState>,
    holder: KeyHolder,
    V2Query(q): V2Query<HistoryQuery>,
) -> Result<Json<PortfolioHistory>, AlpacaError> {
    let query = q.into_query()?;
    let history = portfolio::history(&state, holder.user_id, &query).await?;
    Ok(Json(PortfolioHistory::from(history)))
}

impl From<portfolio::PortfolioHistory> for PortfolioHistory {
    fn from(history: portfolio::PortfolioHistory) -> Self {
        let f = |d: Decimal| d.to_f64().unwrap_or_default();
        let base = history.base_value;
        let mut answer = PortfolioHistory {
            timestamp: Vec::new(),
            equity: Vec::new(),
            profit_loss: Vec::new(),
            profit_loss_pct: Vec::new(),
            base_value: f(base),
            timeframe: history.timeframe,
            cashflow: serde_json::Map::new(),
        };
        for (at, equity) in history.points {
            let pl = equity - base;
            answer.timestamp.push(at.timestamp());
            answer.equity.push(f(equity));
            answer.profit_loss.push(f(pl));
            answer
                .profit_loss_pct
                .push(if base.is_zero() { 0.0 } else { f(pl / base) });
        }
        answer
    }
}
