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
