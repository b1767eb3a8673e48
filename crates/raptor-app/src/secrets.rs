//! Random tokens handed to clients, and the hashes that are stored instead of them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// 256 fresh random bits.
pub fn random_key() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // The OS RNG failing leaves no safe way to continue.
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

/// A fresh 256-bit token, base64url without padding.
pub fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(random_key())
}

/// A fresh 128-bit token to put in an email address (`support+<token>@…`): 32 lowercase hex
/// digits, so it fits a local part (at most 64 characters) and survives mail systems that change
/// the case of addresses. Read one back with [`address_token_hash`].
pub fn new_address_token() -> String {
    let mut bytes = [0u8; 16];
    // The OS RNG failing leaves no safe way to continue.
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What is stored for an address token, read from an address however its case was changed.
pub fn address_token_hash(token: &str) -> Vec<u8> {
    token_hash(&token.trim().to_ascii_lowercase())
}

/// What is stored for a token: its SHA-256 (tokens are random, so a fast hash suffices).
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_tokens_fit_a_local_part_and_read_back_in_any_case() {
        let token = new_address_token();
        assert_eq!(token.len(), 32);
        assert!(token
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(token, new_address_token());
        assert_eq!(
            address_token_hash(&token.to_ascii_uppercase()),
            token_hash(&token)
        );
    }
}
