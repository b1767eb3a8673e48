//! Three `raptor serve` behind HAProxy over one PostgreSQL, under a mixed load (passkey
//! sign-ups and sign-ins, bars, account reads, orders) while one server is killed with
//! `kill -9` and started again and PostgreSQL restarts. Afterwards: every acknowledged order
//! is in the database exactly once, errors happened only while a fault lasted, and each was a
//! 503 or a refused or cut connection, never a 500.
//!
//! The load runs `RAPTOR_CLUSTER_SECONDS` (24 unless set) with `RAPTOR_CLUSTER_SCALE` times
//! the clients (1 unless set); `scripts/bench/cluster` runs it longer and shows the report
//! this prints.

mod haproxy;
mod load;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haproxy::{Haproxy, Stats};
use load::{Kind, Load, Outcomes, Sample};
use raptor_testkit::{Browser, PgCluster, ServeProcess};

use crate::common::{raptor, stderr, RAPTOR};

/// How long errors may still come after the system is observed healthy again: a request
/// that was already on its way when the observation was made.
const GRACE: Duration = Duration::from_secs(1);
/// The longest any fault may take to heal before the test gives up.
const HEAL_DEADLINE: Duration = Duration::from_secs(30);
/// Load tasks of each kind, times `RAPTOR_CLUSTER_SCALE` (1 unless set).
const TRADERS: usize = 6;
const NEWCOMERS: usize = 2;
const BAR_READERS: usize = 2;
const ACCOUNT_READERS: usize = 2;
/// The session of bars seeded, and the read of all of it.
const SYMBOL: &str = "AAPL";
const BARS: usize = 390;
const BARS_PATH: &str =
    "/api/historical-data/AAPL?timeframe=1Min&start=2026-03-02T14:30:00Z&end=2026-03-02T21:00:00Z";

/// A fault, from when it began until the system was seen healthy again.
#[derive(Debug, Clone)]
struct Window {
    name: &'static str,
    start: Duration,
    healthy: Duration,
}

impl Window {
    /// Whether a request that ran from `start` to `end` overlapped this window or its grace.
    fn covers(&self, sample: &Sample) -> bool {
        sample.end >= self.start && sample.start <= self.healthy + GRACE
    }
}

/// The servers, the proxy and the database, all of the test's own.
struct Cluster {
    // Dropped in this order: the proxy, the servers, then the database under them.
    proxy: Haproxy,
    servers: Vec<Option<ServeProcess>>,
    db: PgCluster,
    url: String,
    ports: Vec<u16>,
    envs: Vec<(String, String)>,
    origin: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One session (2026-03-02, 390 one-minute bars) of a price near 100.
fn bars_csv(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("bars.csv");
    let mut file = std::fs::File::create(&path).expect("create the bars file");
    writeln!(
        file,
        "timestamp,open,high,low,close,volume,trade_count,vwap"
    )
    .expect("write");
    let open = chrono::DateTime::parse_from_rfc3339("2026-03-02T14:30:00Z").expect("a time");
    for minute in 0..BARS {
        let at = open + chrono::Duration::minutes(i64::try_from(minute).expect("minutes"));
        let step = f64::from(u32::try_from(minute).expect("minutes"));
        let close = 100.0 + (step / 30.0).sin() * 2.0;
        writeln!(
            file,
            "{},{close:.2},{:.2},{:.2},{close:.2},1000,10,{close:.2}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            close + 0.5,
            close - 0.5,
        )
        .expect("write");
    }
    path
}

impl Cluster {
    async fn start() -> Self {
        let db = tokio::task::spawn_blocking(PgCluster::start)
            .await
            .expect("start the cluster")
            .unwrap_or_else(|e| panic!("{e}"));
        let url = db.url();
        let cli = raptor().database(&url);
        let upgraded = cli.run(&["db", "upgrade", "head"]).await;
        assert!(upgraded.status.success(), "{}", stderr(&upgraded));
        let dir = tempfile::tempdir().expect("a directory for the proxy");
        let csv = bars_csv(dir.path());
        let imported = cli
            .run(&[
                "bars",
                "import",
                csv.to_str().expect("a path"),
                "--symbol",
                SYMBOL,
                "--timeframe",
                "1Min",
            ])
            .await;
        assert!(imported.status.success(), "{}", stderr(&imported));

        let proxy_port = free_port();
        let origin = format!("http://localhost:{proxy_port}");
        let envs = vec![
            ("RAPTOR_PUBLIC_URL".to_owned(), origin.clone()),
            ("RAPTOR_TRUST_PROXY".to_owned(), "true".to_owned()),
        ];
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut servers = Vec::new();
        for &port in &ports {
            servers.push(Some(serve(&url, port, &envs).await));
        }
        let proxy = Haproxy::start(dir.path(), proxy_port, free_port(), &ports).await;
        let cluster = Self {
            db,
            url,
            ports,
            servers,
            envs,
            proxy,
            origin,
            _dir: dir,
        };
        cluster
            .settle(&[true, true, true], "the proxy to see three servers up")
            .await;
        cluster
    }

    /// Starts server `i` again on its port.
    async fn restart_server(&mut self, i: usize) {
        self.servers[i] = Some(serve(&self.url, self.ports[i], &self.envs).await);
    }

    /// Waits until the proxy has each server in or out as `up` says, with no change of mind
    /// pending, and returns the stats it saw then.
    async fn settle(&self, up: &[bool], what: &str) -> Stats {
        let deadline = Instant::now() + HEAL_DEADLINE;
        loop {
            let stats = self.proxy.stats().await;
            if let Ok(stats) = &stats {
                if stats.settled(up) {
                    return stats.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "waited {HEAL_DEADLINE:?} for {what}; the proxy says {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every running server's own `/healthz` answers 200.
    async fn servers_healthy(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + HEAL_DEADLINE;
        for server in self.servers.iter().flatten() {
            loop {
                let url = format!("{}/healthz", server.base_url);
                let status = client.get(&url).send().await.map(|r| r.status().as_u16());
                if status.as_ref().is_ok_and(|s| *s == 200) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{url} still answers {status:?} after {HEAL_DEADLINE:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Logs of the servers, for a failure's message.
    fn server_logs(&self) -> String {
        let mut text = String::new();
        for (i, server) in self.servers.iter().enumerate() {
            if let Some(server) = server {
                let log = server.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                let _ = writeln!(text, "--- server {i}, last lines:");
                for line in tail.into_iter().rev() {
                    let _ = writeln!(text, "{line}");
                }
            }
        }
        text
    }
}

/// Starts `raptor serve` over `url` on `port`.
async fn serve(url: &str, port: u16, envs: &[(String, String)]) -> ServeProcess {
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ServeProcess::start_on_port(RAPTOR, url, port, &[], &envs)
        .await
        .unwrap_or_else(|log| panic!("the server on port {port} did not start: {log}"))
}

/// A whole number from the environment, when set and at least `min`.
fn setting(name: &str, min: u64, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|s| *s >= min)
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_server_cluster_keeps_every_acknowledged_order_and_fails_only_with_503_while_a_fault_lasts(
) {
    let seconds = setting("RAPTOR_CLUSTER_SECONDS", 10, 24);
    let scale = usize::try_from(setting("RAPTOR_CLUSTER_SCALE", 1, 1)).expect("a scale");
    let mut cluster = Cluster::start().await;
    let traders = sign_up_traders(&cluster, TRADERS * scale).await;

    let load = Arc::new(Load::new(
        &cluster.proxy.base_url,
        &cluster.origin,
        Duration::from_secs(seconds),
    ));
    let mut tasks = spawn_load(&load, &traders, scale);
    let faults = inject_faults(&mut cluster, &load, seconds).await;
    let mut outcomes = Outcomes::default();
    while let Some(done) = tasks.join_next().await {
        outcomes.merge(done.expect("a load task"));
    }
    let elapsed = load.t0.elapsed();
    let end_stats = cluster.proxy.stats().await.expect("the proxy's stats");
    let orders = OrderCheck::new(&outcomes, stored_orders(&cluster.url).await);

    let windows = &faults.windows;
    let errors: Vec<&Sample> = outcomes
        .samples
        .iter()
        .filter(|s| s.outcome.is_error())
        .collect();
    let outside: Vec<&&Sample> = errors
        .iter()
        .filter(|s| !windows.iter().any(|w| w.covers(s)))
        .collect();
    let not_allowed: Vec<&&Sample> = errors.iter().filter(|s| !s.is_allowed_error()).collect();

    // Shown with `--nocapture`, and by the test harness when the test fails.
    println!(
        "{}",
        report(seconds, elapsed, &outcomes, windows, &end_stats, &orders)
    );
    let context = || {
        format!(
            "{}\n--- haproxy log:\n{}",
            cluster.server_logs(),
            cluster.proxy.log()
        )
    };

    assert!(
        orders.missing.is_empty() && orders.strays.is_empty(),
        "acknowledged orders not stored exactly once: {:#?}; stored orders nobody sent: \
         {:?}\n{}",
        orders.missing,
        orders.strays,
        context()
    );
    assert!(
        outside.is_empty(),
        "{} errors outside every fault window (+{GRACE:?}):\n{}\n{}",
        outside.len(),
        list(&outside),
        context()
    );
    assert!(
        not_allowed.is_empty(),
        "{} errors that were neither a 503 nor a refused or cut connection (nor the proxy's \
         502 for one):\n{}\n{}",
        not_allowed.len(),
        list(&not_allowed),
        context()
    );
    assert!(
        outcomes.wrong.is_empty(),
        "2xx answers with wrong bodies: {:#?}\n{}",
        outcomes.wrong,
        context()
    );
    // The load made progress of every kind, orders went through after the last fault, and
    // the restarted server took its share again.
    for kind in Kind::ALL {
        assert!(
            outcomes
                .samples
                .iter()
                .any(|s| s.kind == kind && !s.outcome.is_error()),
            "no {} request succeeded\n{}",
            kind.name(),
            context()
        );
    }
    let last_healed = windows.iter().map(|w| w.healthy).max().unwrap_or_default();
    assert!(
        outcomes
            .samples
            .iter()
            .any(|s| s.kind == Kind::Order && s.start > last_healed && !s.outcome.is_error()),
        "no order was acknowledged after the last fault healed\n{}",
        context()
    );
    assert!(
        end_stats.server(KILLED).sessions > faults.restarted_sessions,
        "the restarted server was sent no request after it came back\n{}",
        context()
    );
}

/// Traders sign up before the load, through the proxy, as anyone would; their browsers.
async fn sign_up_traders(cluster: &Cluster, n: usize) -> Vec<Browser> {
    let setup = Load::new(&cluster.proxy.base_url, &cluster.origin, Duration::ZERO);
    let mut traders = Vec::new();
    for i in 0..n {
        let mut out = Outcomes::default();
        let mut browser = setup.browser();
        let mut passkey = setup.passkey();
        let email = format!("trader-{i}@example.com");
        assert!(
            setup
                .sign_up(&mut out, &mut browser, &mut passkey, &email)
                .await,
            "trader {i} could not sign up: {:?}",
            out.samples
        );
        traders.push(browser);
    }
    traders
}

/// Starts every load task: traders (each also reading its account), account readers, bar
/// readers and newcomers signing up and in.
fn spawn_load(
    load: &Arc<Load>,
    traders: &[Browser],
    scale: usize,
) -> tokio::task::JoinSet<Outcomes> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, browser) in traders.iter().enumerate() {
        let (load, browser) = (load.clone(), browser.clone());
        tasks.spawn(async move { load.trader(i, browser, SYMBOL).await });
    }
    for i in 0..ACCOUNT_READERS * scale {
        let (load, browser) = (load.clone(), traders[i % traders.len()].clone());
        tasks.spawn(async move { load.account_reader(browser).await });
    }
    for _ in 0..BAR_READERS * scale {
        let load = load.clone();
        tasks.spawn(async move { load.bars_reader(BARS_PATH, BARS).await });
    }
    for i in 0..NEWCOMERS * scale {
        let load = load.clone();
        tasks.spawn(async move { load.newcomers(i).await });
    }
    tasks
}

/// The server killed and started again.
const KILLED: usize = 1;

/// What the faults were, and the restarted server's request count when it came back.
struct Faults {
    windows: Vec<Window>,
    restarted_sessions: u64,
}

/// At a fifth of the run, kills server [`KILLED`] with SIGKILL; at two fifths, starts it
/// again on its port; at three fifths, restarts PostgreSQL in fast mode. Each fault's window
/// closes when the system is seen healthy again: the proxy has the servers that run (and
/// only those) up, with no change of mind pending, and after the database restart every
/// server's own `/healthz` answers 200 too.
async fn inject_faults(cluster: &mut Cluster, load: &Load, seconds: u64) -> Faults {
    let at = |fraction: f64| {
        tokio::time::Instant::from_std(load.t0) + Duration::from_secs_f64(seconds as f64 * fraction)
    };
    let mut windows = Vec::new();

    tokio::time::sleep_until(at(0.2)).await;
    let start = load.t0.elapsed();
    let killed = cluster.servers[KILLED].take().expect("running");
    killed.kill().await;
    let mut up = [true; 3];
    up[KILLED] = false;
    cluster
        .settle(&up, "the proxy to take the killed server out")
        .await;
    windows.push(Window {
        name: "kill -9 of server 1",
        start,
        healthy: load.t0.elapsed(),
    });

    tokio::time::sleep_until(at(0.4)).await;
    let start = load.t0.elapsed();
    cluster.restart_server(KILLED).await;
    let back = cluster
        .settle(&[true; 3], "the proxy to take the restarted server back")
        .await;
    windows.push(Window {
        name: "server 1 started again",
        start,
        healthy: load.t0.elapsed(),
    });

    tokio::time::sleep_until(at(0.6)).await;
    let start = load.t0.elapsed();
    cluster.db.restart().await.unwrap_or_else(|e| panic!("{e}"));
    cluster.servers_healthy().await;
    cluster
        .settle(
            &[true; 3],
            "the proxy to see every server up after PostgreSQL restarted",
        )
        .await;
    windows.push(Window {
        name: "PostgreSQL restart (fast)",
        start,
        healthy: load.t0.elapsed(),
    });
    Faults {
        windows,
        restarted_sessions: back.server(KILLED).sessions,
    }
}

/// The acknowledged orders against the stored ones.
struct OrderCheck {
    /// Acknowledged orders not stored exactly once under the id their answer gave.
    missing: Vec<String>,
    /// Stored orders under a `client_order_id` no trader sent.
    strays: Vec<String>,
    /// How many orders are stored.
    stored: usize,
    /// Of those, how many no answer acknowledged.
    unacknowledged: usize,
}

impl OrderCheck {
    fn new(outcomes: &Outcomes, stored: HashMap<String, Vec<i64>>) -> Self {
        let mut missing = Vec::new();
        for acked in &outcomes.acked {
            match stored.get(&acked.client_order_id).map(Vec::as_slice) {
                Some([id]) if *id == acked.id => {}
                other => missing.push(format!(
                    "{} (answered id {}): stored as {other:?}",
                    acked.client_order_id, acked.id
                )),
            }
        }
        let sent: HashSet<&str> = outcomes.attempted.iter().map(String::as_str).collect();
        let acked: HashSet<&str> = outcomes
            .acked
            .iter()
            .map(|a| a.client_order_id.as_str())
            .collect();
        Self {
            missing,
            strays: stored
                .keys()
                .filter(|id| !sent.contains(id.as_str()))
                .cloned()
                .collect(),
            stored: stored.len(),
            unacknowledged: stored
                .keys()
                .filter(|id| !acked.contains(id.as_str()))
                .count(),
        }
    }
}

/// The first 20 samples, one a line.
fn list(samples: &[&&Sample]) -> String {
    samples
        .iter()
        .take(20)
        .map(|s| format!("  {s}\n"))
        .collect()
}

/// Every stored order's id, by `client_order_id`.
async fn stored_orders(url: &str) -> HashMap<String, Vec<i64>> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .expect("connect to the cluster's database");
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT client_order_id, id FROM paper_orders ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .expect("read the orders");
    let mut stored: HashMap<String, Vec<i64>> = HashMap::new();
    for (client_order_id, id) in rows {
        stored.entry(client_order_id).or_default().push(id);
    }
    stored
}

/// The run in a few tables: requests by kind, the fault windows and their errors, orders.
fn report(
    seconds: u64,
    elapsed: Duration,
    outcomes: &Outcomes,
    windows: &[Window],
    stats: &Stats,
    orders: &OrderCheck,
) -> String {
    let mut text = String::new();
    let secs = elapsed.as_secs_f64();
    let _ = writeln!(
        text,
        "cluster: {seconds} s of load ({secs:.1} s with the last answers) through HAProxy, 3 \
         raptor serve, 1 PostgreSQL"
    );
    let _ = writeln!(
        text,
        "{:<9} {:>8} {:>8} {:>7} {:>9} {:>8} {:>8}",
        "kind", "requests", "2xx", "errors", "req/s", "p50 ms", "p99 ms"
    );
    let mut row = |name: &str, of_kind: Vec<&Sample>| {
        let errors = of_kind.iter().filter(|s| s.outcome.is_error()).count();
        let mut millis: Vec<f64> = of_kind
            .iter()
            .map(|s| (s.end - s.start).as_secs_f64() * 1000.0)
            .collect();
        millis.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let i = ((millis.len() as f64 - 1.0) * q).round();
            millis.get(i as usize).copied().unwrap_or(0.0)
        };
        let _ = writeln!(
            text,
            "{:<9} {:>8} {:>8} {:>7} {:>9.1} {:>8.1} {:>8.1}",
            name,
            of_kind.len(),
            of_kind.len() - errors,
            errors,
            of_kind.len() as f64 / secs,
            at(0.5),
            at(0.99)
        );
    };
    for kind in Kind::ALL {
        row(
            kind.name(),
            outcomes.samples.iter().filter(|s| s.kind == kind).collect(),
        );
    }
    row("all", outcomes.samples.iter().collect());
    let _ = writeln!(
        text,
        "fault windows (errors by kind and status, counted when the request overlapped the window \
         + {GRACE:?}):"
    );
    let mut counted = HashSet::new();
    for w in windows {
        let mut by_outcome: BTreeMap<String, usize> = BTreeMap::new();
        for (i, s) in outcomes.samples.iter().enumerate() {
            if s.outcome.is_error() && w.covers(s) {
                counted.insert(i);
                *by_outcome
                    .entry(format!("{} {}", s.kind.name(), s.label()))
                    .or_default() += 1;
            }
        }
        let _ = writeln!(
            text,
            "  {:<28} {:>6.2} s .. healthy at {:>6.2} s ({:>5.2} s): errors {:?}",
            w.name,
            w.start.as_secs_f64(),
            w.healthy.as_secs_f64(),
            (w.healthy - w.start).as_secs_f64(),
            by_outcome
        );
    }
    let mut outside: BTreeMap<String, usize> = BTreeMap::new();
    for (i, s) in outcomes.samples.iter().enumerate() {
        if s.outcome.is_error() && !counted.contains(&i) {
            *outside
                .entry(format!("{} {}", s.kind.name(), s.label()))
                .or_default() += 1;
        }
    }
    let _ = writeln!(text, "  outside every window: errors {outside:?}");
    let _ = writeln!(
        text,
        "orders: {} sent, {} acknowledged ({} of them by a retry, answered with the order an \
         unanswered attempt had placed), {} stored ({} of them never acknowledged)",
        outcomes.attempted.len(),
        outcomes.acked.len(),
        outcomes.acked.iter().filter(|a| !a.created).count(),
        orders.stored,
        orders.unacknowledged,
    );
    let _ = writeln!(
        text,
        "haproxy: {} retries ({} to another server), {} connection errors, {} broken answers; \
         requests per server {:?}",
        stats.backend.retries,
        stats.backend.redispatches,
        stats.backend.connection_errors,
        stats.backend.response_errors,
        stats
            .servers
            .iter()
            .map(|s| (s.name.as_str(), s.sessions))
            .collect::<Vec<_>>()
    );
    text
}
