//! Backup codes: ten one-time codes, shown once, stored as argon2id hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use raptor_domain::Email;
use raptor_store::{audit, backup_codes, users};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{complete_sign_in, event};
use crate::extract::{ApiJson, ClientInfo};
use crate::limits;
use crate::session::CurrentSession;
use crate::{AppState, Problem};
use raptor_app::accounts::SignInProof;

/// How many codes a set holds.
const CODES_PER_SET: usize = 10;
/// Letters that cannot be mistaken for one another when read aloud or typed.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

fn internal(err: impl std::fmt::Display) -> Problem {
    Problem::internal(&err)
}

/// A code like `k7mq-x2pd-9rtw` (12 random characters, about 59 bits).
fn new_code() -> String {
    let mut bytes = [0u8; 12];
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

fn hash(code: &str) -> Result<String, Problem> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system's random source failed");
    let salt = SaltString::encode_b64(&salt).map_err(internal)?;
    Argon2::default()
        .hash_password(normalise(code).as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(internal)
}

pub(crate) async fn remaining(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<serde_json::Value>, Problem> {
    let left = backup_codes::unused(&state.db, current.user.id)
        .await?
        .len();
    Ok(Json(json!({ "remaining": left })))
}

pub(crate) async fn regenerate(
    State(state): State<AppState>,
    current: CurrentSession,
    client: ClientInfo,
) -> Result<impl IntoResponse, Problem> {
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
    .map_err(internal)??;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    backup_codes::replace(&mut tx, current.user.id, &hashes, now).await?;
    let entry = current.own_action(&client, "backup_codes.generate", Value::Null);
    audit::record(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "codes": codes,
            "detail": "Store these now: they are shown only once, and each works once. Generating a new set invalidates this one."
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackupLoginRequest {
    email: String,
    code: String,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(req): ApiJson<BackupLoginRequest>,
) -> Result<impl IntoResponse, Problem> {
    limits::check(&state, limits::LOGIN_PER_IP, client.ip_key()).await?;
    let email = Email::parse(&req.email).map_err(Problem::invalid)?;
    limits::check(&state, limits::BACKUP_CODE_PER_ACCOUNT, email.as_str()).await?;
    let refused = || {
        Problem::unauthorized(
            "invalid_backup_code",
            "that email and backup code do not match an unused code",
        )
    };
    let now = state.now();
    let user = users::by_email(&state.db, email.as_str()).await?;
    let candidates = match &user {
        Some(user) => backup_codes::unused(&state.db, user.id).await?,
        None => Vec::new(),
    };
    let typed = normalise(&req.code);
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
    .map_err(internal)?;
    let (Some(user), Some(code)) = (user, matched) else {
        let mut entry = event("auth.backup_code", "failure", None, &client);
        entry.details = Some(json!({ "email": email.as_str() }));
        audit::record_alone(&state.db, &entry, now).await?;
        return Err(refused());
    };
    if !user.is_active() {
        return Err(Problem::forbidden(
            "account_suspended",
            "this account is suspended",
        ));
    }
    let mut tx = state.db.begin().await?;
    if !backup_codes::mark_used(&mut tx, code.id, now).await? {
        return Err(refused());
    }
    complete_sign_in(
        &state,
        tx,
        user,
        SignInProof {
            method: "backup_code",
            action: "auth.backup_code",
            details: None,
        },
        &client,
        now,
    )
    .await
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
