//! Log set-up: `RAPTOR_LOG` filters (default `info`), `RAPTOR_LOG_FORMAT=json` for JSON lines.
//! Logs go to stderr; command results go to stdout.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter =
        EnvFilter::try_from_env("RAPTOR_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let json = std::env::var("RAPTOR_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // A second initialisation can only happen in tests; keeping the first is right.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
