//! `raptor db roles`: separate the application's database role from the owner (RM-11).

use std::process::ExitCode;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clap::Args;
use raptor_store::privileges;
use raptor_store::{DatabaseUrl, Db, StoreError};

use super::{connect, CliError};

#[derive(Debug, Args)]
pub struct RolesArgs {
    /// The application role.
    #[arg(long, default_value = "raptor_app")]
    app_role: String,
    /// Print the GRANT/REVOKE block (the default).
    #[arg(long, conflicts_with_all = ["apply", "verify"])]
    print: bool,
    /// Create the role (LOGIN) if needed and apply the grants, as the owner.
    #[arg(long, conflicts_with = "verify")]
    apply: bool,
    /// Password for a new role (default: generated and shown once).
    #[arg(
        long,
        requires = "apply",
        hide_env_values = true,
        allow_hyphen_values = true,
        env = "RAPTOR_APP_ROLE_PASSWORD"
    )]
    password: Option<String>,
    /// Connect as the application role and prove what it may and may not do.
    #[arg(long)]
    verify: bool,
    /// The application role's URL for --verify (default RAPTOR_APP_DATABASE_URL).
    #[arg(long, env = "RAPTOR_APP_DATABASE_URL", hide_env_values = true)]
    app_url: Option<String>,
}

fn refused(err: StoreError) -> CliError {
    CliError::Refused(err.to_string())
}

pub async fn run(url: &DatabaseUrl, args: RolesArgs) -> Result<ExitCode, CliError> {
    if args.verify {
        let raw = args.app_url.as_deref().filter(|u| !u.is_empty()).ok_or_else(|| {
            CliError::Refused("--verify needs the application role's URL: --app-url or RAPTOR_APP_DATABASE_URL".into())
        })?;
        let app = Db::connect(&DatabaseUrl::parse(raw)?).await?;
        let probes = privileges::verify(&app).await;
        app.close().await;
        let probes = probes.map_err(refused)?;
        for p in &probes {
            let verdict = if p.as_expected() { "ok  " } else { "FAIL" };
            let wanted = if p.must_succeed { "allowed" } else { "refused" };
            let got = if p.allowed { "allowed" } else { "refused" };
            out!("{verdict} {wanted:<7} (was {got}): {}", p.statement);
        }
        let all = probes.iter().all(|p| p.as_expected());
        out!(
            "{}",
            if all {
                "VERIFIED: the application role can work with rows and nothing else."
            } else {
                "NOT VERIFIED: fix the grants (raptor db roles --apply) and verify again."
            }
        );
        return Ok(if all {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let db = connect(url).await?;
    let result = async {
        let database = privileges::database_name(&db).await.map_err(refused)?;
        if !args.apply {
            for statement in privileges::grant_statements(&database, &args.app_role).map_err(refused)? {
                out!("{statement};");
            }
            return Ok(ExitCode::SUCCESS);
        }
        let generated = args.password.is_none().then(|| {
            let mut bytes = [0u8; 24];
            getrandom::fill(&mut bytes).map(|()| URL_SAFE_NO_PAD.encode(bytes))
        });
        let password = match (&args.password, generated) {
            (Some(p), _) => p.clone(),
            (None, Some(Ok(p))) => p,
            (None, _) => return Err(CliError::Refused("no randomness to generate a password".into())),
        };
        let created = privileges::apply(&db, &args.app_role, Some(&password)).await.map_err(refused)?;
        out!("{} role {} and applied the grants on {database}.", if created { "Created" } else { "Updated" }, args.app_role);
        if args.password.is_none() {
            out!("Password (shown once): {password}");
            out!("Set RAPTOR_APP_DATABASE_URL to this database's URL with user {} and that password, then FLAG_RAPTOR_APP_ROLE_SEPARATION=1.", args.app_role);
        }
        Ok(ExitCode::SUCCESS)
    }
    .await;
    db.close().await;
    result
}
