//! `raptor-ceiling`: what the machine can serve over HTTP with axum on tokio's multi-thread
//! runtime when a request costs nothing else. `scripts/bench/http` measures it in the same run
//! as Raptor and reports Raptor's rates as fractions of it.
//!
//! `raptor-ceiling PORT [FILE]` listens on 127.0.0.1:PORT and answers:
//! - `GET /hello`: a small JSON body shaped like Raptor's `/healthz`;
//! - `GET /static`: FILE's bytes, read once at start and served from memory as JSON (the
//!   benchmark passes Raptor's own answer to a bars request, so both send the same body).
//!
//! It uses the raptor binary's allocator (mimalloc), so the two differ only in their work.

use std::process::ExitCode;

/// The same allocator as the raptor binary, so the ceiling runs as Raptor does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::body::Bytes;
use axum::http::header::{HeaderName, CONTENT_TYPE};
use axum::routing::get;
use axum::Router;

const HELLO: &str =
    r#"{"status":"ok","db":"sqlite","version":"0.1.0","revision":"0010_support_reply_tokens"}"#;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(port) = args.next().and_then(|p| p.parse::<u16>().ok()) else {
        eprintln!("usage: raptor-ceiling PORT [FILE]");
        return ExitCode::FAILURE;
    };
    let body = match args.next().map(std::fs::read).transpose() {
        Ok(body) => Bytes::from(body.unwrap_or_default()),
        Err(err) => {
            eprintln!("error: cannot read the static body: {err}");
            return ExitCode::FAILURE;
        }
    };
    // The same runtime Raptor builds: multi-thread, one worker per core.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: could not start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(port, body)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(port: u16, body: Bytes) -> std::io::Result<()> {
    const JSON: (HeaderName, &str) = (CONTENT_TYPE, "application/json");
    let app = Router::new()
        .route("/hello", get(|| async { ([JSON], HELLO) }))
        .route("/static", get(move || async move { ([JSON], body) }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}
