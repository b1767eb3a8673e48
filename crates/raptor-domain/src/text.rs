//! Characters that have no place in identifiers: control characters, and the invisible
//! Unicode format characters (bidirectional overrides, zero-width joiners, byte-order marks)
//! that make two different strings look the same or reorder what a reader sees. And the one
//! spelling such text is kept in: Unicode NFKC, so compatibility look-alikes (full-width
//! letters, ligatures, mathematical alphanumerics) fold into the plain characters they stand
//! for.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Whether `c` is a control character (C0, DEL, C1).
pub fn is_control(c: char) -> bool {
    c.is_control()
}

/// Whether `c` is an invisible Unicode format character (general category Cf): soft hyphen,
/// Arabic letter mark, zero-width and bidirectional marks, embeddings, overrides and
/// isolates, word joiners, invisible operators, the byte-order mark, interlinear annotation
/// marks, the tag characters, and the rest of the category.
pub fn is_format(c: char) -> bool {
    c.general_category() == GeneralCategory::Format
}

/// Whether an identifier (an email, a name, a symbol, an id, a token) may hold `c`.
pub fn fits_identifier(c: char) -> bool {
    !is_control(c) && !is_format(c)
}

/// `text` in Unicode Normalization Form KC.
pub fn nfkc(text: &str) -> String {
    text.nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_refuse_controls_and_invisible_format_characters() {
        for c in [
            '\0',
            '\n',
            '\u{7f}',
            '\u{85}',
            '\u{200B}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{FEFF}',
            '\u{0605}',
            '\u{06DD}',
            '\u{110BD}',
            '\u{1D173}',
            '\u{E0041}',
        ] {
            assert!(!fits_identifier(c), "{:?}", c);
        }
        for c in ['a', 'é', 'Ж', '中', '-', ' ', '\u{1F600}'] {
            assert!(fits_identifier(c), "{:?}", c);
        }
    }

    #[test]
    fn nfkc_folds_compatibility_look_alikes() {
        assert_eq!(nfkc("Ａｄａ"), "Ada");
        assert_eq!(nfkc("\u{1D400}da"), "Ada");
        assert_eq!(nfkc("ﬁle"), "file");
        assert_eq!(nfkc("e\u{301}"), "é");
    }
}
