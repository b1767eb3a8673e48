//! `raptor admin …`: account tasks an operator does from a shell.

use std::process::ExitCode;

use chrono::Duration;
use clap::Subcommand;
use raptor_app::roles::{self, RoleChange, RoleChangeError};
use raptor_app::{accounts, App};
use raptor_domain::{Email, Role};
use raptor_store::audit::AuditEvent;
use raptor_store::DatabaseUrl;
use serde_json::json;

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
                let issued = accounts::issue_bootstrap_token(
                    &App::new(db.clone()),
                    Duration::minutes(ttl_minutes),
                )
                .await;
                db.close().await;
                let (token, expires) = issued?;
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
    let app = App::new(db.clone());
    let changed = async {
        let user = accounts::by_email(&app, &email)
            .await?
            .ok_or_else(|| CliError::Refused(format!("no user with email {email}")))?;
        let operator = AuditEvent {
            actor_type: "operator",
            details: Some(json!({ "via": "cli" })),
            ..AuditEvent::default()
        };
        roles::change_role(&app, &operator, user.id, role, grant)
            .await
            .map_err(|err| match err {
                RoleChangeError::Store(err) => CliError::from(err),
                other => CliError::Refused(other.to_string()),
            })
    }
    .await;
    db.close().await;
    let RoleChange { roles, changed, .. } = changed?;
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
