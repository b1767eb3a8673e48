//! A TCP proxy that a test can cut and restore, to make a real database unreachable.

use std::net::SocketAddr;

use raptor_store::{DatabaseUrl, Db};
use raptor_testdb::TestDb;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Forwards local connections to `upstream` while open.
pub struct TcpProxy {
    addr: SocketAddr,
    open: watch::Sender<bool>,
    /// How many connections are being forwarded.
    live: watch::Sender<usize>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts forwarding from a free local port.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (open, _) = watch::channel(true);
        let (live, _) = watch::channel(0_usize);
        let gate = open.clone();
        let count = live.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                // Counted before the gate is read, so `cut` waits for it or it sees the cut.
                count.send_modify(|n| *n += 1);
                if !*gate.borrow() {
                    count.send_modify(|n| *n -= 1);
                    continue; // dropping the socket refuses the connection
                }
                let (gate, count) = (gate.subscribe(), count.clone());
                tokio::spawn(async move {
                    forward(client, upstream, gate).await;
                    count.send_modify(|n| *n -= 1);
                });
            }
        });
        Self {
            addr,
            open,
            live,
            task,
        }
    }

    /// A pool on `t`'s PostgreSQL database whose every connection passes through a new proxy,
    /// so the test can cut the database away from a running server.
    pub async fn in_front_of(t: &TestDb) -> (Self, Db) {
        let proxy = Self::start(raptor_testdb::server_addr().await).await;
        let mut through = url::Url::parse(t.url()).expect("the test database's URL");
        through.set_port(Some(proxy.addr().port())).expect("a port");
        let url = DatabaseUrl::parse(through.as_str()).expect("a database URL");
        let db = Db::connect(&url).await.expect("connect through the proxy");
        (proxy, db)
    }

    /// The address to connect to instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every forwarded connection and refuses new ones; returns once every forwarded
    /// connection is closed, so the next query cannot slip through an old one.
    pub async fn cut(&self) {
        self.open.send_replace(false);
        let _ = self.live.subscribe().wait_for(|n| *n == 0).await;
    }

    /// Accepts and forwards connections again.
    pub fn restore(&self) {
        self.open.send_replace(true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.open.send_replace(false);
        self.task.abort();
    }
}

async fn forward(mut client: TcpStream, upstream: SocketAddr, mut open: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = open.wait_for(|open| !open) => {}
    }
}
