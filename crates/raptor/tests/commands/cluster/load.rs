//! The mixed load: people signing up and in with passkeys, reading bars and their accounts,
//! and placing orders, each a client of its own address, through the proxy. Every request is
//! recorded with when it started and ended and how it ended.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use raptor_testkit::{Browser, Reply, SoftAuthenticator};
use reqwest::Method;
use serde_json::{json, Value};

/// How often one trader places an order (a retry of an unanswered one included): 150 a
/// minute, under the 200 submissions a minute an account may make.
const ORDER_PERIOD: Duration = Duration::from_millis(400);

/// What a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A passkey sign-up ceremony's requests.
    SignUp,
    /// A passkey sign-in ceremony's requests, and the session read after it.
    SignIn,
    /// One session of one-minute bars.
    Bars,
    /// `GET /api/account`.
    Account,
    /// `POST /api/orders`.
    Order,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 5] = [
        Kind::SignUp,
        Kind::SignIn,
        Kind::Bars,
        Kind::Account,
        Kind::Order,
    ];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Kind::SignUp => "sign-up",
            Kind::SignIn => "sign-in",
            Kind::Bars => "bars",
            Kind::Account => "account",
            Kind::Order => "order",
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// An answer with this status.
    Status(u16),
    /// The connection was refused.
    Refused,
    /// The connection was reset, or the answer's body broke off.
    Reset,
    /// The connection was closed before any answer came.
    Closed,
    /// Anything else that left the request without an answer (a timeout, say).
    Failed(String),
}

impl Outcome {
    /// Whether the client saw an error: no 2xx answer.
    pub fn is_error(&self) -> bool {
        !matches!(self, Outcome::Status(s) if (200..300).contains(s))
    }

    /// How the report names it.
    pub fn label(&self) -> String {
        match self {
            Outcome::Status(s) => s.to_string(),
            Outcome::Refused => "refused".to_owned(),
            Outcome::Reset => "reset".to_owned(),
            Outcome::Closed => "closed before answering".to_owned(),
            Outcome::Failed(why) => format!("failed: {why}"),
        }
    }
}

/// One request: what for, when (since the load began) and how it ended.
#[derive(Debug, Clone)]
pub struct Sample {
    /// What for.
    pub kind: Kind,
    /// The path asked for.
    pub path: String,
    /// When it was sent.
    pub start: Duration,
    /// When it ended.
    pub end: Duration,
    /// How.
    pub outcome: Outcome,
    /// Whether the answer came from the proxy itself, not from a server (no server's
    /// `X-Request-Id` on it): its 503 when no server is up, its 502 or 504.
    pub by_proxy: bool,
}

impl Sample {
    /// Whether this error is one a client may meet while a fault lasts: the service says it
    /// cannot serve now (503), or the connection was refused or cut, directly or seen through
    /// the proxy (its own 502: the server's connection broke off before an answer, and the
    /// request was not one to send again). A 500 never is, nor a 4xx, nor the proxy's 504 (a
    /// server that hung).
    pub fn is_allowed_error(&self) -> bool {
        match self.outcome {
            Outcome::Status(503) | Outcome::Refused | Outcome::Reset | Outcome::Closed => true,
            Outcome::Status(502) => self.by_proxy,
            _ => false,
        }
    }

    /// The outcome, saying who answered: `503 (raptor)`, `503 (proxy)`, `reset`.
    pub fn label(&self) -> String {
        match (&self.outcome, self.by_proxy) {
            (Outcome::Status(_), true) => format!("{} (proxy)", self.outcome.label()),
            (Outcome::Status(_), false) => format!("{} (raptor)", self.outcome.label()),
            (other, _) => other.label(),
        }
    }
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} from {:.3} s to {:.3} s: {}",
            self.kind.name(),
            self.path,
            self.start.as_secs_f64(),
            self.end.as_secs_f64(),
            self.label()
        )
    }
}

/// An order the service acknowledged (2xx).
#[derive(Debug, Clone)]
pub struct Acked {
    /// Its idempotency key.
    pub client_order_id: String,
    /// The id the answer gave.
    pub id: i64,
    /// Whether the answer said it was placed now (201), not by an earlier attempt whose
    /// answer was lost (200).
    pub created: bool,
}

/// What one load task did.
#[derive(Debug, Default)]
pub struct Outcomes {
    /// Every request.
    pub samples: Vec<Sample>,
    /// Orders acknowledged.
    pub acked: Vec<Acked>,
    /// Every `client_order_id` sent, acknowledged or not.
    pub attempted: Vec<String>,
    /// 2xx answers whose body was wrong: never acceptable.
    pub wrong: Vec<String>,
}

impl Outcomes {
    /// Adds another task's outcomes.
    pub fn merge(&mut self, other: Outcomes) {
        self.samples.extend(other.samples);
        self.acked.extend(other.acked);
        self.attempted.extend(other.attempted);
        self.wrong.extend(other.wrong);
    }
}

/// Where and until when the load runs, shared by its tasks.
pub struct Load {
    base_url: String,
    origin: String,
    /// When the load began: sample times count from here.
    pub t0: Instant,
    /// When tasks stop starting new work.
    pub deadline: Instant,
}

/// Client addresses handed out so far, in this process.
static ADDRESSES: AtomicU32 = AtomicU32::new(0);

impl Load {
    /// A load on the proxy at `base_url`, for the public `origin`, from now until `duration`
    /// has passed.
    pub fn new(base_url: &str, origin: &str, duration: Duration) -> Self {
        let t0 = Instant::now();
        Self {
            base_url: base_url.to_owned(),
            origin: origin.to_owned(),
            t0,
            deadline: t0 + duration,
        }
    }

    fn running(&self) -> bool {
        Instant::now() < self.deadline
    }

    /// A new browser from an address of its own on the loopback network (127.1.0.1 on),
    /// so the servers, trusting the proxy's `X-Forwarded-For`, see each person as a
    /// different client, as they would be: their limits per client address apply to each.
    pub fn browser(&self) -> Browser {
        let n = ADDRESSES.fetch_add(1, Ordering::Relaxed);
        let address = Ipv4Addr::new(
            127,
            u8::try_from(1 + (n / (250 * 256)) % 250).expect("an octet"),
            u8::try_from((n / 250) % 256).expect("an octet"),
            u8::try_from(1 + n % 250).expect("an octet"),
        );
        let client = reqwest::Client::builder()
            .local_address(IpAddr::V4(address))
            .timeout(Duration::from_secs(30))
            // Idle connections end on this side first, well before the proxy's keep-alive
            // timeout, so no request is ever sent on a connection the proxy is closing.
            .pool_idle_timeout(Duration::from_secs(20))
            .build()
            .expect("a client");
        Browser::with_client(client, &self.base_url, &self.origin)
    }

    /// A software passkey for the public origin.
    pub fn passkey(&self) -> SoftAuthenticator {
        SoftAuthenticator::new(&self.origin)
    }

    /// Sends one request and records it; the answer when there was one.
    async fn request(
        &self,
        out: &mut Outcomes,
        browser: &mut Browser,
        kind: Kind,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Option<Reply> {
        let start = self.t0.elapsed();
        let result = browser.try_send(method, path, body).await;
        let end = self.t0.elapsed();
        let (outcome, by_proxy, reply) = match result {
            Ok(reply) => (
                Outcome::Status(reply.status),
                !reply.headers.contains_key("x-request-id"),
                Some(reply),
            ),
            Err(err) => (classify(&err), false, None),
        };
        out.samples.push(Sample {
            kind,
            path: path.to_owned(),
            start,
            end,
            outcome,
            by_proxy,
        });
        reply
    }

    /// A 2xx answer, or None (recorded either way).
    async fn ok(
        &self,
        out: &mut Outcomes,
        browser: &mut Browser,
        kind: Kind,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Option<Value> {
        let reply = self.request(out, browser, kind, method, path, body).await?;
        (200..300).contains(&reply.status).then_some(reply.body)
    }

    /// Signs `email` up with `passkey` (the browser keeps the session); false when any step
    /// got no 2xx answer.
    pub async fn sign_up(
        &self,
        out: &mut Outcomes,
        browser: &mut Browser,
        passkey: &mut SoftAuthenticator,
        email: &str,
    ) -> bool {
        let request = json!({ "email": email, "display_name": "Cluster Trader" });
        let Some(options) = self
            .ok(
                out,
                browser,
                Kind::SignUp,
                Method::POST,
                "/api/auth/register/options",
                Some(request),
            )
            .await
        else {
            return false;
        };
        let credential = passkey.create(&options);
        let finish = json!({ "ceremony_id": options["ceremony_id"], "credential": credential });
        self.ok(
            out,
            browser,
            Kind::SignUp,
            Method::POST,
            "/api/auth/register",
            Some(finish),
        )
        .await
        .is_some()
    }

    /// Signs in as `email` with `passkey`, then reads the session to see it is theirs.
    pub async fn sign_in(
        &self,
        out: &mut Outcomes,
        browser: &mut Browser,
        passkey: &mut SoftAuthenticator,
        email: &str,
    ) -> bool {
        let Some(options) = self
            .ok(
                out,
                browser,
                Kind::SignIn,
                Method::POST,
                "/api/auth/login/options",
                Some(json!({ "email": email })),
            )
            .await
        else {
            return false;
        };
        let credential = passkey.get(&options);
        let finish = json!({ "ceremony_id": options["ceremony_id"], "credential": credential });
        let signed_in = self
            .ok(
                out,
                browser,
                Kind::SignIn,
                Method::POST,
                "/api/auth/login",
                Some(finish),
            )
            .await
            .is_some();
        if !signed_in {
            return false;
        }
        let Some(session) = self
            .ok(
                out,
                browser,
                Kind::SignIn,
                Method::GET,
                "/api/auth/session",
                None,
            )
            .await
        else {
            return false;
        };
        if session["user"]["email"] != email {
            out.wrong.push(format!(
                "the session after signing in as {email}: {session}"
            ));
        }
        true
    }

    /// People arriving: each signs up from an address of their own, then signs in again from
    /// a fresh browser. A ceremony that fails is abandoned, never finished twice, and the next
    /// person is a new one (a sign-up whose answer was lost may have made the account).
    pub async fn newcomers(&self, worker: usize) -> Outcomes {
        let mut out = Outcomes::default();
        let mut n = 0;
        while self.running() {
            n += 1;
            let email = format!("newcomer-{worker}-{n}@example.com");
            let mut passkey = self.passkey();
            let mut browser = self.browser();
            if !self
                .sign_up(&mut out, &mut browser, &mut passkey, &email)
                .await
            {
                continue;
            }
            let mut again = self.browser();
            self.sign_in(&mut out, &mut again, &mut passkey, &email)
                .await;
        }
        out
    }

    /// Reads one session of one-minute bars over and over; every 2xx must hold all of them.
    pub async fn bars_reader(&self, path: &str, expected: usize) -> Outcomes {
        let mut out = Outcomes::default();
        let mut browser = self.browser();
        while self.running() {
            let Some(page) = self
                .ok(&mut out, &mut browser, Kind::Bars, Method::GET, path, None)
                .await
            else {
                continue;
            };
            let bars = page["bars"].as_array().map_or(0, Vec::len);
            if bars != expected {
                out.wrong
                    .push(format!("{path} answered {bars} bars, not {expected}"));
            }
        }
        out
    }

    /// Reads a signed-in trader's account over and over.
    pub async fn account_reader(&self, mut browser: Browser) -> Outcomes {
        let mut out = Outcomes::default();
        while self.running() {
            self.read_account(&mut out, &mut browser).await;
        }
        out
    }

    async fn read_account(&self, out: &mut Outcomes, browser: &mut Browser) {
        if let Some(account) = self
            .ok(
                out,
                browser,
                Kind::Account,
                Method::GET,
                "/api/account",
                None,
            )
            .await
        {
            if account["cash"].as_str().is_none() {
                out.wrong
                    .push(format!("an account without cash: {account}"));
            }
        }
    }

    /// A trader: a market order for one share of `symbol` every [`ORDER_PERIOD`], buying and
    /// selling in turn, then a look at the account. An order without a 2xx answer is sent
    /// again with the same `client_order_id` until one comes, as an Alpaca client retries.
    pub async fn trader(&self, trader: usize, mut browser: Browser, symbol: &str) -> Outcomes {
        let mut out = Outcomes::default();
        let mut ticks = tokio::time::interval(ORDER_PERIOD);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut placed = 0_u32;
        let mut pending: Option<String> = None;
        while self.running() {
            ticks.tick().await;
            if !self.running() {
                break;
            }
            let client_order_id = pending
                .get_or_insert_with(|| {
                    let id = format!("cluster-{trader}-{placed}");
                    out.attempted.push(id.clone());
                    id
                })
                .clone();
            let side = if placed % 2 == 0 { "buy" } else { "sell" };
            let order = json!({
                "symbol": symbol, "qty": "1", "side": side, "type": "market",
                "time_in_force": "day", "client_order_id": client_order_id,
            });
            let reply = self
                .request(
                    &mut out,
                    &mut browser,
                    Kind::Order,
                    Method::POST,
                    "/api/orders",
                    Some(order),
                )
                .await;
            if let Some(reply) = reply.filter(|r| (200..300).contains(&r.status)) {
                let answer = reply.body;
                let id = answer["id"].as_str().and_then(|id| id.parse().ok());
                match id {
                    Some(id) if answer["client_order_id"] == client_order_id.as_str() => {
                        out.acked.push(Acked {
                            client_order_id,
                            id,
                            created: reply.status == 201,
                        });
                    }
                    _ => out
                        .wrong
                        .push(format!("order {client_order_id} answered {answer}")),
                }
                pending = None;
                placed += 1;
            }
            self.read_account(&mut out, &mut browser).await;
        }
        out
    }
}

/// Names a request that got no whole answer: refused, reset or cut (an answer whose body
/// broke off: on loopback only its connection ending does that), closed before any answer
/// (the proxy closes the client's connection so when a server died on a request it will not
/// send again), or something else.
fn classify(err: &reqwest::Error) -> Outcome {
    if err.is_timeout() {
        return Outcome::Failed(format!("timed out: {err:?}"));
    }
    if err.is_body() || err.is_decode() {
        return Outcome::Reset;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        // hyper's `IncompleteMessage`, which reqwest does not name.
        if cause
            .to_string()
            .contains("connection closed before message completed")
        {
            return Outcome::Closed;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Outcome::Refused,
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe => return Outcome::Reset,
                _ => {}
            }
        }
        source = cause.source();
    }
    Outcome::Failed(format!("{err:?}"))
}
