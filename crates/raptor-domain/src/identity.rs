//! Who a user is: a normalised email address and a display name.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Input that breaks a rule; the message names the rule, for a 4xx body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidInput {
    /// The field at fault.
    pub field: &'static str,
    /// Which rule it broke.
    pub reason: String,
}

impl InvalidInput {
    /// The field at fault and the rule it broke.
    pub fn new(field: &'static str, reason: impl std::fmt::Display) -> Self {
        Self {
            field,
            reason: reason.to_string(),
        }
    }
}

/// An email address, trimmed and lower-cased so one person has one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Validates the shape (one `@`, a dotted domain, at most 254 characters).
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let invalid = |reason: &str| InvalidInput::new("email", reason);
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if email.len() > 254 {
            return Err(invalid("must be at most 254 characters"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(invalid("must contain an @"));
        };
        let well_formed = !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email
                .chars()
                .any(|c| c.is_whitespace() || !crate::text::fits_identifier(c));
        if !well_formed {
            return Err(invalid("is not an email address"));
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A name shown to people: 1 to 100 characters, no control or invisible format characters,
/// trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// Validates a display name; `field` names it in the error (`display_name`, `name`).
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, InvalidInput> {
        let name = raw.trim();
        let invalid = |reason: &str| InvalidInput::new(field, reason);
        if name.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if name.chars().count() > 100 {
            return Err(invalid("must be at most 100 characters"));
        }
        if !name.chars().all(crate::text::fits_identifier) {
            return Err(invalid(
                "must not contain control or invisible formatting characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let email = Email::parse("  Ada.Lovelace@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
    }

    #[test]
    fn malformed_emails_name_the_rule_they_break() {
        for (raw, reason) in [
            ("", "must not be empty"),
            ("ada.example.com", "must contain an @"),
            ("ada@localhost", "is not an email address"),
            ("@example.com", "is not an email address"),
            ("a@b@example.com", "is not an email address"),
            ("ada lovelace@example.com", "is not an email address"),
        ] {
            let err = Email::parse(raw).expect_err(raw);
            assert_eq!((err.field, err.reason.as_str()), ("email", reason), "{raw}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn display_names_are_bounded() {
        assert_eq!(
            DisplayName::parse("display_name", " Ada ")
                .expect("ok")
                .as_str(),
            "Ada"
        );
        assert!(DisplayName::parse("display_name", "   ").is_err());
        assert!(DisplayName::parse("display_name", &"x".repeat(101)).is_err());
        assert!(DisplayName::parse("display_name", "a\u{7}b").is_err());
    }
}

/// Whether an account may sign in: staff suspend and reinstate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// May sign in.
    Active,
    /// Refused at sign-in; its sessions were revoked.
    Suspended,
}

impl UserStatus {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Suspended => "suspended",
        }
    }
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored user status that is neither `active` nor `suspended`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown user status '{0}'")]
pub struct UnknownUserStatus(pub String);

/// What the store decodes a stored status through.
impl TryFrom<String> for UserStatus {
    type Error = UnknownUserStatus;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "active" => Ok(UserStatus::Active),
            "suspended" => Ok(UserStatus::Suspended),
            _ => Err(UnknownUserStatus(s)),
        }
    }
}
