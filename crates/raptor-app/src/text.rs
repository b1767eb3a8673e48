//! Rules for text that use cases store or search by: trimmed, present, bounded, and free of
//! control characters (PostgreSQL refuses a NUL byte in text that SQLite would store).
//! One-line values are identifiers and also refuse invisible Unicode format characters.

use raptor_domain::text::fits_identifier;
use raptor_domain::InvalidInput;

/// Refuses control characters in free text, but for line breaks and tabs.
fn no_controls(field: &'static str, value: &str) -> Result<(), InvalidInput> {
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(InvalidInput::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A one-line value (a search query, a ticker, an id): at most `max` characters, no control
/// characters and no invisible format (bidi, zero-width) characters.
pub fn single_line<'a>(
    field: &'static str,
    raw: &'a str,
    max: usize,
) -> Result<&'a str, InvalidInput> {
    if raw.chars().count() > max {
        return Err(InvalidInput::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if !raw.chars().all(fits_identifier) {
        return Err(InvalidInput::new(
            field,
            "must not contain control or invisible formatting characters",
        ));
    }
    Ok(raw)
}

/// The text trimmed, if it is 1 to `max` characters long; otherwise an error naming `field`.
/// Line breaks and tabs are kept; other control characters are refused.
pub fn required(field: &'static str, raw: &str, max: usize) -> Result<String, InvalidInput> {
    let value = raw.trim();
    no_controls(field, value)?;
    if value.is_empty() || value.chars().count() > max {
        return Err(InvalidInput::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Optional text trimmed, None when blank; an error naming `field` when longer than `max`.
pub fn optional<'a>(
    field: &'static str,
    raw: Option<&'a str>,
    max: usize,
) -> Result<Option<&'a str>, InvalidInput> {
    let value = raw.map(str::trim).filter(|s| !s.is_empty());
    if let Some(value) = value {
        no_controls(field, value)?;
    }
    if value.is_some_and(|s| s.chars().count() > max) {
        return Err(InvalidInput::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(value)
}

/// A one-line value trimmed, 1 to `max` characters, fit for an identifier (no control or
/// invisible format characters, so no line breaks either).
pub fn required_line(field: &'static str, raw: &str, max: usize) -> Result<String, InvalidInput> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(InvalidInput::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    single_line(field, value, max).map(str::to_owned)
}

/// An optional one-line value trimmed, None when blank; refused like [`required_line`].
pub fn optional_line<'a>(
    field: &'static str,
    raw: Option<&'a str>,
    max: usize,
) -> Result<Option<&'a str>, InvalidInput> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(value) => single_line(field, value, max).map(Some),
        None => Ok(None),
    }
}

/// Refuses a NUL character anywhere in a JSON value, keys included: PostgreSQL's JSONB cannot
/// hold one, so the same document must not be accepted on SQLite either.
pub fn json_without_nul(
    field: &'static str,
    value: &serde_json::Value,
) -> Result<(), InvalidInput> {
    use serde_json::Value;
    let has_nul = |s: &str| s.contains('\0');
    let found = match value {
        Value::String(s) => has_nul(s),
        Value::Array(items) => return items.iter().try_for_each(|v| json_without_nul(field, v)),
        Value::Object(map) => {
            for (key, v) in map {
                if has_nul(key) {
                    return Err(InvalidInput::new(field, "must not contain NUL characters"));
                }
                json_without_nul(field, v)?;
            }
            false
        }
        _ => false,
    };
    if found {
        return Err(InvalidInput::new(field, "must not contain NUL characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_but_free_text_keeps_its_lines() {
        assert_eq!(required("body", "a\nb\tc", 10).as_deref(), Ok("a\nb\tc"));
        assert_eq!(
            required("body", "a\u{0}b", 10).map_err(|e| e.reason),
            Err("must not contain control characters".to_owned())
        );
        assert!(optional("source", Some("x\u{7}"), 10).is_err());
        assert!(single_line("query", "AA\n", 10).is_err());
        assert!(single_line("client_order_id", "a\u{202E}b", 10).is_err());
        assert!(single_line("symbol", "AA\u{200B}PL", 10).is_err());
        assert_eq!(required_line("subject", " Hi ", 10).as_deref(), Ok("Hi"));
        assert!(required_line("subject", "a\nb", 10).is_err());
        assert_eq!(optional_line("source", Some("  "), 10), Ok(None));
        let nested = serde_json::json!({ "a": [1, { "b": "x\u{0}" }] });
        assert!(json_without_nul("details", &nested).is_err());
        assert!(json_without_nul("details", &serde_json::json!({ "k\u{0}": 1 })).is_err());
        assert!(json_without_nul("details", &serde_json::json!({ "a": ["ok"] })).is_ok());
        assert_eq!(single_line("query", "AAPL", 10), Ok("AAPL"));
    }

    #[test]
    fn required_text_is_trimmed_and_bounded_in_characters() {
        assert_eq!(required("body", "  hi \n", 5).as_deref(), Ok("hi"));
        assert_eq!(required("body", "ééééé", 5).as_deref(), Ok("ééééé"));
        let blank = required("body", " \t ", 5).unwrap_err();
        assert_eq!(blank.field, "body");
        assert_eq!(blank.reason, "must be 1 to 5 characters");
        assert!(required("body", "ééééé é", 5).is_err());
    }

    #[test]
    fn optional_text_is_none_when_blank_and_bounded() {
        assert_eq!(optional("query", None, 3), Ok(None));
        assert_eq!(optional("query", Some("   "), 3), Ok(None));
        assert_eq!(optional("query", Some(" ab "), 3), Ok(Some("ab")));
        let long = optional("query", Some("abcd"), 3).unwrap_err();
        assert_eq!(long.field, "query");
        assert_eq!(long.reason, "must be at most 3 characters");
    }
}
