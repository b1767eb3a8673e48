//! The `raptor` binary of this build, run as an operator runs it, for every CLI test file.
//!
//! Each run starts from an environment that holds only what the test sets: a variable left in
//! the shell running `cargo test` (a `DATABASE_URL`, say) must not change what a test exercises.
//! Test files use different parts, so each declares `#[allow(dead_code)] mod common;`.

use std::process::{Output, Stdio};

use raptor_testkit::ServeProcess;
use tokio::process::Command;

/// This build's binary.
pub const RAPTOR: &str = env!("CARGO_BIN_EXE_raptor");

/// Variables the binary reads that a test sets itself or not at all.
const CLEARED: [&str; 6] = [
    "DATABASE_URL",
    "RAPTOR_LOG_FORMAT",
    "PORT",
    "RAPTOR_APP_DATABASE_URL",
    "FLAG_RAPTOR_APP_ROLE_SEPARATION",
    "RAPTOR_SMOKE_BOOTSTRAP_TOKEN",
];

/// How to run `raptor`: keep one per database and run it as often as needed.
#[derive(Debug, Clone)]
pub struct Raptor {
    database: Option<String>,
    log: String,
    envs: Vec<(String, String)>,
}

/// `raptor` with no database, logging warnings only.
pub fn raptor() -> Raptor {
    Raptor {
        database: None,
        log: "warn".to_owned(),
        envs: Vec::new(),
    }
}

impl Raptor {
    /// Sets `DATABASE_URL`.
    pub fn database(mut self, url: &str) -> Self {
        self.database = Some(url.to_owned());
        self
    }

    /// Sets one more environment variable (after the defaults, so it wins).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Sets `RAPTOR_LOG` (`warn` unless told): `info` for tests that read the log.
    pub fn log(mut self, level: &str) -> Self {
        level.clone_into(&mut self.log);
        self
    }

    /// The process to start, for tests that spawn it themselves; it is killed when dropped.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(RAPTOR);
        for key in CLEARED {
            cmd.env_remove(key);
        }
        cmd.env("RAPTOR_LOG", &self.log)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(url) = &self.database {
            cmd.env("DATABASE_URL", url);
        }
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs `raptor ARGS` to the end and returns its status and output.
    pub async fn run(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .await
            .expect("run raptor")
    }
}

/// Standard output, as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error (the log), as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Standard output followed by standard error: everything a failed run said.
pub fn text(out: &Output) -> String {
    stdout(out) + &stderr(out)
}

/// Standard output parsed as JSON (for `--json` runs); the text is shown when it is not JSON.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// Starts `raptor serve` of this build on a free port, with extra arguments and variables.
pub async fn serve(
    database_url: &str,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> Result<ServeProcess, String> {
    ServeProcess::start_with_env(RAPTOR, database_url, extra, envs).await
}

/// The `http://localhost:PORT` a browser uses for `server` (passkeys need a domain).
pub fn public_url(server: &ServeProcess) -> String {
    let port = server.base_url.rsplit(':').next().expect("port");
    format!("http://localhost:{port}")
}
