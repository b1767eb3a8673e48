//! Where outgoing email goes, for every process that runs jobs (`serve` and `worker`): mail is
//! sent by whichever worker claims its job, so each needs the same provider settings.

use std::sync::Arc;

use clap::Args;
use raptor_app::mail::PostmarkMailer;
use raptor_app::App;

use super::CliError;

/// Postmark settings; without a server token, email goes to the local outbox.
#[derive(Debug, Args)]
pub struct MailArgs {
    /// Postmark server token; without it, email goes to the local outbox.
    #[arg(long, env = "POSTMARK_SERVER_TOKEN", hide_env_values = true)]
    postmark_server_token: Option<String>,
    /// Postmark API base URL.
    #[arg(long, env = "RAPTOR_POSTMARK_API_URL", default_value = PostmarkMailer::API_URL)]
    postmark_api_url: String,
}

impl MailArgs {
    /// `app`, mailing through Postmark when a server token is set.
    pub fn apply(&self, app: App) -> Result<App, CliError> {
        let Some(token) = self
            .postmark_server_token
            .as_deref()
            .filter(|t| !t.is_empty())
        else {
            return Ok(app);
        };
        let mailer = PostmarkMailer::new(&self.postmark_api_url, token)
            .map_err(|err| CliError::Refused(format!("the Postmark client: {err}")))?;
        Ok(app.with_mailer(Arc::new(mailer)))
    }
}
