//! A real `raptor serve` process on a free port, for tests that need the whole binary.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// A running `raptor serve` and the address it announced.
pub struct ServeProcess {
    child: Child,
    /// `http://127.0.0.1:PORT` as announced.
    pub base_url: String,
    /// Its log so far, and a bell rung at each new line.
    log: Arc<(Mutex<String>, Notify)>,
}

impl ServeProcess {
    /// Starts `binary serve` on a free port; Err carries the log when it exits instead.
    pub async fn start(binary: &str, database_url: &str, extra: &[&str]) -> Result<Self, String> {
        Self::start_with_env(binary, database_url, extra, &[]).await
    }

    /// Like [`ServeProcess::start`], with extra environment variables for the server.
    pub async fn start_with_env(
        binary: &str,
        database_url: &str,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<Self, String> {
        Self::start_on_port(binary, database_url, 0, extra, envs).await
    }

    /// Like [`ServeProcess::start_with_env`], on a given port (0: a free one): a server that
    /// takes the place of one that died, at the address a proxy in front already knows.
    pub async fn start_on_port(
        binary: &str,
        database_url: &str,
        port: u16,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<Self, String> {
        let port = port.to_string();
        let mut child = Command::new(binary)
            .envs(envs.iter().copied())
            .env("DATABASE_URL", database_url)
            .env_remove("PORT")
            .env("RAPTOR_LOG", "info")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .args(["serve", "--host", "127.0.0.1", "--port", &port])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut seen = String::new();
        let announced = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                seen.push_str(&line);
                seen.push('\n');
                if let Some(at) = line.find("Listening on ") {
                    let rest = &line[at + "Listening on ".len()..];
                    return rest.split_whitespace().next().map(str::to_owned);
                }
            }
            None
        })
        .await
        .expect("serve neither listened nor exited");
        match announced {
            Some(base_url) => {
                // Keep reading the log so the server never blocks on a full pipe.
                let log = Arc::new((Mutex::new(seen), Notify::new()));
                let kept = log.clone();
                tokio::spawn(async move {
                    while let Ok(Some(line)) = lines.next_line().await {
                        let mut text = kept.0.lock().expect("lock");
                        text.push_str(&line);
                        text.push('\n');
                        kept.1.notify_waiters();
                    }
                });
                Ok(Self {
                    child,
                    base_url,
                    log,
                })
            }
            None => Err(seen),
        }
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        self.log.0.lock().expect("lock").clone()
    }

    /// Waits (up to a minute) for a log line containing `needle`, and returns that line.
    pub async fn log_line(&self, needle: &str) -> String {
        let find = || {
            self.log()
                .lines()
                .find(|line| line.contains(needle))
                .map(str::to_owned)
        };
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let rung = self.log.1.notified();
                if let Some(line) = find() {
                    return line;
                }
                rung.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no log line with {needle:?} in:\n{}", self.log()))
    }

    /// GETs /healthz, expecting 200.
    pub async fn health(&self) -> serde_json::Value {
        let response = reqwest::get(format!("{}/healthz", self.base_url))
            .await
            .expect("GET");
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.expect("json")
    }

    /// Kills it with SIGKILL (`kill -9`: no shutdown of any kind) and waits for it to be gone.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill -9");
    }

    /// Sends SIGTERM and waits for the exit.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running").to_string();
        let kill = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill");
        assert!(kill.success());
        self.child.wait().await.expect("wait")
    }
}
