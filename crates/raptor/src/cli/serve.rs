//! `raptor serve`: the API server, with the start-up checks the runbook relies on.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use raptor_api::{ApiConfig, AppState, EdgeLimits, MetricsToken, WebhookSecrets};
use raptor_app::App;
use raptor_domain::Role;
use raptor_store::{users, DatabaseUrl};
use tokio::net::TcpListener;

use super::mail::MailArgs;
use super::{connect_app, AlpacaArgs, CliError};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 8000)]
    port: u16,
    /// Address to bind.
    #[arg(long, env = "RAPTOR_HOST", default_value = "0.0.0.0")]
    host: std::net::IpAddr,
    /// On PostgreSQL, upgrade the schema to head before serving instead of refusing to start.
    #[arg(long)]
    migrate: bool,
    /// The URL users reach Raptor at: the passkey relying party and the cookie's scope.
    /// Default: http://localhost:PORT.
    #[arg(long, env = "RAPTOR_PUBLIC_URL")]
    public_url: Option<String>,
    /// Take client addresses from X-Forwarded-For and request ids from X-Request-Id (only
    /// behind a router that sets them).
    #[arg(long, env = "RAPTOR_TRUST_PROXY", default_value_t = false)]
    trust_proxy: bool,
    /// HTTP basic user Postmark's webhooks authenticate with.
    #[arg(long, env = "RAPTOR_POSTMARK_WEBHOOK_USER", hide_env_values = true)]
    postmark_webhook_user: Option<String>,
    /// HTTP basic password Postmark's webhooks authenticate with.
    #[arg(long, env = "RAPTOR_POSTMARK_WEBHOOK_PASSWORD", hide_env_values = true)]
    postmark_webhook_password: Option<String>,
    /// HMAC-SHA256 key the status page signs its webhooks with.
    #[arg(long, env = "RAPTOR_STATUS_WEBHOOK_SECRET", hide_env_values = true)]
    status_webhook_secret: Option<String>,
    /// Where billing alerts go when an alert names no address.
    #[arg(long, env = "RAPTOR_ALERT_EMAIL", default_value = "ops@raxx.app")]
    alert_email: String,
    /// The inbound support address (no +tag): staff replies go out with a Reply-To of its
    /// plus-address carrying a per-reply token, which alone continues a ticket by email.
    #[arg(
        long,
        env = "RAPTOR_SUPPORT_ADDRESS",
        default_value = "support@raxx.app"
    )]
    support_address: String,
    /// Mail servers (authserv-ids, comma-separated) whose Authentication-Results headers on
    /// inbound mail are believed; only servers that strip such headers claiming their id.
    #[arg(long, env = "RAPTOR_INBOUND_AUTHSERV_IDS", value_delimiter = ',')]
    inbound_authserv_ids: Vec<String>,
    /// Serve with the restricted application role (RAPTOR_APP_DATABASE_URL); 0 falls back to
    /// the owner credential, as the runbook's rollback says.
    #[arg(long, env = "FLAG_RAPTOR_APP_ROLE_SEPARATION", default_value = "0", value_parser = ["0", "1"])]
    role_separation: String,
    /// The application role's URL, used when role separation is on.
    #[arg(long, env = "RAPTOR_APP_DATABASE_URL", hide_env_values = true)]
    app_database_url: Option<String>,
    /// Requests served at once; more are answered 503 `overloaded` straight away.
    #[arg(long, env = "RAPTOR_MAX_CONCURRENT_REQUESTS", default_value_t = 512)]
    max_concurrent_requests: usize,
    /// Seconds a client may take to send a request's headers before it is cut off.
    #[arg(long, env = "RAPTOR_HEADER_TIMEOUT", default_value_t = 10)]
    header_timeout: u64,
    /// Seconds a request's whole body may take to arrive before the request is answered 408.
    #[arg(long, env = "RAPTOR_BODY_TIMEOUT", default_value_t = 30)]
    body_timeout: u64,
    /// Bearer token `GET /metrics` requires; unset, `/metrics` answers 404.
    #[arg(long, env = "RAPTOR_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Background jobs this process runs at once (0: none; run `raptor worker` instead).
    #[arg(long, env = "RAPTOR_WORKER_CONCURRENCY", default_value_t = 4)]
    worker_concurrency: usize,
    /// How long a job stays this process's worker's without a heartbeat.
    #[command(flatten)]
    job_lease: super::jobs::LeaseArg,
    /// Queued backtests and sweeps this process runs at once, and the bar series it keeps.
    #[command(flatten)]
    backtests: super::jobs::BacktestWorkerArgs,
    /// Alpaca Market Data settings; without keys, bars are served from what is stored.
    #[command(flatten)]
    alpaca: AlpacaArgs,
    /// Where outgoing email goes.
    #[command(flatten)]
    mail: MailArgs,
}

pub async fn run(url: &DatabaseUrl, args: ServeArgs) -> Result<ExitCode, CliError> {
    let owner = connect_app(url, args.migrate).await?;
    // Under role separation the schema is checked (and migrated) with the owner credential,
    // then requests are served with the application role, which may not read the history.
    let (db, revision) = if args.role_separation == "1" {
        let app_url = args.app_database_url.as_deref().filter(|u| !u.is_empty()).ok_or_else(|| {
            CliError::Refused("FLAG_RAPTOR_APP_ROLE_SEPARATION=1 needs RAPTOR_APP_DATABASE_URL (see `raptor db roles --apply`)".into())
        })?;
        let revision = raptor_store::migrate::current_revision(&owner).await?;
        owner.close().await;
        let app = super::connect(&DatabaseUrl::parse(app_url)?).await?;
        tracing::info!("Role separation on: serving as the application role");
        (app, revision)
    } else {
        (owner, None)
    };
    let mut app = args.backtests.apply(args.mail.apply(App::new(db.clone()))?);
    if let Some(source) = args.alpaca.source() {
        tracing::info!("Missing bars are fetched from Alpaca ({source:?})");
        app = app.with_bar_source(Arc::new(source));
    }
    if users::count_with_role(&db, Role::Admin).await? == 0 {
        tracing::info!(
            "No admin yet. Run `raptor admin bootstrap-token` and sign up with the token it prints \
             to become the first admin."
        );
    }
    let addr = SocketAddr::new(args.host, args.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| CliError::Io {
            context: format!("could not listen on {addr}"),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| CliError::Io {
        context: "could not read the bound address".to_owned(),
        source,
    })?;
    // The default public URL names the port really bound (`--port 0` picks one).
    let public_url = args
        .public_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| format!("http://localhost:{}", local.port()));
    let mut config = ApiConfig::new(&public_url, args.trust_proxy)
        .map_err(|e| CliError::Refused(e.to_string()))?;
    let set = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    config.webhooks = WebhookSecrets {
        postmark: set(&args.postmark_webhook_user).zip(set(&args.postmark_webhook_password)),
        status_secret: set(&args.status_webhook_secret),
    };
    config.alert_email = args.alert_email.clone();
    config.support_address = raptor_app::support::email::support_address(&args.support_address)
        .map_err(|e| CliError::Refused(format!("RAPTOR_SUPPORT_ADDRESS {}", e.reason)))?
        .to_string();
    config.trusted_authserv_ids = args
        .inbound_authserv_ids
        .iter()
        .map(|id| id.trim().to_ascii_lowercase())
        .filter(|id| !id.is_empty())
        .collect();
    config.metrics_token = args.metrics_token.as_deref().and_then(MetricsToken::new);
    config.limits = EdgeLimits {
        max_concurrent_requests: args.max_concurrent_requests,
        header_read_timeout: Duration::from_secs(args.header_timeout.max(1)),
        body_timeout: Duration::from_secs(args.body_timeout.max(1)),
        ..EdgeLimits::default()
    };
    tracing::info!(
        "Listening on http://{local} (public URL {})",
        config.public_url
    );
    let mut state = AppState::new(app.clone(), config);
    if let Some(revision) = revision {
        state = state.with_fixed_revision(revision);
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = super::jobs::spawn_workers(
        &app,
        args.job_lease,
        args.worker_concurrency,
        args.backtests,
        &stopped,
    );
    let shutdown = async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    };
    raptor_api::serve(listener, state, shutdown)
        .await
        .map_err(|source| CliError::Io {
            context: "the server stopped".to_owned(),
            source,
        })?;
    // The workers drain their running jobs within their deadline and put the rest back.
    for worker in workers {
        if let Err(err) = worker.await {
            tracing::warn!(%err, "a job worker ended abnormally");
        }
    }
    db.close().await;
    tracing::info!("Shutdown complete");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM (what Heroku sends) or Ctrl-C.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "could not listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "could not listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("Shutdown signal received; draining in-flight requests");
}
