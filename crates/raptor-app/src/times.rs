//! Rules for times that use cases take from requests and store or search by. JSON may carry
//! years far outside what RFC 3339 writes (`+262142-…`); SQLite compares them as text, and
//! PostgreSQL refuses them ("timestamp out of range").

use chrono::{DateTime, Datelike, Utc};
use raptor_domain::InvalidInput;

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
