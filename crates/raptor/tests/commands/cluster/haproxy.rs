//! Debian's HAProxy in front of the servers, as a deployment would put it: health checks on
//! `/healthz`, a request whose server died or refused it sent again to another server, and the
//! stats page, which tells the test what the proxy thinks of each server.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// How often the proxy checks each server, and how many checks in a row change its mind.
pub const CHECK_INTERVAL_MS: u64 = 200;

/// A running HAProxy, killed when dropped.
pub struct Haproxy {
    child: Child,
    /// `http://127.0.0.1:PORT`, where clients connect.
    pub base_url: String,
    stats_url: String,
    log: PathBuf,
    client: reqwest::Client,
}

/// One server as the proxy sees it at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStat {
    /// `r0`, `r1`, `r2`: the server's index in the cluster.
    pub name: String,
    /// `UP`, `DOWN`, `UP 1/2` (failing, not yet taken out), `DOWN 1/2` (passing, not yet back).
    pub status: String,
    /// Requests it was sent.
    pub sessions: u64,
}

/// The proxy's counters for the whole backend, for the report.
#[derive(Debug, Clone, Copy, Default)]
pub struct BackendStat {
    /// Requests sent again (to the same or another server) after a failure.
    pub retries: u64,
    /// Of those, sent to another server.
    pub redispatches: u64,
    /// Connection errors to servers.
    pub connection_errors: u64,
    /// Answers from servers that broke off.
    pub response_errors: u64,
}

/// Every server, and the backend's counters.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// The servers, in configuration order.
    pub servers: Vec<ServerStat>,
    /// The backend as a whole.
    pub backend: BackendStat,
}

impl Stats {
    /// The server at `index`.
    pub fn server(&self, index: usize) -> &ServerStat {
        let name = format!("r{index}");
        self.servers
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no server {name} in {self:?}"))
    }

    /// Whether the proxy has each server in or out as `up` says, with no check pending a
    /// change of mind (`UP`, not `UP 1/2`).
    pub fn settled(&self, up: &[bool]) -> bool {
        up.iter().enumerate().all(|(i, &up)| {
            let status = &self.server(i).status;
            if up {
                status == "UP"
            } else {
                status == "DOWN"
            }
        })
    }
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("RAPTOR_HAPROXY").filter(|p| !p.is_empty()) {
        return path.into();
    }
    let on_path = std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("haproxy"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/haproxy"));
    assert!(
        on_path.is_file(),
        "the cluster test needs HAProxy: run ./scripts/test (it installs Debian's package with \
         apt-get when missing), or `apt-get install haproxy`, or set RAPTOR_HAPROXY to its path"
    );
    on_path
}

/// The configuration: round robin over the servers, each checked on `/healthz` every
/// [`CHECK_INTERVAL_MS`] and taken out after two failed checks, back after two good ones.
///
/// A request the chosen server refused (its process is gone) is sent to another server, up
/// to three times. So is one it dropped without a word (it died while serving), when sending
/// it again is safe: reads change nothing, and an order carries its `client_order_id` (sent
/// twice, the second answers the first order).
///
/// Three kinds of POST are not sent again once a server had them, because the server may have
/// committed before it died, and the proxy cannot know:
/// - finishing a passkey ceremony (sign-up, sign-in, step-up, adding a passkey): a second
///   server would find the ceremony used and answer 400 `unknown_ceremony`, blaming the client.
///   (A finish the server refused with 503 before committing leaves the ceremony, so the
///   client can send the same answer again.)
/// - an order on `/v2`, which need not carry a `client_order_id` (Alpaca's SDKs send none by
///   default): sent twice, it could be placed twice;
/// - making an API key: sent twice, it would make two.
///
/// The proxy answers 502 or closes the client's connection instead, its ways of saying the
/// server's connection broke off. (This load's `/api/orders` all carry a `client_order_id`, so
/// those are resent.)
///
/// A 503 from Raptor is passed on, not retried: every server shares the one database that
/// said it cannot serve, and the client knows when to come back (`Retry-After`).
fn config(port: u16, stats_port: u16, servers: &[u16]) -> String {
    let mut text = format!(
        "global
    maxconn 4096
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    timeout connect 1s
    timeout client 60s
    timeout server 20s
    timeout http-keep-alive 60s
    timeout check 2s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response junk-response

frontend api
    bind 127.0.0.1:{port}
    option forwardfor
    default_backend raptor

frontend stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats

backend raptor
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz
    http-check expect status 200
    acl not_idempotent path /api/auth/register /api/auth/login /api/auth/step-up /api/auth/passkeys /v2/orders /api/keys
    http-request disable-l7-retry if METH_POST not_idempotent
    default-server check inter {CHECK_INTERVAL_MS}ms fastinter {CHECK_INTERVAL_MS}ms downinter {CHECK_INTERVAL_MS}ms fall 2 rise 2
"
    );
    for (i, server) in servers.iter().enumerate() {
        text.push_str(&format!("    server r{i} 127.0.0.1:{server}\n"));
    }
    text
}

impl Haproxy {
    /// Writes the configuration into `dir`, checks it, starts HAProxy in the foreground
    /// (logging abnormal requests to `dir/haproxy.log`) and waits until its stats page
    /// answers, so it is listening.
    pub async fn start(dir: &Path, port: u16, stats_port: u16, servers: &[u16]) -> Self {
        let binary = binary();
        let config_path = dir.join("haproxy.cfg");
        std::fs::write(&config_path, config(port, stats_port, servers)).expect("write config");
        let check = Command::new(&binary)
            .arg("-c")
            .arg("-f")
            .arg(&config_path)
            .output()
            .await
            .expect("run haproxy -c");
        assert!(
            check.status.success(),
            "haproxy refused its configuration: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let log = dir.join("haproxy.log");
        let out = std::fs::File::create(&log).expect("create the proxy's log");
        let err = out.try_clone().expect("clone the log handle");
        let child = Command::new(&binary)
            .arg("-db")
            .arg("-f")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn haproxy");
        let mut proxy = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            stats_url: format!("http://127.0.0.1:{stats_port}/stats;csv"),
            log,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client"),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if proxy.stats().await.is_ok() {
                return proxy;
            }
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("haproxy exited ({status}): {}", proxy.log());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "haproxy did not answer on its stats port within 30 s: {}",
                proxy.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the proxy thinks of each server now, from its stats page.
    pub async fn stats(&self) -> Result<Stats, String> {
        let text = self
            .client
            .get(&self.stats_url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        parse_stats(&text)
    }

    /// Its log so far: one line per request that failed or was sent again, and its warnings.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn parse_stats(csv: &str) -> Result<Stats, String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .ok_or_else(|| format!("no CSV header in {csv:?}"))?
        .split(',')
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("no column {name} in the stats"))
    };
    let (px, sv, status, stot) = (
        column("pxname")?,
        column("svname")?,
        column("status")?,
        column("stot")?,
    );
    let (wretr, wredis, econ, eresp) = (
        column("wretr")?,
        column("wredis")?,
        column("econ")?,
        column("eresp")?,
    );
    let mut stats = Stats::default();
    for line in lines.filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or_default();
        let number = |i: usize| field(i).parse::<u64>().unwrap_or(0);
        if field(px) != "raptor" {
            continue;
        }
        match field(sv) {
            "BACKEND" => {
                stats.backend = BackendStat {
                    retries: number(wretr),
                    redispatches: number(wredis),
                    connection_errors: number(econ),
                    response_errors: number(eresp),
                }
            }
            "FRONTEND" => {}
            name => stats.servers.push(ServerStat {
                name: name.to_owned(),
                status: field(status).to_owned(),
                sessions: number(stot),
            }),
        }
    }
    if stats.servers.is_empty() {
        return Err(format!("no servers in the stats: {csv}"));
    }
    Ok(stats)
}
