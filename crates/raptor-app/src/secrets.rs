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

/// What is stored for a token: its SHA-256 (tokens are random, so a fast hash suffices).
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
