//! A real Raptor HTTP server on a random local port, and a cookie-keeping client for it.

use std::sync::Arc;
use std::time::Duration;

use raptor_api::{ApiConfig, AppState, EdgeLimits, MetricsToken, WebhookSecrets};
use raptor_app::jobs::{self, Worker, WorkerConfig};
use raptor_app::mail::Mailer;
use raptor_app::market::BarSource;
use raptor_app::{App, Clock};
use raptor_store::Db;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::inbox::{Inbox, Tee};

/// How long a dropped [`TestApp`] waits for its requests in flight before cutting them.
const DROP_GRACE: Duration = Duration::from_secs(5);

/// A running server. [`TestApp::stop`] ends it and checks it ran without error; a server
/// dropped without that (its test panicked) is stopped in `Drop`.
pub struct TestApp {
    base_url: String,
    origin: String,
    /// A plain client (no cookies, no Origin).
    pub client: reqwest::Client,
    /// None once stopped.
    stop: Option<oneshot::Sender<()>>,
    /// None once stopped.
    task: Option<JoinHandle<std::io::Result<()>>>,
    /// The use cases' side, for running the jobs requests enqueue.
    app: App,
    /// What its mailer sent.
    inbox: Arc<Inbox>,
}

impl TestApp {
    /// Serves the API over `db` on 127.0.0.1 and a free port, mailing into the outbox (and
    /// keeping what it sent whole for [`TestApp::mail_sent`]).
    pub async fn spawn(db: Db) -> Self {
        Self::builder(db).spawn().await
    }

    /// Serves the API with a chosen mailer.
    pub async fn spawn_with_mailer(db: Db, mailer: Arc<dyn Mailer>) -> Self {
        Self::builder(db).mailer(mailer).spawn().await
    }

    /// A second server behind the same public origin as `self` (as behind a load balancer),
    /// over its own connection pool, reading the same clock.
    pub async fn spawn_sibling(&self, db: Db) -> Self {
        let mut builder = Self::builder(db).clock(self.app.clock.clone());
        builder.origin = Some(self.origin.clone());
        builder.spawn().await
    }

    /// A server to configure before it starts.
    pub fn builder(db: Db) -> TestAppBuilder {
        TestAppBuilder {
            app: App::new(db),
            origin: None,
            webhooks: WebhookSecrets::default(),
            limits: EdgeLimits::default(),
            trust_proxy: false,
            metrics_token: None,
            trusted_authserv_ids: Vec::new(),
        }
    }

    async fn start(builder: TestAppBuilder) -> Self {
        let TestAppBuilder {
            app,
            origin,
            webhooks,
            limits,
            trust_proxy,
            metrics_token,
            trusted_authserv_ids,
        } = builder;
        let inbox = Arc::new(Inbox::default());
        let mut app = app;
        app.mailer = Arc::new(Tee {
            inner: app.mailer.clone(),
            inbox: inbox.clone(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a port");
        let addr = listener.local_addr().expect("bound address");
        // Passkeys need a domain, so the public URL says localhost for the same port.
        let origin = origin.unwrap_or_else(|| format!("http://localhost:{}", addr.port()));
        let mut config = ApiConfig::new(&origin, trust_proxy).expect("config");
        config.webhooks = webhooks;
        config.limits = limits;
        config.metrics_token = metrics_token.as_deref().and_then(MetricsToken::new);
        config.trusted_authserv_ids = trusted_authserv_ids;
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let state = AppState::new(app.clone(), config);
        let task = tokio::spawn(raptor_api::serve(listener, state, shutdown));
        Self {
            base_url: format!("http://{addr}"),
            origin,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
            app,
            inbox,
        }
    }

    /// Every message its mailer sent, newest first and whole, as the recipients read them:
    /// where a test finds an emailed link (the outbox keeps them redacted). Each is the
    /// outbox's JSON shape: `to`, `subject`, `text_body`, `tag`, `headers`.
    pub fn mail_sent(&self) -> Vec<Value> {
        self.inbox.newest_first()
    }

    /// Runs every job that is ready now with the standard handlers (mail included), as the
    /// worker in `raptor serve` would on its next poll; returns how many ran. The server has
    /// no worker of its own, so a test decides when queued work happens.
    pub async fn run_jobs(&self) -> usize {
        let config = WorkerConfig {
            schedule: false,
            ..WorkerConfig::default()
        };
        Worker::new(self.app.clone(), jobs::standard(), config)
            .drain()
            .await
            .expect("the queue drains")
    }

    /// The use cases' context this server runs on: what a worker or the trading runtime in
    /// the same process would share with it (its metrics, for one).
    pub fn use_cases(&self) -> &App {
        &self.app
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The public origin (`http://localhost:PORT`), what a browser sends as `Origin`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A fresh browser-like client: it keeps the session cookie and sends `Origin`.
    pub fn browser(&self) -> Browser {
        Browser {
            client: self.client.clone(),
            base_url: self.base_url.clone(),
            origin: Some(self.origin.clone()),
            cookie: None,
            cookie_name: session_cookie_name(&self.origin),
            forwarded_for: None,
            api_key: None,
        }
    }

    /// GETs `path` and returns the status and JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.json().await.expect("a JSON body");
        (status, body)
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
    }
}

impl Drop for TestApp {
    /// Stops a server its test did not stop (it panicked, say), so nothing keeps serving or
    /// holding the database's pool. On a multi-threaded runtime, where the server can run
    /// while this thread waits, it returns once the port is closed and requests in flight
    /// have ended (cut after [`DROP_GRACE`]); on a current-thread runtime, which cannot run
    /// the server while `drop` blocks, the server stops at the runtime's next turn.
    fn drop(&mut self) {
        let Some(mut task) = self.task.take() else {
            return;
        };
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Ok(handle) = Handle::try_current() else {
            return;
        };
        if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
            return;
        }
        tokio::task::block_in_place(|| {
            if handle
                .block_on(tokio::time::timeout(DROP_GRACE, &mut task))
                .is_err()
            {
                task.abort();
            }
        });
    }
}

/// Configuration of a [`TestApp`] before it starts.
pub struct TestAppBuilder {
    app: App,
    origin: Option<String>,
    webhooks: WebhookSecrets,
    limits: EdgeLimits,
    trust_proxy: bool,
    metrics_token: Option<String>,
    trusted_authserv_ids: Vec<String>,
}

impl TestAppBuilder {
    /// Serves as if users reached it at `public_url` (`https://…` for a `Secure` cookie);
    /// requests still go to the local port over plain http.
    pub fn public_url(mut self, public_url: &str) -> Self {
        self.origin = Some(public_url.to_owned());
        self
    }

    /// Serves `/metrics` to scrapers bearing `token`.
    pub fn metrics_token(mut self, token: &str) -> Self {
        self.metrics_token = Some(token.to_owned());
        self
    }

    /// Serves with these timeouts and limits instead of the defaults.
    pub fn limits(mut self, limits: EdgeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Trusts `X-Forwarded-For` and `X-Request-Id` (as behind a router that sets them).
    pub fn trust_proxy(mut self) -> Self {
        self.trust_proxy = true;
        self
    }

    /// Fetches missing bars from `source`.
    pub fn bar_source(mut self, source: Arc<dyn BarSource>) -> Self {
        self.app = self.app.with_bar_source(source);
        self
    }

    /// Sends email through `mailer` instead of the outbox.
    pub fn mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.app = self.app.with_mailer(mailer);
        self
    }

    /// Reads the time from `clock` (a [`raptor_app::FixedClock`] to fix it).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.app = self.app.with_clock(clock);
        self
    }

    /// Queues backtests spanning more than `bars` bars.
    pub fn inline_bars(mut self, bars: i64) -> Self {
        self.app = self.app.with_inline_bars(bars);
        self
    }

    /// Accepts Postmark webhooks with these basic-auth credentials.
    pub fn postmark_webhook(mut self, user: &str, password: &str) -> Self {
        self.webhooks.postmark = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Believes inbound mail's `Authentication-Results` headers written by this server.
    pub fn trusted_authserv_id(mut self, id: &str) -> Self {
        self.trusted_authserv_ids.push(id.to_owned());
        self
    }

    /// Accepts status-page webhooks signed with this key.
    pub fn status_webhook_secret(mut self, secret: &str) -> Self {
        self.webhooks.status_secret = Some(secret.to_owned());
        self
    }

    /// Delivers trade updates only when they are announced (`NOTIFY` on PostgreSQL,
    /// in-process on SQLite), never by the pump's regular look: proves the announcements work.
    pub fn announced_trade_updates_only(mut self) -> Self {
        let hour = std::time::Duration::from_secs(3600);
        self.app.trade_updates = Arc::new(raptor_app::trade_updates::Hub::polling_every(hour));
        self
    }

    /// Starts the server.
    pub async fn spawn(self) -> TestApp {
        TestApp::start(self).await
    }
}

/// An answer: status, headers and JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// Parsed body.
    pub body: Value,
}

/// The media type of every error the API sends (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Asserts that `reply` is an RFC 9457 problem: this HTTP `status` (also in the body), the
/// problem media type, this stable `code`, a non-empty `detail` for people, and the
/// `request_id` of its `X-Request-Id` header. On failure it shows the whole answer. Returns the body, for assertions on more fields (`field`, say).
#[track_caller]
pub fn assert_problem<'a>(reply: &'a Reply, status: u16, code: &str) -> &'a Value {
    let content_type = reply
        .headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let body = &reply.body;
    let detail = body["detail"].as_str().unwrap_or_default();
    let request_id = reply
        .headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok());
    assert!(
        reply.status == status
            && content_type == Some(PROBLEM_JSON)
            && body["status"] == status
            && body["code"] == code
            && !detail.trim().is_empty()
            && request_id.is_some()
            && body["request_id"].as_str() == request_id,
        "expected a {status} {PROBLEM_JSON} with code {code:?}, a detail and the X-Request-Id \
         ({request_id:?}); got {} {}: {body:#}",
        reply.status,
        content_type.unwrap_or("(no content type)"),
    );
    body
}

/// A client that behaves like a browser on the public origin.
#[derive(Debug, Clone)]
pub struct Browser {
    client: reqwest::Client,
    base_url: String,
    /// The `Origin` sent with every request (None: send none).
    pub origin: Option<String>,
    /// The session cookie value, as the server last set it.
    pub cookie: Option<String>,
    /// The session cookie's name on this origin.
    cookie_name: &'static str,
    /// Sent as `X-Forwarded-For`, so a server built with `trust_proxy()` sees the request
    /// come from this client address (None: send none).
    pub forwarded_for: Option<String>,
    /// An API key pair sent as `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY` (None: send none).
    pub api_key: Option<(String, String)>,
}

/// The name the server gives its session cookie on `origin` (`__Host-` prefixed on https).
fn session_cookie_name(origin: &str) -> &'static str {
    raptor_api::cookie_name(origin.starts_with("https:"))
}

impl Browser {
    /// A browser talking to `base_url` as a page on `origin` would.
    pub fn new(base_url: &str, origin: &str) -> Self {
        Self::with_client(reqwest::Client::new(), base_url, origin)
    }

    /// [`Browser::new`] over a client of the test's making (bound to its own source address,
    /// say, so a server behind a proxy sees each browser as a different client).
    pub fn with_client(client: reqwest::Client, base_url: &str, origin: &str) -> Self {
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            origin: Some(origin.to_owned()),
            cookie: None,
            cookie_name: session_cookie_name(origin),
            forwarded_for: None,
            api_key: None,
        }
    }

    /// A bot: no origin, no cookie, only the API key pair `key_id` and `secret`.
    pub fn bot(base_url: &str, key_id: &str, secret: &str) -> Self {
        Self {
            origin: None,
            api_key: Some((key_id.to_owned(), secret.to_owned())),
            ..Self::new(base_url, "http://bot.invalid")
        }
    }

    /// GET.
    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// POST a JSON body.
    pub async fn post(&mut self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// PUT a JSON body.
    pub async fn put(&mut self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    /// PATCH a JSON body.
    pub async fn patch(&mut self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    /// DELETE.
    pub async fn delete(&mut self, path: &str) -> Reply {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// A request to `path` carrying what this browser sends with every request: its origin,
    /// forwarded address, session cookie and API key pair.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base_url));
        if let Some(origin) = &self.origin {
            request = request.header("Origin", origin);
        }
        if let Some(ip) = &self.forwarded_for {
            request = request.header("X-Forwarded-For", ip);
        }
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", format!("{}={cookie}", self.cookie_name));
        }
        if let Some((key_id, secret)) = &self.api_key {
            request = request
                .header("APCA-API-KEY-ID", key_id)
                .header("APCA-API-SECRET-KEY", secret);
        }
        request
    }

    /// Sends a request with the cookie and origin, and keeps any cookie the answer sets.
    pub async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        self.try_send(method, path, body).await.expect("request")
    }

    /// [`Browser::send`], giving back a request that got no answer (the connection was
    /// refused or cut, the body broke off) instead of panicking: for tests that count them.
    pub async fn try_send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Reply, reqwest::Error> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for set in headers.get_all("set-cookie") {
            let set = set.to_str().expect("ascii cookie");
            let Some(value) = set
                .split(';')
                .next()
                .and_then(|pair| pair.trim().strip_prefix(&format!("{}=", self.cookie_name)))
            else {
                continue;
            };
            self.cookie =
                (!value.is_empty() && !set.contains("Max-Age=0")).then(|| value.to_owned());
        }
        let bytes = response.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}
