//! `raptor admin …`: account tasks an operator does from a shell.

use std::process::ExitCode;

use chrono::{DateTime, Duration, Utc};
use clap::Subcommand;
use raptor_app::roles::{self, GrantTerms, RoleChange, RoleChangeError};
use raptor_app::{accounts, App};
use raptor_domain::{Email, Permission, Role, STEP_UP_WINDOW};
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
        /// When the grant ends (RFC 3339, e.g. 2027-01-31T18:00:00Z); absent: never.
        #[arg(long)]
        until: Option<DateTime<Utc>>,
        /// Why it is granted; kept with the grant and in the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Revoke a role from the user with this email.
    RevokeRole {
        /// The user's email.
        email: String,
        /// The role.
        role: String,
        /// Why it is revoked; kept in the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// List the roles and the permissions each carries.
    Roles {
        /// One JSON object: every role with its permissions, and the permission catalogue.
        #[arg(long)]
        json: bool,
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
                out!("{token}");
                eprintln!(
                    "Single-use bootstrap token, valid until {expires}. Sign up with it \
                     (bootstrap_token in POST /api/auth/register/options) to become an admin."
                );
                Ok(ExitCode::SUCCESS)
            }
            AdminCommand::GrantRole {
                email,
                role,
                until,
                reason,
            } => {
                let change = Change::Grant(GrantTerms {
                    until,
                    reason: reason.as_deref(),
                });
                change_role(url, &email, &role, change).await
            }
            AdminCommand::RevokeRole {
                email,
                role,
                reason,
            } => change_role(url, &email, &role, Change::Revoke(reason.as_deref())).await,
            AdminCommand::Roles { json } => list_roles(url, json).await,
        }
    }
}

/// A grant on its terms, or a revocation with its reason.
enum Change<'a> {
    Grant(GrantTerms<'a>),
    Revoke(Option<&'a str>),
}

async fn change_role(
    url: &DatabaseUrl,
    email: &str,
    role: &str,
    change: Change<'_>,
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
        // An operator at a shell is trusted: no permission checks, audited as `operator`.
        let operator = AuditEvent {
            actor_type: "operator",
            details: Some(json!({ "via": "cli" })),
            ..AuditEvent::default()
        };
        let result = match &change {
            Change::Grant(terms) => roles::grant(&app, &operator, user.id, role, terms).await,
            Change::Revoke(reason) => roles::revoke(&app, &operator, user.id, role, *reason).await,
        };
        result.map_err(|err| match err {
            RoleChangeError::Store(err) => CliError::from(err),
            other => CliError::Refused(other.to_string()),
        })
    }
    .await;
    db.close().await;
    let RoleChange { roles, changed, .. } = changed?;
    let verb = match (&change, changed) {
        (Change::Grant(_), true) => "Granted",
        (Change::Grant(_), false) => "Already held",
        (Change::Revoke(_), true) => "Revoked",
        (Change::Revoke(_), false) => "Did not hold",
    };
    let until = match &change {
        Change::Grant(GrantTerms {
            until: Some(until), ..
        }) => format!(" until {}", until.to_rfc3339()),
        _ => String::new(),
    };
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    out!(
        "{verb} {role}{until} for {email}; roles now: {}",
        names.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// `raptor admin roles`: each role with its permissions, as the database holds them.
async fn list_roles(url: &DatabaseUrl, as_json: bool) -> Result<ExitCode, CliError> {
    let db = connect_app(url, false).await?;
    let listed = roles::catalogue(&App::new(db.clone())).await;
    db.close().await;
    let entries = listed?;
    if as_json {
        let roles: Vec<_> = entries
            .iter()
            .map(|e| json!({ "role": e.role, "description": e.description, "permissions": e.permissions }))
            .collect();
        let permissions: Vec<_> = Permission::ALL
            .iter()
            .map(|p| json!({ "name": p.as_str(), "description": p.description(), "step_up": p.needs_step_up() }))
            .collect();
        out!("{}", json!({ "roles": roles, "permissions": permissions }));
        return Ok(ExitCode::SUCCESS);
    }
    let width = entries
        .iter()
        .map(|e| e.role.len())
        .max()
        .unwrap_or(4)
        .max(4);
    out!("{:width$}  PERMISSIONS", "ROLE");
    for entry in &entries {
        let permissions = if entry.permissions.is_empty() {
            "-".to_owned()
        } else {
            entry.permissions.join(", ")
        };
        out!("{:width$}  {permissions}", entry.role);
    }
    let stepped: Vec<&str> = Permission::ALL
        .iter()
        .filter(|p| p.needs_step_up())
        .map(|p| p.as_str())
        .collect();
    out!(
        "\nNeed a passkey sign-in within {} minutes: {}",
        STEP_UP_WINDOW.num_minutes(),
        stepped.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
