//! Rules for times that use cases take from requests and store or search by. JSON and query
//! strings may carry years far outside what RFC 3339 writes (`+262142-…`, `-5000-…`); SQLite
//! compares them as text, and PostgreSQL refuses them ("timestamp out of range").

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, SubsecRound, Timelike, Utc};
use raptor_domain::InvalidInput;
use serde::{Deserialize, Deserializer};

/// Years a time may fall in: the four digits of RFC 3339, which both databases store.
const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// `t`, when its year has four digits; else a problem naming `field`.
pub fn storable(field: &'static str, t: DateTime<Utc>) -> Result<DateTime<Utc>, InvalidInput> {
    if YEARS.contains(&t.year()) {
        Ok(t)
    } else {
        Err(InvalidInput::new(
            field,
            "must be a time in the years 0001 to 9999",
        ))
    }
}

/// `t` as both databases store it: to the microsecond, a leap second (`23:59:60`) as the
/// next minute's first, as PostgreSQL reads one. The last second chrono holds stays a leap
/// second, for [`storable`] to refuse.
pub fn stored_form(t: DateTime<Utc>) -> DateTime<Utc> {
    let t = t.trunc_subsecs(6);
    let folded = t
        .nanosecond()
        .checked_sub(1_000_000_000)
        .and_then(|within| t.with_nanosecond(within))
        .and_then(|t| t.checked_add_signed(Duration::seconds(1)));
    folded.unwrap_or(t)
}

/// A time field of a request body, in [`stored_form`]: what is answered is what is stored.
/// For `#[serde(deserialize_with = …)]`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    DateTime::<Utc>::deserialize(deserializer).map(stored_form)
}

/// [`deserialize`] for an optional field (with `#[serde(default)]`).
pub fn deserialize_optional<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<DateTime<Utc>>::deserialize(deserializer).map(|t| t.map(stored_form))
}

/// A date written `YYYY-MM-DD`, in the years 0001 to 9999.
pub fn date(field: &'static str, raw: &str) -> Result<NaiveDate, InvalidInput> {
    let day =
        written_date(raw).ok_or_else(|| InvalidInput::new(field, "must be a date, YYYY-MM-DD"))?;
    if YEARS.contains(&day.year()) {
        Ok(day)
    } else {
        Err(InvalidInput::new(
            field,
            "must be a date in the years 0001 to 9999",
        ))
    }
}

/// A time in a query string: RFC 3339 (a `+` that form decoding read as a space put back), or
/// a date meaning its midnight UTC; in the years 0001 to 9999 either way, and in
/// [`stored_form`], so that it compares with stored times alike on both databases.
pub fn query_time(field: &'static str, raw: &str) -> Result<DateTime<Utc>, InvalidInput> {
    let raw = raw.trim().replace(' ', "+");
    let t = match DateTime::parse_from_rfc3339(&raw) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => written_date(&raw)
            .ok_or_else(|| InvalidInput::new(field, "must be an RFC 3339 time or a date"))?
            .and_time(NaiveTime::MIN)
            .and_utc(),
    };
    storable(field, stored_form(t))
}

/// `raw` as a date when it is written `YYYY-MM-DD`: four digits of year, two of month and day.
fn written_date(raw: &str) -> Option<NaiveDate> {
    let shaped = raw.len() == 10
        && raw.bytes().enumerate().all(|(at, b)| match at {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    shaped
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_times_are_rfc_3339_or_dates_with_four_digit_years() {
        let noon: DateTime<Utc> = "2026-03-02T12:00:00Z".parse().expect("time");
        assert_eq!(query_time("t", "2026-03-02T12:00:00Z").ok(), Some(noon));
        assert_eq!(
            query_time("t", "2026-03-02T17:00:00 05:00").ok(),
            Some(noon)
        );
        assert_eq!(
            query_time("t", "2026-03-02").ok(),
            "2026-03-02T00:00:00Z".parse().ok()
        );
        // To the microsecond, as both databases keep stored times.
        assert_eq!(
            query_time("t", "2026-03-02T12:00:00.123456789Z").ok(),
            "2026-03-02T12:00:00.123456Z".parse().ok()
        );
        for refused in [
            "-5000-01-01",
            "+10000-01-01",
            "0000-06-01",
            "0001-01-01T00:00:00+01:00",
            "2026-3-2",
            "tomorrow",
        ] {
            let err = query_time("after", refused).expect_err(refused);
            assert_eq!(err.field, "after", "{refused}");
        }
    }

    #[test]
    fn times_are_kept_to_the_microsecond_and_leap_seconds_as_the_next_minute() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().expect("time");
        assert_eq!(
            stored_form(at("2026-12-02T00:00:00.123456789Z")),
            at("2026-12-02T00:00:00.123456Z")
        );
        assert_eq!(
            stored_form(at("2016-12-31T23:59:60Z")),
            at("2017-01-01T00:00:00Z")
        );
        // chrono's last second has no next one: kept, and refused as no year 0001-9999.
        let last = at("+262142-12-31T23:59:60Z");
        assert_eq!(stored_form(last), last);
        assert!(storable("end", stored_form(last)).is_err());
        assert_eq!(
            stored_form(at("2016-12-31T23:59:60.5Z")),
            at("2017-01-01T00:00:00.5Z")
        );
    }

    #[test]
    fn dates_have_four_digit_years_and_two_digit_months_and_days() {
        assert_eq!(
            date("d", "0001-01-01").ok(),
            NaiveDate::from_ymd_opt(1, 1, 1)
        );
        assert_eq!(
            date("d", "9999-12-31").ok(),
            NaiveDate::from_ymd_opt(9999, 12, 31)
        );
        for refused in [
            "0000-01-01",
            "-5000-01-01",
            "+10000-01-01",
            "2026-02-30",
            "2026-1-05",
        ] {
            assert!(date("d", refused).is_err(), "{refused}");
        }
    }
}
