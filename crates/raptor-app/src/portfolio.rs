//! Portfolio history: the account's equity over past sessions, as Alpaca's portfolio history
//! reports it, rebuilt from the fills and the stored bars (nothing is snapshotted).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use chrono_tz::America::New_York;
use raptor_domain::calendar::{self, Session};
use raptor_domain::orders::Side;
use raptor_domain::InvalidInput;
use raptor_store::{market, trading};
use rust_decimal::Decimal;

use crate::trading::{account_of, price, OrderError};
use crate::App;

/// Most points one history answers.
pub const MAX_POINTS: usize = 2_000;

/// What history to rebuild, as the client wrote it.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// `nD`, `nW`, `nM` or `nA` (default `1M`).
    pub period: Option<String>,
    /// `1Min`, `5Min`, `15Min`, `1H` or `1D` (default `15Min` up to a week, else `1D`).
    pub timeframe: Option<String>,
    /// The last New York date (default today).
    pub date_end: Option<NaiveDate>,
    /// Include pre- and after-market hours (intraday timeframes).
    pub extended_hours: bool,
}

/// The rebuilt history.
#[derive(Debug, Clone)]
pub struct PortfolioHistory {
    /// Each point's start and the equity at its end.
    pub points: Vec<(DateTime<Utc>, Decimal)>,
    /// The equity at the close before the first point.
    pub base_value: Decimal,
    /// The timeframe used.
    pub timeframe: &'static str,
}

/// A period: how far back from the last session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Days(u32),
    Months(u32),
}

fn period(raw: &str) -> Result<Period, InvalidInput> {
    let bad = || InvalidInput::new("period", "must be a number and D, W, M or A, such as 1M");
    let (digits, unit) = raw
        .split_at_checked(raw.len().saturating_sub(1))
        .ok_or_else(bad)?;
    let n: u32 = digits.parse().map_err(|_| bad())?;
    let period = match unit {
        "D" => Period::Days(n),
        "W" => Period::Days(n.saturating_mul(7)),
        "M" => Period::Months(n),
        "A" => Period::Months(n.saturating_mul(12)),
        _ => return Err(bad()),
    };
    let too_long = match period {
        Period::Days(d) => d > 366 * 5,
        Period::Months(m) => m > 60,
    };
    if n == 0 || too_long {
        return Err(InvalidInput::new(
            "period",
            "must be from one day to five years",
        ));
    }
    Ok(period)
}

/// A timeframe's wire name and step (None: a session).
fn timeframe(raw: &str) -> Result<(&'static str, Option<Duration>), InvalidInput> {
    Ok(match raw {
        "1Min" => ("1Min", Some(Duration::minutes(1))),
        "5Min" => ("5Min", Some(Duration::minutes(5))),
        "15Min" => ("15Min", Some(Duration::minutes(15))),
        "1H" => ("1H", Some(Duration::hours(1))),
        "1D" => ("1D", None),
        _ => {
            return Err(InvalidInput::new(
                "timeframe",
                "must be one of 1Min, 5Min, 15Min, 1H, 1D",
            ))
        }
    })
}

/// The sessions a period covers, ending with the last one on or before `end`.
fn sessions(period: Period, end: NaiveDate) -> Vec<Session> {
    let first = match period {
        Period::Days(d) => end - Duration::days(i64::from(d) - 1),
        Period::Months(m) => end
            .checked_sub_months(Months::new(m))
            .and_then(|d| d.succ_opt())
            .unwrap_or(end),
    };
    let sessions = calendar::sessions_between(first, end);
    if sessions.is_empty() {
        // A period of days that holds no session (a weekend): the last one before it.
        calendar::session(calendar::previous_trading_day(first))
            .into_iter()
            .collect()
    } else {
        sessions
    }
}

/// Each point's start and end.
fn points(
    sessions: &[Session],
    step: Option<Duration>,
    extended: bool,
    now: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut points = Vec::new();
    for s in sessions {
        let Some(step) = step else {
            points.push((s.open, s.close));
            continue;
        };
        let (mut at, close) = if extended {
            (s.extended_open, s.extended_close)
        } else {
            (s.open, s.close)
        };
        while at < close && at < now && points.len() <= MAX_POINTS {
            points.push((at, (at + step).min(close)));
            at += step;
        }
    }
    points.retain(|(start, _)| *start < now);
    points
}

/// The user's equity over a period.
pub async fn history(
    app: &App,
    user_id: i64,
    q: &HistoryQuery,
) -> Result<PortfolioHistory, OrderError> {
    let period = period(q.period.as_deref().unwrap_or("1M"))?;
    let short = matches!(period, Period::Days(d) if d <= 7);
    let (name, step) =
        timeframe(
            q.timeframe
                .as_deref()
                .unwrap_or(if short { "15Min" } else { "1D" }),
        )?;
    let now = app.now();
    let end = q
        .date_end
        .unwrap_or_else(|| now.with_timezone(&New_York).date_naive());
    let sessions = sessions(period, end);
    let points = points(&sessions, step, q.extended_hours, now);
    if points.len() > MAX_POINTS {
        return Err(InvalidInput::new(
            "timeframe",
            format!("the period holds more than {MAX_POINTS} points of it; pick a coarser one"),
        )
        .into());
    }
    let account = account_of(app, user_id).await?;
    let base_at = sessions
        .first()
        .map(|s| {
            calendar::session(calendar::previous_trading_day(s.date)).map_or(s.open, |p| p.close)
        })
        .unwrap_or(now);
    // Every fill: none predates the Unix epoch (PostgreSQL refuses chrono's own minimum).
    let fills = trading::fills_after(&app.db, account.id, DateTime::UNIX_EPOCH).await?;
    let mut book = Book::new(account.starting_cash.0, fills);
    let base_value = book.equity_at(app, base_at).await?;
    let mut answer = Vec::with_capacity(points.len());
    for (start, end) in points {
        answer.push((start, book.equity_at(app, end.min(now)).await?));
    }
    Ok(PortfolioHistory {
        points: answer,
        base_value,
        timeframe: name,
    })
}

/// Cash and holdings as the account's fills, oldest first, are replayed.
struct Book {
    cash: Decimal,
    /// Quantity held and the last fill's price, by symbol.
    held: BTreeMap<String, (Decimal, Decimal)>,
    fills: std::vec::IntoIter<trading::Fill>,
    pending: Option<trading::Fill>,
}

impl Book {
    fn new(cash: Decimal, fills: Vec<trading::Fill>) -> Self {
        let mut fills = fills.into_iter();
        let pending = fills.next();
        Self {
            cash,
            held: BTreeMap::new(),
            fills,
            pending,
        }
    }

    /// The equity at `at`: every fill before it applied, holdings valued then. Times must not
    /// go back.
    async fn equity_at(&mut self, app: &App, at: DateTime<Utc>) -> Result<Decimal, OrderError> {
        while let Some(fill) = self.pending.take_if(|f| f.filled_at < at) {
            self.apply(&fill);
            self.pending = self.fills.next();
        }
        self.value(app, at).await
    }

    fn apply(&mut self, fill: &trading::Fill) {
        let amount = crate::trading::round(fill.qty.0 * fill.price.0);
        let (qty, last) = self
            .held
            .entry(fill.symbol.clone())
            .or_insert((Decimal::ZERO, fill.price.0));
        *last = fill.price.0;
        match fill.side {
            Side::Buy => {
                self.cash -= amount;
                *qty += fill.qty.0;
            }
            Side::Sell => {
                self.cash += amount;
                *qty -= fill.qty.0;
            }
        }
    }

    /// Cash plus what is held at the last price before `at` (else the last fill's price).
    async fn value(&self, app: &App, at: DateTime<Utc>) -> Result<Decimal, OrderError> {
        let mut equity = self.cash;
        for (symbol, (qty, last)) in &self.held {
            if qty.is_zero() {
                continue;
            }
            let then = market::latest_bar_before(&app.db, symbol, Some(at))
                .await?
                .map_or(*last, |b| price(b.close));
            equity += *qty * then;
        }
        Ok(crate::trading::round(equity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_timeframes_are_alpacas() {
        assert_eq!(period("1D").expect("1D"), Period::Days(1));
        assert_eq!(period("2W").expect("2W"), Period::Days(14));
        assert_eq!(period("3M").expect("3M"), Period::Months(3));
        assert_eq!(period("1A").expect("1A"), Period::Months(12));
        for bad in ["", "D", "0D", "1Y", "61M", "-1D", "1.5M", "99999999999D"] {
            assert!(period(bad).is_err(), "{bad}");
        }
        assert!(timeframe("1Hour").is_err());
        assert_eq!(timeframe("1H").expect("1H").0, "1H");
    }
}
