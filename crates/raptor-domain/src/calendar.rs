//! The US equity (NYSE) market calendar, computed from rules rather than looked up.
//!
//! All session times are New York wall-clock times (America/New_York), converted to UTC, so
//! they are correct on both sides of daylight-saving changes.
//!
//! - Regular session 09:30–16:00 ET; extended hours 04:00–20:00 ET.
//! - Early close at 13:00 ET (extended hours until 17:00 ET) on the day after Thanksgiving, on
//!   Christmas Eve when it is a trading day, and on July 3 when it is a trading day and July 4
//!   falls on a weekday.
//! - Holidays: New Year's Day (Sunday → Monday; a Saturday New Year is not observed on the
//!   Friday before), Martin Luther King Jr. Day (third Monday of January, from 1998),
//!   Washington's Birthday (third Monday of February), Good Friday, Memorial Day (last Monday
//!   of May), Juneteenth (from 2022), Independence Day, Labor Day (first Monday of September),
//!   Thanksgiving (fourth Thursday of November) and Christmas. Juneteenth, Independence Day and
//!   Christmas move to Friday when they fall on a Saturday and to Monday on a Sunday.
//!
//! One-off closures (national days of mourning, weather) are not modelled.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::America::New_York;

/// One trading day's session, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The New York trading date.
    pub date: NaiveDate,
    /// Regular open, 09:30 ET.
    pub open: DateTime<Utc>,
    /// Regular close, 16:00 ET (13:00 ET on early-close days).
    pub close: DateTime<Utc>,
    /// Pre-market open, 04:00 ET.
    pub extended_open: DateTime<Utc>,
    /// After-hours close, 20:00 ET (17:00 ET on early-close days).
    pub extended_close: DateTime<Utc>,
}

impl Session {
    /// Whether `t` falls in the regular session `[open, close)`, or in `[extended_open,
    /// extended_close)` when `extended_hours` is set.
    pub fn contains(&self, t: DateTime<Utc>, extended_hours: bool) -> bool {
        let (start, end) = if extended_hours {
            (self.extended_open, self.extended_close)
        } else {
            (self.open, self.close)
        };
        start <= t && t < end
    }
}

/// Converts a New York wall-clock time to UTC.
///
/// For a time repeated by the autumn DST change the earlier instant is used; a time skipped by
/// the spring change is read as standard time. Neither happens for the times this crate uses
/// (midnight and 04:00–20:00).
pub(crate) fn new_york_to_utc(date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = date.and_time(time);
    match New_York.from_local_datetime(&local).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => Utc.from_utc_datetime(&(local + Duration::hours(5))),
    }
}

fn hm(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN)
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Easter Sunday of `year` (Gregorian), by the anonymous Gregorian (Meeus/Jones/Butcher)
/// algorithm.
fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let y = year;
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let n = h + l - 7 * m + 114;
    let month = u32::try_from(n.div_euclid(31)).ok()?;
    let day = u32::try_from(n.rem_euclid(31) + 1).ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// The weekday a fixed-date holiday is observed on: Saturday → Friday, Sunday → Monday.
fn observed(date: NaiveDate) -> Option<NaiveDate> {
    match date.weekday() {
        Weekday::Sat => date.pred_opt(),
        Weekday::Sun => date.succ_opt(),
        _ => Some(date),
    }
}

fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

fn last_monday_of_may(year: i32) -> Option<NaiveDate> {
    let may31 = NaiveDate::from_ymd_opt(year, 5, 31)?;
    let back = i64::from(may31.weekday().num_days_from_monday());
    may31.checked_sub_signed(Duration::days(back))
}

fn thanksgiving(year: i32) -> Option<NaiveDate> {
    nth_weekday(year, 11, Weekday::Thu, 4)
}

/// The observed NYSE holidays falling in `year` (every observed date lands in its own year:
/// the one rule that could cross years, a Saturday New Year, is not observed).
fn holidays(year: i32) -> [Option<NaiveDate>; 10] {
    let new_year = NaiveDate::from_ymd_opt(year, 1, 1).and_then(|d| match d.weekday() {
        Weekday::Sat => None,
        Weekday::Sun => d.succ_opt(),
        _ => Some(d),
    });
    let mlk = if year >= 1998 {
        nth_weekday(year, 1, Weekday::Mon, 3)
    } else {
        None
    };
    let juneteenth = if year >= 2022 {
        NaiveDate::from_ymd_opt(year, 6, 19).and_then(observed)
    } else {
        None
    };
    [
        new_year,
        mlk,
        nth_weekday(year, 2, Weekday::Mon, 3),
        easter_sunday(year).and_then(|d| d.checked_sub_signed(Duration::days(2))),
        last_monday_of_may(year),
        juneteenth,
        NaiveDate::from_ymd_opt(year, 7, 4).and_then(observed),
        nth_weekday(year, 9, Weekday::Mon, 1),
        thanksgiving(year),
        NaiveDate::from_ymd_opt(year, 12, 25).and_then(observed),
    ]
}

/// Whether the market is closed on `date` for a holiday (as observed; weekends are not
/// holidays in this sense).
pub fn is_holiday(date: NaiveDate) -> bool {
    holidays(date.year()).contains(&Some(date))
}

/// Whether the market has a session on `date`: a weekday that is not a holiday.
pub fn is_trading_day(date: NaiveDate) -> bool {
    !is_weekend(date) && !is_holiday(date)
}

fn is_early_close(date: NaiveDate) -> bool {
    let year = date.year();
    let day_after_thanksgiving = thanksgiving(year).and_then(|d| d.succ_opt());
    if day_after_thanksgiving == Some(date) {
        return true;
    }
    match (date.month(), date.day()) {
        // `session` only asks about trading days, so Christmas Eve here is a weekday session.
        (12, 24) => true,
        (7, 3) => NaiveDate::from_ymd_opt(year, 7, 4).is_some_and(|d| !is_weekend(d)),
        _ => false,
    }
}

/// The session on `date`, or `None` when the market is closed all day.
pub fn session(date: NaiveDate) -> Option<Session> {
    if !is_trading_day(date) {
        return None;
    }
    let (close, extended_close) = if is_early_close(date) {
        (hm(13, 0), hm(17, 0))
    } else {
        (hm(16, 0), hm(20, 0))
    };
    Some(Session {
        date,
        open: new_york_to_utc(date, hm(9, 30)),
        close: new_york_to_utc(date, close),
        extended_open: new_york_to_utc(date, hm(4, 0)),
        extended_close: new_york_to_utc(date, extended_close),
    })
}

/// Every session from `first` to `last` inclusive, oldest first (empty if `first > last`).
pub fn sessions_between(first: NaiveDate, last: NaiveDate) -> Vec<Session> {
    first
        .iter_days()
        .take_while(|d| *d <= last)
        .filter_map(session)
        .collect()
}

/// The `count` most recent sessions whose regular open is at or before `now`, oldest first.
///
/// Before 09:30 ET on a trading day, that day is not yet included. The search looks back at
/// most a bounded number of days (any 7 consecutive days hold at least 4 sessions), so it
/// always terminates.
pub fn last_sessions(now: DateTime<Utc>, count: usize) -> Vec<Session> {
    let max_days = (count / 4).saturating_add(2).saturating_mul(7);
    let mut found = Vec::new();
    let mut day = Some(now.with_timezone(&New_York).date_naive());
    let mut scanned = 0usize;
    while let Some(date) = day {
        if found.len() >= count || scanned > max_days {
            break;
        }
        if let Some(s) = session(date) {
            if s.open <= now {
                found.push(s);
            }
        }
        scanned += 1;
        day = date.pred_opt();
    }
    found.reverse();
    found
}

/// The last trading day strictly before `date` (or `NaiveDate::MIN` if the calendar runs out).
pub fn previous_trading_day(date: NaiveDate) -> NaiveDate {
    let mut day = date.pred_opt();
    while let Some(d) = day {
        if is_trading_day(d) {
            return d;
        }
        day = d.pred_opt();
    }
    NaiveDate::MIN
}

/// The market clock at an instant: whether the regular session is open, and when it next
/// opens and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Whether `now` falls in a regular session.
    pub is_open: bool,
    /// The next regular open after `now`.
    pub next_open: DateTime<Utc>,
    /// The close of the session that is open, else of the next one.
    pub next_close: DateTime<Utc>,
}

/// The market clock at `now`. Any 14 consecutive days hold a session, so the search ends.
pub fn clock(now: DateTime<Utc>) -> Clock {
    let today = now.with_timezone(&New_York).date_naive();
    let mut upcoming = today
        .iter_days()
        .take(15)
        .filter_map(session)
        .filter(|s| s.close > now);
    let current = upcoming.next();
    let is_open = current.is_some_and(|s| s.contains(now, false));
    let next = if is_open { upcoming.next() } else { current };
    // Weekends and holidays never span two weeks, so both sessions exist.
    let fallback = new_york_to_utc(today, hm(9, 30));
    Clock {
        is_open,
        next_open: next.map_or(fallback, |s| s.open),
        next_close: current.map_or(fallback, |s| s.close),
    }
}

/// The first trading day strictly after `date` (or `NaiveDate::MAX` if the calendar runs out).
pub fn next_trading_day(date: NaiveDate) -> NaiveDate {
    let mut day = date.succ_opt();
    while let Some(d) = day {
        if is_trading_day(d) {
            return d;
        }
        day = d.succ_opt();
    }
    NaiveDate::MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn easter_matches_known_dates() {
        assert_eq!(easter_sunday(2019), Some(date(2019, 4, 21)));
        assert_eq!(easter_sunday(2024), Some(date(2024, 3, 31)));
        assert_eq!(easter_sunday(2025), Some(date(2025, 4, 20)));
        assert_eq!(easter_sunday(2026), Some(date(2026, 4, 5)));
        assert_eq!(easter_sunday(2038), Some(date(2038, 4, 25)));
    }

    #[test]
    fn sunday_morning_gives_fridays_winter_session() {
        let sessions = last_sessions(utc(2026, 11, 22, 15, 0), 1);
        assert_eq!(sessions.len(), 1);
        let friday = sessions[0];
        assert_eq!(friday.date, date(2026, 11, 20));
        assert_eq!(friday.open, utc(2026, 11, 20, 14, 30));
        assert_eq!(friday.close, utc(2026, 11, 20, 21, 0));
        assert_eq!(friday.extended_open, utc(2026, 11, 20, 9, 0));
        assert_eq!(friday.extended_close, utc(2026, 11, 21, 1, 0));
    }

    #[test]
    fn summer_sessions_use_daylight_time() {
        let s = session(date(2026, 7, 15)).expect("a Wednesday session");
        assert_eq!(s.open, utc(2026, 7, 15, 13, 30));
        assert_eq!(s.close, utc(2026, 7, 15, 20, 0));
        // The Monday after the March 8, 2026 clock change is already on EDT.
        let after_change = session(date(2026, 3, 9)).expect("a Monday session");
        assert_eq!(after_change.open, utc(2026, 3, 9, 13, 30));
        let before_change = session(date(2026, 3, 6)).expect("a Friday session");
        assert_eq!(before_change.open, utc(2026, 3, 6, 14, 30));
    }

    #[test]
    fn weekends_are_closed_but_not_holidays() {
        assert!(!is_trading_day(date(2026, 11, 21)));
        assert!(!is_holiday(date(2026, 11, 21)));
        assert_eq!(session(date(2026, 11, 22)), None);
    }

    #[test]
    fn good_friday_2026_is_closed() {
        assert!(is_holiday(date(2026, 4, 3)));
        assert_eq!(session(date(2026, 4, 3)), None);
        assert!(is_trading_day(date(2026, 4, 2)));
        assert!(is_trading_day(date(2026, 4, 6)));
    }

    #[test]
    fn thanksgiving_2026_is_closed_and_the_next_day_closes_early() {
        assert!(is_holiday(date(2026, 11, 26)));
        let friday = session(date(2026, 11, 27)).expect("day after Thanksgiving trades");
        assert_eq!(friday.close, utc(2026, 11, 27, 18, 0));
        assert_eq!(friday.extended_close, utc(2026, 11, 27, 22, 0));
    }

    #[test]
    fn juneteenth_on_saturday_2027_is_observed_friday() {
        assert!(is_holiday(date(2027, 6, 18)));
        assert!(!is_holiday(date(2027, 6, 19)));
        // Not a holiday before 2022.
        assert!(is_trading_day(date(2021, 6, 18)));
    }

    #[test]
    fn saturday_new_year_2022_is_not_observed_on_friday() {
        assert!(is_trading_day(date(2021, 12, 31)));
        assert!(is_trading_day(date(2022, 1, 3)));
    }

    #[test]
    fn sunday_new_year_2023_is_observed_monday() {
        assert!(is_holiday(date(2023, 1, 2)));
    }

    #[test]
    fn sunday_christmas_2022_is_observed_monday() {
        assert!(is_holiday(date(2022, 12, 26)));
        assert_eq!(session(date(2022, 12, 26)), None);
    }

    #[test]
    fn saturday_christmas_2027_closes_friday_without_an_early_close() {
        assert!(is_holiday(date(2027, 12, 24)));
        let thursday = session(date(2027, 12, 23)).expect("Thursday trades");
        assert_eq!(thursday.close, utc(2027, 12, 23, 21, 0));
    }

    #[test]
    fn christmas_eve_on_a_weekday_closes_early() {
        let eve = session(date(2026, 12, 24)).expect("Thursday trades");
        assert_eq!(eve.close, utc(2026, 12, 24, 18, 0));
    }

    #[test]
    fn july_third_closes_early_only_when_july_fourth_is_a_weekday() {
        // 2025: July 4 is a Friday, July 3 a short Thursday.
        let short = session(date(2025, 7, 3)).expect("Thursday trades");
        assert_eq!(short.close, utc(2025, 7, 3, 17, 0));
        assert!(is_holiday(date(2025, 7, 4)));
        // 2026: July 4 is a Saturday, so Friday July 3 is the holiday and Thursday is normal.
        assert!(is_holiday(date(2026, 7, 3)));
        let thursday = session(date(2026, 7, 2)).expect("Thursday trades");
        assert_eq!(thursday.close, utc(2026, 7, 2, 20, 0));
    }

    #[test]
    fn monday_holidays_fall_on_the_right_mondays() {
        assert!(is_holiday(date(2026, 1, 19))); // MLK
        assert!(is_holiday(date(2026, 2, 16))); // Washington's Birthday
        assert!(is_holiday(date(2026, 5, 25))); // Memorial Day
        assert!(is_holiday(date(2026, 9, 7))); // Labor Day
        assert!(is_trading_day(date(1997, 1, 20))); // MLK before 1998
    }

    #[test]
    fn session_contains_is_half_open_and_honours_extended_hours() {
        let s = session(date(2026, 7, 15)).expect("a Wednesday session");
        assert!(s.contains(s.open, false));
        assert!(!s.contains(s.close, false));
        assert!(!s.contains(utc(2026, 7, 15, 12, 0), false));
        assert!(s.contains(utc(2026, 7, 15, 12, 0), true));
        assert!(!s.contains(s.extended_close, true));
    }

    #[test]
    fn last_sessions_skips_thanksgiving_week_holiday() {
        // Monday Nov 30 2026, 10:00 EST: today has opened.
        let sessions = last_sessions(utc(2026, 11, 30, 15, 0), 5);
        let dates: Vec<NaiveDate> = sessions.iter().map(|s| s.date).collect();
        assert_eq!(
            dates,
            vec![
                date(2026, 11, 23),
                date(2026, 11, 24),
                date(2026, 11, 25),
                date(2026, 11, 27),
                date(2026, 11, 30),
            ]
        );
    }

    #[test]
    fn last_sessions_excludes_today_before_the_open() {
        // Monday Nov 30 2026, 08:00 EST: pre-market.
        let sessions = last_sessions(utc(2026, 11, 30, 13, 0), 1);
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].date, date(2026, 11, 27));
        // Exactly at the open, today counts.
        let at_open = last_sessions(utc(2026, 11, 30, 14, 30), 1);
        assert_eq!(at_open[0].date, date(2026, 11, 30));
    }

    #[test]
    fn last_sessions_terminates_for_extreme_inputs() {
        assert!(last_sessions(utc(2026, 11, 30, 15, 0), 0).is_empty());
        let near_start = DateTime::<Utc>::MIN_UTC + Duration::days(3);
        assert!(last_sessions(near_start, 10).len() <= 10);
    }

    #[test]
    fn sessions_between_is_inclusive_and_oldest_first() {
        let sessions = sessions_between(date(2026, 12, 24), date(2027, 1, 4));
        let dates: Vec<NaiveDate> = sessions.iter().map(|s| s.date).collect();
        assert_eq!(
            dates,
            vec![
                date(2026, 12, 24),
                date(2026, 12, 28),
                date(2026, 12, 29),
                date(2026, 12, 30),
                date(2026, 12, 31),
                date(2027, 1, 4),
            ]
        );
        assert!(sessions_between(date(2027, 1, 4), date(2026, 12, 24)).is_empty());
    }

    #[test]
    fn previous_trading_day_skips_weekends_and_holidays() {
        assert_eq!(previous_trading_day(date(2026, 11, 30)), date(2026, 11, 27));
        assert_eq!(previous_trading_day(date(2026, 11, 27)), date(2026, 11, 25));
        assert_eq!(previous_trading_day(date(2026, 4, 6)), date(2026, 4, 2));
        assert_eq!(previous_trading_day(date(2026, 7, 15)), date(2026, 7, 14));
    }

    #[test]
    fn the_clock_knows_open_closed_weekends_and_holidays() {
        // Tuesday 2024-07-02 at 10:00 ET (14:00 UTC): open, closes 16:00 ET, next opens Wednesday.
        let open = clock(utc(2024, 7, 2, 14, 0));
        assert!(open.is_open);
        assert_eq!(open.next_close, utc(2024, 7, 2, 20, 0));
        assert_eq!(open.next_open, utc(2024, 7, 3, 13, 30));
        // Wednesday July 3 is an early close (13:00 ET); at 14:00 ET it is closed, and July 4
        // is a holiday, so the next session is Friday July 5.
        let after_early_close = clock(utc(2024, 7, 3, 18, 0));
        assert!(!after_early_close.is_open);
        assert_eq!(after_early_close.next_open, utc(2024, 7, 5, 13, 30));
        assert_eq!(after_early_close.next_close, utc(2024, 7, 5, 20, 0));
        // Saturday: closed until Monday.
        let weekend = clock(utc(2024, 7, 6, 15, 0));
        assert!(!weekend.is_open);
        assert_eq!(weekend.next_open, utc(2024, 7, 8, 13, 30));
        // Before the open on a trading day: that day's session is next.
        let early = clock(utc(2024, 7, 2, 12, 0));
        assert!(!early.is_open);
        assert_eq!(early.next_open, utc(2024, 7, 2, 13, 30));
        assert_eq!(early.next_close, utc(2024, 7, 2, 20, 0));
    }
}
