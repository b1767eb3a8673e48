//! Account activities, as Alpaca lists them: every fill (`FILL`) and the cash the account was
//! opened with (`CSD`, a cash deposit), newest first by default, paged by activity id.

use chrono::{DateTime, NaiveDateTime, Utc};
use raptor_domain::InvalidInput;
use raptor_store::trading::{self, Fill, FillPage};
use rust_decimal::Decimal;

use crate::trading::{account_of, OrderError};
use crate::App;

/// Most activities on one page, as Alpaca allows.
pub const MAX_PAGE: i64 = 100;
/// The activity types Raptor records; asking only for others answers nothing.
const RECORDED: [&str; 2] = ["FILL", "CSD"];

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ActivityQuery {
    /// Only these types (comma-separated Alpaca activity types; default all).
    pub activity_types: Option<String>,
    /// Only activities after this time.
    pub after: Option<DateTime<Utc>>,
    /// Only activities until this time.
    pub until: Option<DateTime<Utc>>,
    /// Oldest first instead of newest first.
    pub ascending: bool,
    /// At most this many (1 to 100, default 100).
    pub page_size: Option<i64>,
    /// The id of the last activity of the previous page.
    pub page_token: Option<String>,
}

/// One activity.
#[derive(Debug, Clone)]
pub enum Activity {
    /// An order filled.
    Fill(Fill),
    /// The opening cash.
    Deposit {
        /// The account.
        account_id: i64,
        /// When the account was opened.
        at: DateTime<Utc>,
        /// How much.
        amount: Decimal,
    },
}

impl Activity {
    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Activity::Fill(f) => f.filled_at,
            Activity::Deposit { at, .. } => *at,
        }
    }

    /// Its id: the time to the microsecond, `::`, and which row (`f` a fill, `d` the deposit).
    pub fn id(&self) -> String {
        let (kind, row) = match self {
            Activity::Fill(f) => ('f', f.id),
            Activity::Deposit { account_id, .. } => ('d', *account_id),
        };
        format!("{}::{kind}{row}", self.at().format("%Y%m%d%H%M%S%6f"))
    }
}

/// Where a page resumes.
enum Past {
    Fill(DateTime<Utc>, i64),
    Deposit,
}

fn past(token: &str) -> Result<Past, InvalidInput> {
    let bad = || InvalidInput::new("page_token", "is not an activity id this API gave out");
    let (time, row) = token.trim().split_once("::").ok_or_else(bad)?;
    let at = NaiveDateTime::parse_from_str(time, "%Y%m%d%H%M%S%6f")
        .map_err(|_| bad())?
        .and_utc();
    match row.split_at_checked(1) {
        Some(("f", id)) => Ok(Past::Fill(at, id.parse().map_err(|_| bad())?)),
        Some(("d", _)) => Ok(Past::Deposit),
        _ => Err(bad()),
    }
}

fn wanted(types: Option<&str>) -> Result<(bool, bool), InvalidInput> {
    let Some(types) = types else {
        return Ok((true, true));
    };
    let mut want = (false, false);
    for t in types.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if t.len() > 10 || !t.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(InvalidInput::new(
                "activity_types",
                "must be Alpaca activity types, such as FILL,CSD",
            ));
        }
        want.0 |= t == RECORDED[0];
        want.1 |= t == RECORDED[1];
    }
    Ok(want)
}

/// A page of activities of one account.
#[derive(Debug, Clone)]
pub struct ActivityPage {
    /// The account.
    pub account_id: i64,
    /// Its activities.
    pub activities: Vec<Activity>,
}

/// A page of the user's activities.
pub async fn page(app: &App, user_id: i64, q: &ActivityQuery) -> Result<ActivityPage, OrderError> {
    let (fills, deposit) = wanted(q.activity_types.as_deref())?;
    let limit = q.page_size.unwrap_or(MAX_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(InvalidInput::new("page_size", "must be between 1 and 100").into());
    }
    let past = q.page_token.as_deref().map(past).transpose()?;
    let account = account_of(app, user_id).await?;
    let opened = trading::opened_at(&app.db, account.id).await?;
    let in_window =
        |at: DateTime<Utc>| q.after.is_none_or(|a| at > a) && q.until.is_none_or(|u| at <= u);
    let deposit = (deposit && in_window(opened)).then_some(Activity::Deposit {
        account_id: account.id,
        at: opened,
        amount: account.starting_cash.0,
    });
    let mut page = Vec::new();
    if q.ascending && past.is_none() {
        page.extend(deposit.clone());
    }
    if fills && !matches!(past, Some(Past::Deposit) if !q.ascending) {
        let resume = match past {
            Some(Past::Fill(at, id)) => Some((at, id)),
            _ => None,
        };
        let found = trading::fill_page(
            &app.db,
            account.id,
            FillPage {
                after: q.after,
                until: q.until,
                past: resume,
                ascending: q.ascending,
                limit: limit - page.len() as i64,
            },
        )
        .await?;
        page.extend(found.into_iter().map(Activity::Fill));
    }
    if !q.ascending && (page.len() as i64) < limit && !matches!(past, Some(Past::Deposit)) {
        page.extend(deposit);
    }
    page.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(ActivityPage {
        account_id: account.id,
        activities: page,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_ids_read_back_as_page_tokens() {
        let at = DateTime::parse_from_rfc3339("2026-11-20T14:30:00.123456Z")
            .expect("time")
            .with_timezone(&Utc);
        let deposit = Activity::Deposit {
            account_id: 7,
            at,
            amount: Decimal::ONE,
        };
        assert_eq!(deposit.id(), "20261120143000123456::d7");
        assert!(matches!(past(&deposit.id()), Ok(Past::Deposit)));
        assert!(matches!(past("20261120143000123456::f42"), Ok(Past::Fill(t, 42)) if t == at));
        for bad in [
            "",
            "::",
            "2026::f1",
            "20261120143000123456::x1",
            "20261120143000123456::fz",
        ] {
            assert!(past(bad).is_err(), "{bad}");
        }
        assert_eq!(wanted(Some("FILL")).expect("types"), (true, false));
        assert!(wanted(Some("fill")).is_err());
    }
}
