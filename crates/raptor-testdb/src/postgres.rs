//! A PostgreSQL server for tests: `RAPTOR_TEST_DATABASE_URL`, or a throwaway cluster; and
//! [`PgCluster`], a throwaway cluster of a test's own for tests that restart their database.
//!
//! Sessions and CI run as root and `postgres` refuses to, so as root the cluster is run as the
//! `postgres` system user in a directory it owns. A watchdog stops the cluster and removes its
//! directory once the test process has exited.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use tokio::sync::OnceCell;

const HOW_TO_INSTALL: &str = "PostgreSQL tests need a server. Run `./scripts/test` (it installs \
PostgreSQL with apt-get when missing), or install it yourself (`apt-get install postgresql`), or \
set RAPTOR_TEST_DATABASE_URL to a server where this role may CREATE DATABASE";

static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// URL of the server's maintenance database, starting a cluster on first use.
///
/// # Panics
/// When no PostgreSQL can be had: the message says how to get one.
pub fn admin_url() -> &'static str {
    match SERVER.get_or_init(start_server) {
        Ok(url) => url,
        Err(message) => panic!("{message}"),
    }
}

/// The server's TCP address (for proxies that stand between a test and the server).
pub async fn server_addr() -> SocketAddr {
    let url = url::Url::parse(admin_url()).expect("admin URL parses");
    let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = url.port().unwrap_or(5432);
    let mut addrs = tokio::net::lookup_host(format!("{host}:{port}"))
        .await
        .expect("resolve the test server");
    addrs.next().expect("the test server has an address")
}

/// The URL of database `name` on the test server.
pub(crate) fn database_url(name: &str) -> String {
    let mut url = url::Url::parse(admin_url()).expect("admin URL parses");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// The name of a template database holding the embedded schema at head, built once per
/// history (its name carries the migrations' fingerprint) and shared by every test process.
pub(crate) async fn template() -> &'static str {
    TEMPLATE.get_or_init(build_template).await
}

async fn build_template() -> String {
    use sqlx::{Connection, PgConnection};
    let migrator = raptor_store::migrate::Migrator::embedded();
    let name = format!("raptor_tpl_{}", &migrator.fingerprint()[..16]);
    let mut admin = PgConnection::connect(admin_url())
        .await
        .expect("connect to the test server");
    // Serialises template builds across test processes sharing one server.
    sqlx::query("SELECT pg_advisory_lock(7261707465737431)")
        .execute(&mut admin)
        .await
        .expect("template lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .expect("look up the template");
    if !exists {
        let building = format!("{name}_building");
        for sql in [
            format!("DROP DATABASE IF EXISTS \"{building}\""),
            format!("CREATE DATABASE \"{building}\""),
        ] {
            sqlx::raw_sql(&sql)
                .execute(&mut admin)
                .await
                .expect("create the template database");
        }
        let url = raptor_store::DatabaseUrl::parse(&database_url(&building)).expect("url");
        let db = raptor_store::Db::connect(&url)
            .await
            .expect("connect to the template");
        migrator
            .upgrade(&db, "head")
            .await
            .expect("migrate the template");
        db.close().await;
        sqlx::raw_sql(&format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
        ))
        .execute(&mut admin)
        .await
        .expect("publish the template");
    }
    let _ = admin.close().await;
    name
}

fn start_server() -> Result<String, String> {
    if let Some(url) = std::env::var("RAPTOR_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        return Ok(url);
    }
    let cluster = PgCluster::start()?;
    let url = cluster.url();
    cluster.keep();
    Ok(url)
}

fn find_bindir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|d| has_tools(d)) {
            return Some(dir);
        }
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_tools(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| has_tools(d))
        .collect();
    versions.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

/// A throwaway PostgreSQL cluster of one test's own, which the test may restart: the shared
/// test server must never be restarted, so a test that restarts its database starts one of
/// these. Dropping it stops the cluster at once and removes its directory; should the test
/// process die first, a watchdog does both once it has gone.
pub struct PgCluster {
    bindir: PathBuf,
    /// The cluster's directory: `data/`, the socket and `server.log`.
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

impl PgCluster {
    /// Creates and starts a cluster on a free local port (trust authentication, no fsync).
    ///
    /// # Errors
    /// When no PostgreSQL server binaries are installed or the cluster does not start; the
    /// message says how to install them.
    pub fn start() -> Result<Self, String> {
        let bindir = find_bindir().ok_or_else(|| {
            format!("{HOW_TO_INSTALL}. (No initdb/pg_ctl on PATH, via pg_config --bindir, or under /usr/lib/postgresql/*/bin.)")
        })?;
        Self::start_with(&bindir)
            .map_err(|err| format!("{HOW_TO_INSTALL}. Starting a throwaway cluster failed: {err}"))
    }

    fn start_with(bindir: &Path) -> Result<Self, String> {
        let as_root = is_root();
        let dir = tempfile::Builder::new()
            .prefix("raptor-pg-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("cannot create a cluster directory: {e}"))?
            .keep();
        // Watched from the start, so even a failed start leaves nothing behind.
        spawn_watchdog(as_root, bindir, &dir);
        let data = dir.join("data");
        if as_root {
            run(Command::new("chown").args(["postgres:postgres"]).arg(&dir))?;
        }
        run(pg_command(as_root, &bindir.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]))?;
        let port = free_port()?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            dir.display()
        );
        let cluster = Self {
            bindir: bindir.to_owned(),
            dir,
            port,
            as_root,
        };
        // `pg_ctl restart` starts the server again with these same options.
        run(cluster.pg_ctl().args(["-o", &options, "start"]))?;
        Ok(cluster)
    }

    /// The URL of its maintenance database, `postgres`, as the `postgres` superuser.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port it listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log so far (what it said while stopping and starting, say).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// `pg_ctl restart -m fast`: ends every session (clients see their connections closed),
    /// shuts down cleanly and starts again; returns once the server accepts connections.
    ///
    /// # Errors
    /// When `pg_ctl` fails, with its output.
    pub async fn restart(&self) -> Result<(), String> {
        let mut cmd = self.pg_ctl();
        cmd.args(["-m", "fast", "restart"]);
        tokio::task::spawn_blocking(move || run(&mut cmd))
            .await
            .map_err(|e| format!("pg_ctl restart: {e}"))?
    }

    /// `pg_ctl -D DATA -l LOG -w -t 60`, as the cluster's owner: the log keeps the server's
    /// output off `pg_ctl`'s own pipes, which would otherwise stay open as long as it runs.
    fn pg_ctl(&self) -> Command {
        let mut cmd = pg_command(self.as_root, &self.bindir.join("pg_ctl"));
        cmd.arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60"]);
        cmd
    }

    /// Leaves the cluster running for the rest of the process (the watchdog stops it after).
    fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let mut stop = self.pg_ctl();
        let _ = run(stop.args(["-m", "immediate", "stop"]));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pg_command(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Stops the cluster once this process is gone: there is no reliable exit hook for statics.
fn spawn_watchdog(as_root: bool, bindir: &Path, dir: &Path) {
    use std::os::unix::process::CommandExt;
    let runner = if as_root {
        "runuser -u postgres -- "
    } else {
        ""
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         {runner}'{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        pg_ctl = bindir.join("pg_ctl").display(),
        data = dir.join("data").display(),
        dir = dir.display(),
    );
    let spawned = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    if let Err(err) = spawned {
        eprintln!(
            "raptor-testkit: no watchdog for the test cluster in {}: {err}",
            dir.display()
        );
    }
}
