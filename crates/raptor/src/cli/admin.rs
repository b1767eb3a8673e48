//! `raptor admin …`: account tasks an operator does from a shell.

use std::process::ExitCode;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use clap::Subcommand;
use raptor_app::{Clock, SystemClock};
use raptor_domain::{Email, Role};
use raptor_store::audit::{self, AuditEvent};
use raptor_store::{tokens, users, DatabaseUrl};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{connect_app, CliError};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Print a single-use token that makes whoever signs up with it an admin.
    BootstrapToken {
        /// Minutes until the token expires.
        #[arg(long, default_value_t = 60)]
        ttl_minutes: i64,
    },
    /// Grant a role (customer, support, admin) to the user with this email.
    GrantRole {
        /// The user's email.
        email: String,
        /// The role.
        role: String,
    },
    /// Revoke a role from the user with this email.
    RevokeRole {
        /// The user's email.
        email: String,
        /// The role.
        role: String,
    },
}

impl AdminCommand {
    pub async fn run(self, url: &DatabaseUrl) -> Result<ExitCode, CliError> {
        match self {
            AdminCommand::BootstrapToken { ttl_minutes } => {
                if !(1..=7 * 24 * 60).contains(&ttl_minutes) {
                    return Err(CliError::Refused(
                        "--ttl-minutes must be between 1 and 10080 (a week)".into(),
                    ));
                }
                let db = connect_app(url, false).await?;
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes)
                    .map_err(|e| CliError::Refused(format!("no randomness: {e}")))?;
                let token = URL_SAFE_NO_PAD.encode(bytes);
                let now = SystemClock.now();
                let expires = now + Duration::minutes(ttl_minutes);
                tokens::issue_bootstrap(
                    &db,
                    &Sha256::digest(token.as_bytes()),
                    "raptor admin bootstrap-token",
                    now,
                    expires,
                )
                .await?;
                let mut tx = db.begin().await?;
                let event = AuditEvent {
                    actor_type: "operator",
                    action: "bootstrap_token.issue",
                    outcome: "success",
                    details: Some(json!({ "expires_at": expires })),
                    ..AuditEvent::default()
                };
                audit::record(&mut tx, &event, now).await?;
                tx.commit().await?;
                db.close().await;
                println!("{token}");
                eprintln!(
                    "Single-use bootstrap token, valid until {expires}. Sign up with it \
                     (bootstrap_token in POST /api/auth/register/options) to become an admin."
                );
                Ok(ExitCode::SUCCESS)
            }
            AdminCommand::GrantRole { email, role } => change_role(url, &email, &role, true).await,
            AdminCommand::RevokeRole { email, role } => {
                change_role(url, &email, &role, false).await
            }
        }
    }
}

async fn change_role(
    url: &DatabaseUrl,
    email: &str,
    role: &str,
    grant: bool,
) -> Result<ExitCode, CliError> {
    let role: Role = role
        .parse()
        .map_err(|e: raptor_domain::UnknownRole| CliError::Refused(e.to_string()))?;
    let email = Email::parse(email).map_err(|e| CliError::Refused(e.to_string()))?;
    let db = connect_app(url, false).await?;
    let user = users::by_email(&db, email.as_str())
        .await?
        .ok_or_else(|| CliError::Refused(format!("no user with email {email}")))?;
    let now = SystemClock.now();
    let mut tx = db.begin().await?;
    let changed = if grant {
        users::grant_role(&mut tx, user.id, role, None, now).await?
    } else {
        users::revoke_role(&mut tx, user.id, role).await?
    };
    let event = AuditEvent {
        actor_type: "operator",
        action: if grant { "role.grant" } else { "role.revoke" },
        target_type: Some("user"),
        target_id: Some(user.id.to_string()),
        outcome: "success",
        details: Some(json!({ "role": role, "changed": changed, "via": "cli" })),
        ..AuditEvent::default()
    };
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    let roles = users::roles(&db, user.id).await?;
    db.close().await;
    let verb = match (grant, changed) {
        (true, true) => "Granted",
        (true, false) => "Already held",
        (false, true) => "Revoked",
        (false, false) => "Did not hold",
    };
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    println!("{verb} {role} for {email}; roles now: {}", names.join(", "));
    Ok(ExitCode::SUCCESS)
}
