//! Where outgoing email goes, for every process that runs jobs (`serve` and `worker`): mail is
//! sent by whichever worker claims its job, so each needs the same provider settings.

use std::sync::Arc;

use clap::builder::BoolishValueParser;
use clap::Args;
use raptor_app::mail::{OutboxMailer, PostmarkMailer};
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
    /// Development only: without a Postmark token, log each mail's links whole (sign-in
    /// tokens included) at INFO, so a developer can sign in locally. Ignored with a token.
    #[arg(long, env = "RAPTOR_DEV_MAIL_LOG_LINKS", default_value_t = false, num_args = 0..=1,
        default_missing_value = "true", value_parser = BoolishValueParser::new())]
    dev_mail_log_links: bool,
}

impl MailArgs {
    /// `app`, mailing through Postmark when a server token is set.
    pub fn apply(&self, app: App) -> Result<App, CliError> {
        let Some(token) = self
            .postmark_server_token
            .as_deref()
            .filter(|t| !t.is_empty())
        else {
            tracing::warn!(
                "Mail is in development mode: no POSTMARK_SERVER_TOKEN, so email is not \
                 delivered; it is kept in the database's local outbox with its links redacted{}",
                if self.dev_mail_log_links {
                    " and logged whole here (RAPTOR_DEV_MAIL_LOG_LINKS)"
                } else {
                    ""
                }
            );
            if !self.dev_mail_log_links {
                return Ok(app);
            }
            let outbox = OutboxMailer::new(app.db.clone(), app.clock.clone()).logging_links();
            return Ok(app.with_mailer(Arc::new(outbox)));
        };
        if self.dev_mail_log_links {
            tracing::warn!("RAPTOR_DEV_MAIL_LOG_LINKS is ignored: mail goes through Postmark");
        }
        let mailer = PostmarkMailer::new(&self.postmark_api_url, token)
            .map_err(|err| CliError::Refused(format!("the Postmark client: {err}")))?;
        Ok(app.with_mailer(Arc::new(mailer)))
    }
}
