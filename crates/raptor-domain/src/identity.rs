//! Who a user is: a normalised email address and a display name.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::text::nfkc;

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

/// An email address in one spelling, so one person has one account: trimmed, in Unicode
/// NFKC, lower-cased, with its domain in ASCII (IDNA, so `bücher.de` and `xn--bcher-kva.de`
/// are one domain).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

/// Longest address, in characters once normalised.
const MAX_EMAIL: usize = 254;

/// Longest input looked at: a bound on the work normalising does.
const MAX_EMAIL_INPUT: usize = 4 * MAX_EMAIL;

impl Email {
    /// Normalises and validates an address: no control or invisible format characters (bidi
    /// controls, zero-width characters), one `@`, a dotted domain that is a valid
    /// internationalised domain name, at most 254 characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let invalid = |reason: &str| InvalidInput::new("email", reason);
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if raw.len() > MAX_EMAIL_INPUT {
            return Err(invalid("must be at most 254 characters"));
        }
        if !raw.chars().all(crate::text::fits_identifier) {
            return Err(invalid(
                "must not contain control or invisible formatting characters",
            ));
        }
        // Lower-casing can leave text that NFKC would change again, so normalise once more.
        let email = nfkc(&nfkc(raw).to_lowercase());
        let Some((local, domain)) = email.split_once('@') else {
            return Err(invalid("must contain an @"));
        };
        if local.is_empty() || domain.contains('@') || email.chars().any(char::is_whitespace) {
            return Err(invalid("is not an email address"));
        }
        let domain = idna::domain_to_ascii_strict(domain).map_err(|_| {
            invalid("has a domain that is not a valid (internationalised) domain name")
        })?;
        if !domain.contains('.') {
            return Err(invalid("is not an email address"));
        }
        let email = format!("{local}@{domain}");
        if email.chars().count() > MAX_EMAIL {
            return Err(invalid("must be at most 254 characters"));
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

/// A name shown to people: trimmed, in Unicode NFKC, 1 to 100 characters, no control or
/// invisible format characters (bidi controls, zero-width characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// Validates a display name; `field` names it in the error (`display_name`, `name`).
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, InvalidInput> {
        let invalid = |reason: &str| InvalidInput::new(field, reason);
        let raw = raw.trim();
        // Checked before normalising (which is bounded by it); NFKC rarely lengthens a name.
        if raw.chars().count() > 100 {
            return Err(invalid("must be at most 100 characters"));
        }
        if !raw.chars().all(crate::text::fits_identifier) {
            return Err(invalid(
                "must not contain control or invisible formatting characters",
            ));
        }
        let name = nfkc(raw);
        let name = name.trim();
        if name.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if name.chars().count() > 100 {
            return Err(invalid("must be at most 100 characters"));
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

    #[test]
    fn emails_are_one_spelling_whatever_the_unicode_form_of_the_domain() {
        let unicode = Email::parse("User@Bücher.DE").expect("valid");
        let ascii = Email::parse("user@xn--bcher-kva.de").expect("valid");
        let decomposed = Email::parse("user@bu\u{308}cher.de").expect("valid");
        let full_width = Email::parse("ｕｓｅｒ＠ｂüｃｈｅｒ．ｄｅ").expect("valid");
        for email in [&unicode, &decomposed, &full_width] {
            assert_eq!(email, &ascii);
        }
        assert_eq!(ascii.as_str(), "user@xn--bcher-kva.de");
        // The local part keeps its letters, in one form.
        assert_eq!(
            Email::parse("Jose\u{301}@example.com")
                .expect("valid")
                .as_str(),
            "josé@example.com"
        );
    }

    #[test]
    fn parsing_a_normalised_email_gives_it_back_unchanged() {
        for raw in [
            "ADA@EXAMPLE.COM",
            "İsa@Bücher.de",
            "ﬁ@㎁.example",
            "ä@例え.テスト",
        ] {
            let once = Email::parse(raw).expect(raw);
            assert_eq!(Email::parse(once.as_str()).expect("again"), once, "{raw}");
        }
    }

    #[test]
    fn emails_with_invisible_characters_or_a_bad_domain_are_refused() {
        for raw in [
            "ada\u{200B}@example.com",
            "ada@exa\u{202E}mple.com",
            "\u{2066}ada@example.com\u{2069}",
            "ada@example.com\u{200E}",
            "ada@\u{1D173}example.com",
        ] {
            let err = Email::parse(raw).expect_err(raw);
            assert_eq!(
                err.reason, "must not contain control or invisible formatting characters",
                "{raw:?}"
            );
        }
        for raw in [
            "ada@xn--zz.de",
            "ada@exa_mple.com",
            "ada@-example.com",
            "ada@example..com",
        ] {
            let err = Email::parse(raw).expect_err(raw);
            assert_eq!(
                err.reason, "has a domain that is not a valid (internationalised) domain name",
                "{raw}"
            );
        }
    }

    #[test]
    fn display_names_are_nfkc_and_refuse_bidi_and_invisible_characters() {
        let name = |raw: &str| DisplayName::parse("display_name", raw);
        assert_eq!(
            name("Ａｄａ Ｌｏｖｅｌａｃｅ").expect("ok").as_str(),
            "Ada Lovelace"
        );
        assert_eq!(name("\u{1D400}da").expect("ok").as_str(), "Ada");
        for raw in [
            "Ada\u{202E}ecalevol",
            "\u{2067}Ada\u{2069}",
            "Ad\u{200D}a",
            "Ada\u{200F}",
            "Ada\u{1D173}",
            "\u{FEFF}Ada",
        ] {
            let err = name(raw).expect_err(raw);
            assert_eq!(
                err.reason, "must not contain control or invisible formatting characters",
                "{raw:?}"
            );
        }
        assert!(name("\u{3000}").is_err(), "an ideographic space is blank");
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
