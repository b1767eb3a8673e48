//! Bar timeframes and chart ranges, and how a moment maps to the bar that contains it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::America::New_York;
use serde::{Deserialize, Serialize};

use crate::calendar::new_york_to_utc;

/// The width of one price bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Timeframe {
    /// One minute.
    #[serde(rename = "1Min")]
    Min1,
    /// Five minutes.
    #[serde(rename = "5Min")]
    Min5,
    /// Fifteen minutes.
    #[serde(rename = "15Min")]
    Min15,
    /// One hour.
    #[serde(rename = "1Hour")]
    Hour1,
    /// One trading day, starting at midnight New York time.
    #[serde(rename = "1Day")]
    Day1,
}

impl Timeframe {
    /// Every timeframe, narrowest first.
    pub const ALL: [Timeframe; 5] = [
        Timeframe::Min1,
        Timeframe::Min5,
        Timeframe::Min15,
        Timeframe::Hour1,
        Timeframe::Day1,
    ];

    /// The wire name: "1Min", "5Min", "15Min", "1Hour" or "1Day".
    pub fn as_str(self) -> &'static str {
        match self {
            Timeframe::Min1 => "1Min",
            Timeframe::Min5 => "5Min",
            Timeframe::Min15 => "15Min",
            Timeframe::Hour1 => "1Hour",
            Timeframe::Day1 => "1Day",
        }
    }

    /// The nominal width of a bar (a day is 24 hours, ignoring DST-length days).
    pub fn duration(self) -> Duration {
        Duration::minutes(self.minutes())
    }

    /// How many bars of this width a year of regular sessions holds (252 days of 6.5 hours),
    /// for annualising per-bar statistics.
    pub fn periods_per_year(self) -> f64 {
        const DAYS: f64 = 252.0;
        match self {
            Timeframe::Min1 => DAYS * 390.0,
            Timeframe::Min5 => DAYS * 78.0,
            Timeframe::Min15 => DAYS * 26.0,
            Timeframe::Hour1 => DAYS * 6.5,
            Timeframe::Day1 => DAYS,
        }
    }

    fn minutes(self) -> i64 {
        match self {
            Timeframe::Min1 => 1,
            Timeframe::Min5 => 5,
            Timeframe::Min15 => 15,
            Timeframe::Hour1 => 60,
            Timeframe::Day1 => 24 * 60,
        }
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A timeframe name that is not one of [`Timeframe::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown timeframe '{0}'; accepted: 1Min, 5Min, 15Min, 1Hour, 1Day")]
pub struct UnknownTimeframe(pub String);

impl FromStr for Timeframe {
    type Err = UnknownTimeframe;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timeframe::ALL
            .into_iter()
            .find(|tf| tf.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownTimeframe(s.to_owned()))
    }
}

/// What the store decodes a stored timeframe through.
impl TryFrom<String> for Timeframe {
    type Error = UnknownTimeframe;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A chart range: how far back a price chart reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Range {
    /// One day.
    #[serde(rename = "1d")]
    D1,
    /// Five days.
    #[serde(rename = "5d")]
    D5,
    /// One month.
    #[serde(rename = "1m")]
    M1,
    /// Three months.
    #[serde(rename = "3m")]
    M3,
    /// Six months.
    #[serde(rename = "6m")]
    M6,
    /// One year.
    #[serde(rename = "1y")]
    Y1,
    /// Five years.
    #[serde(rename = "5y")]
    Y5,
}

impl Range {
    /// Every range, shortest first.
    pub const ALL: [Range; 7] = [
        Range::D1,
        Range::D5,
        Range::M1,
        Range::M3,
        Range::M6,
        Range::Y1,
        Range::Y5,
    ];

    /// The wire name: "1d", "5d", "1m", "3m", "6m", "1y" or "5y".
    pub fn as_str(self) -> &'static str {
        match self {
            Range::D1 => "1d",
            Range::D5 => "5d",
            Range::M1 => "1m",
            Range::M3 => "3m",
            Range::M6 => "6m",
            Range::Y1 => "1y",
            Range::Y5 => "5y",
        }
    }

    /// The bar width a chart of this range uses unless the client asks otherwise.
    pub fn default_timeframe(self) -> Timeframe {
        match self {
            Range::D1 => Timeframe::Min1,
            Range::D5 => Timeframe::Min5,
            Range::M1 => Timeframe::Hour1,
            Range::M3 | Range::M6 | Range::Y1 | Range::Y5 => Timeframe::Day1,
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A range name that is not one of [`Range::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown range '{0}'; accepted: 1d, 5d, 1m, 3m, 6m, 1y, 5y")]
pub struct UnknownRange(pub String);

impl FromStr for Range {
    type Err = UnknownRange;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Range::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownRange(s.to_owned()))
    }
}

/// The start of the `tf` bar that contains `t`.
///
/// Intraday bars are aligned to whole multiples of their width since the Unix epoch (New York
/// is a whole number of hours from UTC, so they also align with New York's clock). A daily bar
/// starts at midnight New York time of `t`'s New York date.
pub fn bucket_start(t: DateTime<Utc>, tf: Timeframe) -> DateTime<Utc> {
    match tf {
        Timeframe::Day1 => {
            let date = t.with_timezone(&New_York).date_naive();
            new_york_to_utc(date, NaiveTime::MIN)
        }
        _ => {
            let step = tf.minutes() * 60;
            let secs = t.timestamp();
            DateTime::from_timestamp(secs - secs.rem_euclid(step), 0).unwrap_or(t)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde::de::value::{Error as DeError, StrDeserializer};
    use serde::de::IntoDeserializer;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid time")
    }

    #[test]
    fn timeframes_round_trip_through_their_names_case_insensitively() {
        for tf in Timeframe::ALL {
            assert_eq!(tf.as_str().parse::<Timeframe>(), Ok(tf));
            assert_eq!(tf.as_str().to_uppercase().parse::<Timeframe>(), Ok(tf));
        }
        assert_eq!("1hour".parse::<Timeframe>(), Ok(Timeframe::Hour1));
    }

    #[test]
    fn unknown_timeframe_lists_the_accepted_values() {
        let err = "2Min"
            .parse::<Timeframe>()
            .expect_err("2Min is not a timeframe");
        assert_eq!(
            err.to_string(),
            "unknown timeframe '2Min'; accepted: 1Min, 5Min, 15Min, 1Hour, 1Day"
        );
    }

    #[test]
    fn timeframes_deserialize_from_their_wire_names() {
        let de: StrDeserializer<'_, DeError> = "15Min".into_deserializer();
        assert_eq!(Timeframe::deserialize(de), Ok(Timeframe::Min15));
    }

    #[test]
    fn ranges_round_trip_and_reject_unknown_names() {
        for r in Range::ALL {
            assert_eq!(r.as_str().parse::<Range>(), Ok(r));
        }
        assert_eq!("1Y".parse::<Range>(), Ok(Range::Y1));
        let err = "2y".parse::<Range>().expect_err("2y is not a range");
        assert_eq!(
            err.to_string(),
            "unknown range '2y'; accepted: 1d, 5d, 1m, 3m, 6m, 1y, 5y"
        );
    }

    #[test]
    fn ranges_pick_their_default_timeframes() {
        assert_eq!(Range::D1.default_timeframe(), Timeframe::Min1);
        assert_eq!(Range::D5.default_timeframe(), Timeframe::Min5);
        assert_eq!(Range::M1.default_timeframe(), Timeframe::Hour1);
        assert_eq!(Range::M3.default_timeframe(), Timeframe::Day1);
        assert_eq!(Range::Y5.default_timeframe(), Timeframe::Day1);
    }

    #[test]
    fn durations_and_periods_per_year_match_the_bar_width() {
        assert_eq!(Timeframe::Min15.duration(), Duration::minutes(15));
        assert_eq!(Timeframe::Day1.duration(), Duration::days(1));
        assert_eq!(Timeframe::Day1.periods_per_year(), 252.0);
        assert_eq!(Timeframe::Hour1.periods_per_year(), 1638.0);
        assert_eq!(Timeframe::Min15.periods_per_year(), 6552.0);
        assert_eq!(Timeframe::Min5.periods_per_year(), 19656.0);
        assert_eq!(Timeframe::Min1.periods_per_year(), 98280.0);
    }

    #[test]
    fn intraday_buckets_floor_to_the_bar_width() {
        let t = utc(2026, 7, 15, 13, 47, 31);
        assert_eq!(
            bucket_start(t, Timeframe::Min1),
            utc(2026, 7, 15, 13, 47, 0)
        );
        assert_eq!(
            bucket_start(t, Timeframe::Min5),
            utc(2026, 7, 15, 13, 45, 0)
        );
        assert_eq!(
            bucket_start(t, Timeframe::Min15),
            utc(2026, 7, 15, 13, 45, 0)
        );
        assert_eq!(
            bucket_start(t, Timeframe::Hour1),
            utc(2026, 7, 15, 13, 0, 0)
        );
        let on_edge = utc(2026, 7, 15, 13, 45, 0);
        assert_eq!(bucket_start(on_edge, Timeframe::Min15), on_edge);
    }

    #[test]
    fn daily_buckets_start_at_new_york_midnight_in_both_seasons() {
        // Summer (EDT, UTC-4): 02:00Z on July 16 is still July 15 in New York.
        let summer = utc(2026, 7, 16, 2, 0, 0);
        assert_eq!(
            bucket_start(summer, Timeframe::Day1),
            utc(2026, 7, 15, 4, 0, 0)
        );
        // Winter (EST, UTC-5).
        let winter = utc(2026, 11, 20, 15, 0, 0);
        assert_eq!(
            bucket_start(winter, Timeframe::Day1),
            utc(2026, 11, 20, 5, 0, 0)
        );
    }
}
