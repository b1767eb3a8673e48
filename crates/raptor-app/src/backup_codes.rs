//! Backup codes: ten one-time codes, shown once, stored as argon2id hashes, each signing in
//! once.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use raptor_domain::Email;
use raptor_store::audit::{self, AuditEvent};
use raptor_store::{backup_codes, users, StoreError};
use serde_json::json;

use crate::accounts::{self, auth_event, SignInProof, SignedIn};
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
    /// Hashing failed or its thread died.
    #[error("backup code hashing failed: {0}")]
    Hashing(String),
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

fn hash(code: &str) -> Result<String, BackupCodeError> {
    let mut salt = [0u8; 16];
    // The OS RNG failing leaves no safe way to continue.
    getrandom::fill(&mut salt).expect("the operating system's random source failed");
    let hashing = |e: argon2::password_hash::Error| BackupCodeError::Hashing(e.to_string());
    let salt = SaltString::encode_b64(&salt).map_err(hashing)?;
    Argon2::default()
        .hash_password(normalise(code).as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(hashing)
}

/// How many of the user's codes are still unused.
pub async fn remaining(app: &App, user_id: i64) -> Result<usize, StoreError> {
    Ok(backup_codes::unused(&app.db, user_id).await?.len())
}

/// A new set of codes for the user, replacing the old set, audited with `audit_event`. The
/// codes are returned once and stored only as hashes.
pub async fn regenerate(
    app: &App,
    user_id: i64,
    audit_event: &AuditEvent,
) -> Result<Vec<String>, BackupCodeError> {
    let codes: Vec<String> = (0..CODES_PER_SET).map(|_| new_code()).collect();
    let to_hash = codes.clone();
    // Argon2 is deliberately slow: keep it off the async workers.
    let hashes = tokio::task::spawn_blocking(move || {
        to_hash
            .iter()
            .map(|c| hash(c))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| BackupCodeError::Hashing(e.to_string()))??;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    backup_codes::replace(&mut tx, user_id, &hashes, now).await?;
    audit::record(&mut tx, audit_event, now).await?;
    tx.commit().await?;
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
    let candidates = match &user {
        Some(user) => backup_codes::unused(&app.db, user.id).await?,
        None => Vec::new(),
    };
    let typed = normalise(code);
    let matched = tokio::task::spawn_blocking(move || {
        candidates.into_iter().find(|c| {
            PasswordHash::new(&c.code_hash)
                .map(|h| {
                    Argon2::default()
                        .verify_password(typed.as_bytes(), &h)
                        .is_ok()
                })
                .unwrap_or(false)
        })
    })
    .await
    .map_err(|e| BackupCodeError::Hashing(e.to_string()))?;
    let (Some(user), Some(code)) = (user, matched) else {
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
    if !backup_codes::mark_used(&mut tx, code.id, now).await? {
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
