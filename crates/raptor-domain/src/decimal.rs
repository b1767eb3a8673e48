//! Decimals read from what clients write: exactly as written, or not at all. `rust_decimal`'s
//! own parser reads `1_000` as 1000 and rounds a 29th significant digit away, and an amount of
//! money or shares must not change on its way in.

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, Deserialize, Deserializer, Unexpected, Visitor};

/// `text` as a decimal when it is one exactly: digits with an optional sign and point, or
/// scientific notation (`1e3`); no separators, nothing rounded.
pub fn exact(text: &str) -> Option<Decimal> {
    if text.contains('_') {
        return None;
    }
    match text.split_once(['e', 'E']) {
        // `from_scientific` reads the digits before the exponent as `from_str` does, rounding.
        Some((digits, _)) => Decimal::from_str_exact(digits)
            .ok()
            .and_then(|_| Decimal::from_scientific(text).ok()),
        None => Decimal::from_str_exact(text).ok(),
    }
}

/// A decimal field of a request body, read as [`exact`] reads text. A JSON number arrives as
/// serde_json reads it, a binary float, and is taken in that float's shortest decimal form:
/// clients that need every digit send a string. For `#[serde(deserialize_with = …)]`.
pub fn required<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    Exact::deserialize(deserializer).map(|Exact(d)| d)
}

/// [`required`] for an optional field (with `#[serde(default)]`).
pub fn optional<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Decimal>, D::Error> {
    Option::<Exact>::deserialize(deserializer).map(|d| d.map(|Exact(d)| d))
}

struct Exact(Decimal);

impl<'de> Deserialize<'de> for Exact {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ExactVisitor).map(Exact)
    }
}

struct ExactVisitor;

impl Visitor<'_> for ExactVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a decimal number of at most 28 digits, such as \"100.25\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Decimal, E> {
        exact(text.trim()).ok_or_else(|| E::invalid_value(Unexpected::Str(text), &self))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(n))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Decimal, E> {
        exact(&n.to_string()).ok_or_else(|| E::invalid_value(Unexpected::Float(n), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_decimals_written_exactly_are_read() {
        let read = |t: &str| exact(t).map(|d| d.to_string());
        assert_eq!(read("100.25").as_deref(), Some("100.25"));
        assert_eq!(read("-0.5").as_deref(), Some("-0.5"));
        assert_eq!(read("1e3").as_deref(), Some("1000"));
        for refused in [
            "1_000",
            "1__0",
            "0_._1",
            "0.99999999999999999999999999999",
            "0.99999999999999999999999999999e0",
            "1.000000000000000000000000000001",
            "NaN",
            "",
            "ten",
        ] {
            assert_eq!(read(refused), None, "{refused}");
        }
    }

    #[test]
    fn fields_take_strings_and_numbers_and_refuse_what_is_not_exact() {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(deserialize_with = "required")]
            amount: Decimal,
            #[serde(default, deserialize_with = "optional")]
            cash: Option<Decimal>,
        }
        let body = |json: &str| serde_json::from_str::<Body>(json).map(|b| (b.amount, b.cash));
        let (amount, cash) = body(r#"{"amount": "12.5", "cash": 7}"#).expect("read");
        assert_eq!(
            (amount.to_string(), cash),
            ("12.5".into(), Some(Decimal::from(7)))
        );
        assert_eq!(
            body(r#"{"amount": 0.25}"#).expect("read").0.to_string(),
            "0.25"
        );
        assert_eq!(
            body(r#"{"amount": "1", "cash": null}"#).expect("read").1,
            None
        );
        for refused in [
            r#"{"amount": "1_0"}"#,
            r#"{"amount": "1", "cash": "5_0"}"#,
            r#"{"amount": 1e300}"#,
        ] {
            let err = body(refused)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("decimal number"), "{refused}: {err}");
        }
    }
}
