//! Backup codes: ten one-time codes, shown once, stored as argon2id hashes, each signing in
//! once. Every hash runs on the app's bounded [`crate::hashing::HashingPool`], and every
//! sign-in attempt verifies the same number of hashes whether or not the account exists.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use raptor_domain::Email;
use raptor_store::audit;
use raptor_store::{backup_codes, users, StoreError};
use serde_json::{json, Value};

use crate::accounts::{self, auth_event, SignInProof, SignedIn};
use crate::credentials::{self, Change, Changer, StepUpRequired};
use crate::hashing::PoolError;
use crate::metrics::Outcome;
use crate::{App, Client};

/// How many codes a set holds.
const CODES_PER_SET: usize = 10;
/// Letters that cannot be mistaken for one another when read aloud or typed.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Why backup codes could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum BackupCodeError {
    /// No unused code of that account matches (or no such account): one answer for both.
    #[error("that email and backup code do not match an unused code")]
    NoMatch,
    /// The account is suspended.
    #[error("this account is suspended")]
    Suspended,
    /// The session has not proved who the user is recently enough.
    #[error(transparent)]
    StepUpRequired(#[from] StepUpRequired),
    /// Argon2 refused to hash.
    #[error("backup code hashing failed: {0}")]
    Hashing(String),
    /// The hashing pool could not run the work.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A code like `k7mq-x2pd-9rtw` (12 random characters, about 59 bits).
fn new_code() -> String {
    let mut bytes = [0u8; 12];
    // The OS RNG failing leaves no safe way to continue.
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// What the user typed, without separators or case.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn hashing_failed(e: argon2::password_hash::Error) -> BackupCodeError {
    BackupCodeError::Hashing(e.to_string())
}

fn hash(code: &str) -> Result<String, BackupCodeError> {
    let mut salt = [0u8; 16];
    // The OS RNG failing leaves no safe way to continue.
    getrandom::fill(&mut salt).expect("the operating system's random source failed");
    hash_with_salt(code, &salt)
}

fn hash_with_salt(code: &str, salt: &[u8]) -> Result<String, BackupCodeError> {
    let salt = SaltString::encode_b64(salt).map_err(hashing_failed)?;
    Argon2::default()
        .hash_password(normalise(code).as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(hashing_failed)
}

/// A stand-in hash, made once with the same parameters as real codes: attempts on unknown
/// accounts, or on accounts with fewer than [`CODES_PER_SET`] codes left, verify against it so
/// that they cost the same. Whether it matches is ignored.
fn decoy_hash() -> Result<&'static str, BackupCodeError> {
    static DECOY: OnceLock<String> = OnceLock::new();
    if let Some(decoy) = DECOY.get() {
        return Ok(decoy);
    }
    let made = hash_with_salt("decoy", b"raptor-decoy-salt")?;
    Ok(DECOY.get_or_init(|| made))
}

/// Whether `typed` (normalised) matches the PHC string `stored`.
fn verifies(typed: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(typed.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Checks `typed` against every one of `candidates` (code id, hash), padded with the decoy to
/// [`CODES_PER_SET`], without stopping at a match: the work is the same for every attempt.
fn find_match(typed: &str, candidates: &[(i64, String)]) -> Result<Option<i64>, BackupCodeError> {
    let decoy = decoy_hash()?;
    let mut matched = None;
    for (id, stored) in candidates {
        if verifies(typed, stored) && matched.is_none() {
            matched = Some(*id);
        }
    }
    for _ in candidates.len()..CODES_PER_SET {
        // Verified only for its cost; the answer is thrown away.
        let _ = verifies(typed, decoy);
    }
    Ok(matched)
}

/// How many hashes one sign-in attempt verifies, known account or not.
fn verifications(candidates: usize) -> u64 {
    u64::try_from(candidates.max(CODES_PER_SET)).unwrap_or(u64::MAX)
}

/// How many of the user's codes are still unused.
pub async fn remaining(app: &App, user_id: i64) -> Result<usize, StoreError> {
    Ok(backup_codes::unused(&app.db, user_id).await?.len())
}

/// A new set of codes for `by`, replacing the old set. The codes are returned once and
/// stored only as hashes. Needs a session that proved who the user is recently; ends the
/// user's other sessions and emails them ([`crate::credentials`]).
pub async fn regenerate(app: &App, by: &Changer<'_>) -> Result<Vec<String>, BackupCodeError> {
    credentials::require_fresh::<BackupCodeError>(app, by.session).await?;
    let codes: Vec<String> = (0..CODES_PER_SET).map(|_| new_code()).collect();
    let to_hash = codes.clone();
    let operations = u64::try_from(to_hash.len()).unwrap_or(u64::MAX);
    // Argon2 is deliberately slow: it runs on the bounded pool, off the async workers.
    let hashes = app
        .hashing
        .run(operations, move || {
            to_hash
                .iter()
                .map(|c| hash(c))
                .collect::<Result<Vec<_>, _>>()
        })
        .await??;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    backup_codes::replace(&mut tx, by.user.id, &hashes, now).await?;
    let change = Change::BackupCodesReplaced;
    credentials::commit::<BackupCodeError>(app, tx, by, change, Value::Null, now).await?;
    Ok(codes)
}

/// Signs in with an email and one of its unused codes, using the code up. A miss is audited
/// and answers the same whether or not the account exists.
pub async fn sign_in(
    app: &App,
    email: &Email,
    code: &str,
    client: &Client,
) -> Result<SignedIn, BackupCodeError> {
    let now = app.now();
    let user = users::by_email(&app.db, email.as_str()).await?;
    let candidates: Vec<(i64, String)> = match &user {
        Some(user) => backup_codes::unused(&app.db, user.id)
            .await?
            .into_iter()
            .map(|c| (c.id, c.code_hash))
            .collect(),
        None => Vec::new(),
    };
    let typed = normalise(code);
    let operations = verifications(candidates.len());
    let matched = app
        .hashing
        .run(operations, move || find_match(&typed, &candidates))
        .await??;
    let (Some(user), Some(code_id)) = (user, matched) else {
        app.metrics.sign_in("backup_code", Outcome::Failure);
        let mut entry = auth_event("auth.backup_code", "failure", None, client);
        entry.details = Some(json!({ "email": email.as_str() }));
        audit::record_alone(&app.db, &entry, now).await?;
        return Err(BackupCodeError::NoMatch);
    };
    if !user.is_active() {
        return Err(BackupCodeError::Suspended);
    }
    let mut tx = app.db.begin().await?;
    if !backup_codes::mark_used(&mut tx, code_id, now).await? {
        return Err(BackupCodeError::NoMatch);
    }
    let proof = SignInProof {
        method: "backup_code",
        action: "auth.backup_code",
        details: None,
    };
    Ok(accounts::complete_sign_in(app, tx, user, proof, client, now).await?)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoy_costs_what_a_code_costs_and_every_attempt_verifies_a_full_set() {
        let decoy = decoy_hash().expect("decoy");
        let parsed = PasswordHash::new(decoy).expect("a PHC string");
        let real = hash(&new_code()).expect("hash");
        let real = PasswordHash::new(&real).expect("a PHC string");
        assert_eq!(
            (parsed.algorithm, parsed.version, &parsed.params),
            (real.algorithm, real.version, &real.params),
            "the decoy must cost what a real code costs"
        );
        assert_eq!(verifications(0), 10);
        assert_eq!(verifications(3), 10);
        let code = new_code();
        let stored = vec![(7, hash(&code).expect("hash"))];
        assert_eq!(
            find_match(&normalise(&code), &stored).expect("ran"),
            Some(7)
        );
        assert_eq!(find_match("wrong", &stored).expect("ran"), None);
    }

    #[test]
    fn codes_are_grouped_and_typing_variations_still_match() {
        let code = new_code();
        assert_eq!(code.len(), 14, "{code}");
        assert_eq!(code.matches('-').count(), 2);
        assert_eq!(
            normalise(&code.to_uppercase().replace('-', " ")),
            code.replace('-', "")
        );
    }
}
