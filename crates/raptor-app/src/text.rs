//! Rules for free text that use cases store: trimmed, present, bounded.

use raptor_domain::InvalidInput;

/// The text trimmed, if it is 1 to `max` characters long; otherwise an error naming `field`.
pub fn required(field: &'static str, raw: &str, max: usize) -> Result<String, InvalidInput> {
    let value = raw.trim();
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
    if value.is_some_and(|s| s.chars().count() > max) {
        return Err(InvalidInput::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

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
