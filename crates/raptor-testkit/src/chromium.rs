//! Headless Chromium from the distribution's packages, driven over the DevTools protocol, so
//! browser tests exercise Chromium's real WebAuthn stack (with a virtual authenticator).

use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const HOW_TO_INSTALL: &str = "browser tests need Chromium: run ./scripts/test (it installs \
Debian's chromium-headless-shell), or `apt-get install chromium-headless-shell`, or point \
RAPTOR_CHROMIUM at a Chromium binary";

/// A running headless Chromium and one page in it.
pub struct Chromium {
    child: Child,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    session: Option<String>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

fn binary() -> String {
    if let Ok(path) = std::env::var("RAPTOR_CHROMIUM") {
        return path;
    }
    [
        "chromium-headless-shell",
        "chromium",
        "/usr/lib/chromium/chromium",
    ]
    .into_iter()
    .find(|name| {
        std::process::Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
    .map(str::to_owned)
    .unwrap_or_else(|| panic!("{HOW_TO_INSTALL}"))
}

impl Chromium {
    /// Starts Chromium headless with a fresh profile and opens a blank page.
    ///
    /// # Panics
    /// When no Chromium is installed: the message says how to get one.
    pub async fn launch() -> Self {
        Self::launch_with(&[]).await
    }

    /// Starts Chromium with no way out but loopback: every host name but localhost fails to
    /// resolve and everything else goes to a proxy that is not there. A page that works
    /// here needs nothing from the internet.
    pub async fn launch_offline() -> Self {
        Self::launch_with(&[
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
            "--proxy-server=socks5://127.0.0.1:9",
        ])
        .await
    }

    async fn launch_with(extra_args: &[&str]) -> Self {
        let profile = tempfile::tempdir().expect("profile directory");
        let mut child = Command::new(binary())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .args(extra_args)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{HOW_TO_INSTALL}: {e}"));
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let endpoint = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("ws://") {
                    return Some(line[at..].trim().to_owned());
                }
            }
            None
        })
        .await
        .expect("Chromium did not announce its DevTools endpoint")
        .expect("Chromium exited before announcing its DevTools endpoint");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (socket, _) = tokio_tungstenite::connect_async(endpoint.as_str())
            .await
            .expect("connect to DevTools");
        let mut chromium = Self {
            child,
            socket,
            session: None,
            next_id: 0,
            _profile: profile,
        };
        let target = chromium
            .call("Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let attached = chromium
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        chromium.session = attached["sessionId"].as_str().map(str::to_owned);
        chromium
    }

    /// Sends a DevTools command (to the page once attached) and returns its result.
    ///
    /// # Panics
    /// When the browser answers with an error.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = &self.session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("send to DevTools");
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(60), self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"))
                .expect("DevTools closed")
                .expect("DevTools frame");
            let Message::Text(text) = frame else { continue };
            let reply: Value = serde_json::from_str(&text).expect("DevTools JSON");
            if reply["id"] != json!(id) {
                continue; // an event
            }
            if let Some(error) = reply.get("error") {
                panic!("{method} failed: {error}");
            }
            return reply["result"].clone();
        }
    }

    /// Navigates and waits for the page's load event.
    pub async fn goto(&mut self, url: &str) {
        self.call("Page.enable", json!({})).await;
        self.call("Page.navigate", json!({ "url": url })).await;
        self.eval("new Promise(r => document.readyState === 'complete' ? r() : addEventListener('load', () => r()))")
            .await;
    }

    /// Evaluates JavaScript in the page, awaiting a promise, and returns its value.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .await;
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression} threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Gives the page a platform authenticator that holds discoverable passkeys and verifies
    /// the user: Chromium's own virtual authenticator. Returns its id.
    pub async fn add_virtual_authenticator(&mut self) -> String {
        self.call("WebAuthn.enable", json!({ "enableUI": false }))
            .await;
        let added = self
            .call(
                "WebAuthn.addVirtualAuthenticator",
                json!({ "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserVerified": true,
                    "automaticPresenceSimulation": true
                }}),
            )
            .await;
        added["authenticatorId"]
            .as_str()
            .expect("authenticator id")
            .to_owned()
    }

    /// Closes the browser.
    pub async fn close(mut self) {
        let _ = self.child.kill().await;
    }
}
