//! Characters that have no place in identifiers: control characters, and the invisible
//! Unicode format characters (bidirectional overrides, zero-width joiners, byte-order marks)
//! that make two different strings look the same or reorder what a reader sees.

/// Whether `c` is a control character (C0, DEL, C1).
pub fn is_control(c: char) -> bool {
    c.is_control()
}

/// Whether `c` is an invisible Unicode format character (general category Cf): soft hyphen,
/// Arabic letter mark, Mongolian vowel separator, zero-width and bidirectional marks,
/// embeddings, overrides and isolates, word joiners, invisible operators, the byte-order
/// mark, interlinear annotation marks, and the tag characters.
pub fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

/// Whether an identifier (an email, a name, a symbol, an id, a token) may hold `c`.
pub fn fits_identifier(c: char) -> bool {
    !is_control(c) && !is_format(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_refuse_controls_and_invisible_format_characters() {
        for c in [
            '\0', '\n', '\u{7f}', '\u{85}', '\u{200B}', '\u{202E}', '\u{2066}', '\u{FEFF}',
        ] {
            assert!(!fits_identifier(c), "{:?}", c);
        }
        for c in ['a', 'é', 'Ж', '中', '-', ' ', '\u{1F600}'] {
            assert!(fits_identifier(c), "{:?}", c);
        }
    }
}
