//! `GET /stream`: Alpaca's trade-updates websocket. The client authenticates with a key pair
//! in its first message, then listens to `trade_updates`; every change to its account's orders,
//! made by any server over the same database, arrives as Alpaca sends it:
//!
//! ```text
//! → {"action":"authenticate","data":{"key_id":"PK…","secret_key":"…"}}
//! ← {"stream":"authorization","data":{"action":"authenticate","status":"authorized"}}
//! → {"action":"listen","data":{"streams":["trade_updates"]}}
//! ← {"stream":"listening","data":{"streams":["trade_updates"]}}
//! ← {"stream":"trade_updates","data":{"event":"fill","order":{…},"timestamp":…,"price":…}}
//! ```
//!
//! A client that does not authenticate within [`AUTH_WITHIN`] is disconnected, and so is one
//! whose key is revoked (checked every [`RECHECK_EVERY`]), that sends nothing (not even a ping)
//! for [`IDLE_FOR`], that does not take what is sent within [`SEND_WITHIN`], or that falls too
//! far behind (close code 1008): it reconnects and reads what it missed from its orders. Each
//! socket keeps its server connection slot until it closes, so websockets count against the
//! server's connection cap.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Utc};
use raptor_app::api_keys;
use raptor_app::trade_updates::{self, FollowError, Follower, Next};
use raptor_store::trade_updates::TradeUpdate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;

use super::decimal;
use super::error::AlpacaError;
use super::ids::{self, Kind};
use super::orders::AlpacaOrder;
use crate::{AppState, Problem, ProblemCode};

/// How long a new connection has to authenticate.
pub(crate) const AUTH_WITHIN: Duration = Duration::from_secs(10);
/// How often a connection's key is checked again while it streams.
const RECHECK_EVERY: Duration = Duration::from_secs(60);
/// How long a client may send nothing at all (alpaca-py pings every 10 s).
const IDLE_FOR: Duration = Duration::from_secs(180);
/// How long a message may take to be taken by the client.
const SEND_WITHIN: Duration = Duration::from_secs(10);
/// The largest message a client may send (an authenticate message is about 150 bytes).
const MAX_MESSAGE_BYTES: usize = 4096;
/// The only stream offered.
const TRADE_UPDATES: &str = "trade_updates";

/// Close codes (RFC 6455).
const GOING_AWAY: u16 = 1001;
const POLICY: u16 = 1008;
/// The close code for a message over [`MAX_MESSAGE_BYTES`] (RFC 6455, 7.4.1).
const TOO_BIG: u16 = 1009;
const TRY_AGAIN_LATER: u16 = 1013;

/// The server connection slot of the request's connection, for a websocket to keep once the
/// connection is handed over to it (see `server::serve`).
#[derive(Clone, Default)]
pub(crate) struct ConnectionSlot(pub(crate) Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl ConnectionSlot {
    fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Opens the trade-updates websocket; a request that is not a websocket handshake gets an
/// Alpaca error body naming what is missing.
pub(crate) async fn connect(
    State(state): State<AppState>,
    slot: Option<Extension<ConnectionSlot>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            let problem = Problem::new(
                ProblemCode::InvalidParameter,
                format!("/stream is a websocket; connect with a websocket client ({rejection})"),
            );
            return AlpacaError::from(problem).into_response();
        }
    };
    let permit = slot.and_then(|Extension(slot)| slot.take());
    upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let mut connection = Connection {
                state,
                socket,
                key: None,
                follower: None,
            };
            if let Err(Some((code, reason))) = connection.serve().await {
                connection.close(code, reason).await;
            }
            drop(permit);
        })
}

/// What a client sends: Alpaca's `authenticate`/`listen` actions with their `data`, or the
/// shorter `{"action":"auth","key":…,"secret":…}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Request {
    Action(Action),
    Auth {
        /// Only `auth` matches.
        #[serde(rename = "action")]
        _action: AuthAction,
        key: String,
        secret: String,
    },
}

#[derive(Deserialize)]
#[serde(tag = "action", content = "data", rename_all = "snake_case")]
enum Action {
    Authenticate { key_id: String, secret_key: String },
    Listen { streams: Vec<String> },
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum AuthAction {
    Auth,
}

impl Request {
    /// The key pair, for an authenticate message.
    fn credentials(self) -> Result<(String, String), Vec<String>> {
        match self {
            Request::Action(Action::Authenticate { key_id, secret_key }) => {
                Ok((key_id, secret_key))
            }
            Request::Auth { key, secret, .. } => Ok((key, secret)),
            Request::Action(Action::Listen { streams }) => Err(streams),
        }
    }
}

/// A trade update as Alpaca's `trade_updates` stream sends it.
#[derive(Serialize)]
struct AlpacaTradeUpdate {
    event: &'static str,
    /// The fill, for fills.
    #[serde(skip_serializing_if = "Option::is_none")]
    execution_id: Option<String>,
    order: AlpacaOrder,
    timestamp: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    position_qty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qty: Option<String>,
}

impl From<&TradeUpdate> for AlpacaTradeUpdate {
    fn from(update: &TradeUpdate) -> Self {
        let fill = update.fill.as_ref();
        Self {
            event: update.event.as_str(),
            execution_id: fill.map(|f| ids::uuid(Kind::Fill, f.fill_id).to_string()),
            order: update.order.clone().into(),
            timestamp: update.at,
            position_qty: fill.map(|f| decimal(f.position_qty)),
            price: fill.map(|f| decimal(f.price)),
            qty: fill.map(|f| decimal(f.qty)),
        }
    }
}

/// The key pair a connection authenticated with.
struct Key {
    key_id: String,
    secret: String,
    user_id: i64,
}

struct Connection {
    state: AppState,
    socket: WebSocket,
    key: Option<Key>,
    follower: Option<Follower>,
}

/// Why a connection ends: a close code and reason, or None when the client left.
type Ending = Option<(u16, String)>;

/// The close frame for a stream that could not start or go on.
fn refusal(err: FollowError) -> Ending {
    let code = match err {
        FollowError::Closing => GOING_AWAY,
        FollowError::NoAccount => POLICY,
        FollowError::TooMany => TRY_AGAIN_LATER,
        FollowError::Store(ref err) => {
            tracing::warn!(%err, "following trade updates failed");
            return unavailable();
        }
    };
    Some((code, err.to_string()))
}

fn unavailable() -> Ending {
    Some((
        TRY_AGAIN_LATER,
        "trade updates are unavailable; reconnect".into(),
    ))
}

/// A message's text; None for pings and pongs; Err when the client left.
fn text_of(message: Option<Result<Message, axum::Error>>) -> Result<Option<String>, Ending> {
    match message {
        Some(Ok(Message::Text(text))) => Ok(Some(text.to_string())),
        Some(Ok(Message::Binary(bytes))) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(None),
        Some(Err(err)) => Err(too_big(err)),
        Some(Ok(Message::Close(_))) | None => Err(None),
    }
}

/// The close frame for a read that failed because the message was over the limit; other
/// failures (a broken connection, a protocol error) end it without one.
fn too_big(err: axum::Error) -> Ending {
    let too_big = err
        .into_inner()
        .downcast::<tungstenite::Error>()
        .is_ok_and(|err| matches!(*err, tungstenite::Error::Capacity(_)));
    too_big.then(|| {
        (
            TOO_BIG,
            format!("a message may be at most {MAX_MESSAGE_BYTES} bytes"),
        )
    })
}

impl Connection {
    /// Serves the connection until it ends.
    async fn serve(&mut self) -> Result<(), Ending> {
        match tokio::time::timeout(AUTH_WITHIN, self.authenticate()).await {
            Ok(authenticated) => authenticated?,
            Err(_) => {
                return Err(Some((
                    POLICY,
                    format!(
                        "authenticate within {}s of connecting",
                        AUTH_WITHIN.as_secs()
                    ),
                )))
            }
        }
        let mut recheck = tokio::time::interval(RECHECK_EVERY);
        recheck.reset();
        let state = self.state.clone();
        let idle = tokio::time::sleep(IDLE_FOR);
        tokio::pin!(idle);
        loop {
            tokio::select! {
                message = self.socket.recv() => {
                    idle.as_mut().reset(tokio::time::Instant::now() + IDLE_FOR);
                    if let Some(text) = text_of(message)? {
                        self.handle(&text).await?;
                    }
                }
                next = next_update(&mut self.follower) => match next {
                    Ok(Next::Update(update)) => {
                        let message = json!({
                            "stream": TRADE_UPDATES,
                            "data": AlpacaTradeUpdate::from(&*update),
                        });
                        self.send(message).await?;
                    }
                    Ok(Next::TooSlow) => return Err(Some((POLICY, format!(
                        "too slow: fell {} updates behind; reconnect and read your orders \
                         (/v2/orders?status=all) for what was missed",
                        raptor_app::trade_updates::BACKLOG)))),
                    Ok(Next::Closing) => return Err(refusal(FollowError::Closing)),
                    Err(err) => return Err(refusal(FollowError::Store(err))),
                },
                () = state.trade_updates.closed() => return Err(refusal(FollowError::Closing)),
                () = &mut idle => return Err(Some((POLICY, format!(
                    "nothing received for {}s; send pings to stay connected", IDLE_FOR.as_secs())))),
                _ = recheck.tick() => {
                    let Some(key) = &self.key else { return Err(None) };
                    match holder(&state, &key.key_id, &key.secret).await {
                        Ok(Some(_)) => {}
                        Ok(None) => return Err(Some((POLICY, "the API key was revoked".into()))),
                        Err(err) => tracing::warn!(%err, "could not recheck a stream's API key"),
                    }
                }
            }
        }
    }

    /// Waits for the client's authenticate message and answers it; any other message first is
    /// refused, as Alpaca does.
    async fn authenticate(&mut self) -> Result<(), Ending> {
        loop {
            let Some(text) = text_of(self.socket.recv().await)? else {
                continue;
            };
            let Ok(request) = serde_json::from_str::<Request>(&text) else {
                self.error("expected {\"action\":\"authenticate\",\"data\":{\"key_id\":…,\"secret_key\":…}}")
                    .await?;
                continue;
            };
            return match request.credentials() {
                Ok((key_id, secret)) => self.sign_in(key_id, secret).await,
                Err(_) => {
                    self.authorization("listen", false).await?;
                    Err(Some((POLICY, "authenticate first".into())))
                }
            };
        }
    }

    /// Checks a key pair and answers whether it is authorized; an unauthorized one ends the
    /// connection.
    async fn sign_in(&mut self, key_id: String, secret: String) -> Result<(), Ending> {
        let key = verify(&self.state.clone(), key_id, secret).await?;
        let authorized = key.is_some();
        self.authorization("authenticate", authorized).await?;
        if !authorized {
            return Err(Some((POLICY, "not authorized".into())));
        }
        self.key = key;
        Ok(())
    }

    async fn authorization(&mut self, action: &str, authorized: bool) -> Result<(), Ending> {
        self.send(json!({
            "stream": "authorization",
            "data": {
                "action": action,
                "status": if authorized { "authorized" } else { "unauthorized" },
            },
        }))
        .await
    }

    async fn handle(&mut self, text: &str) -> Result<(), Ending> {
        let Ok(request) = serde_json::from_str::<Request>(text) else {
            return self
                .error("expected {\"action\":\"listen\",\"data\":{\"streams\":[…]}}")
                .await;
        };
        let streams = match request.credentials() {
            // Authenticating again: with a pair that must hold too.
            Ok((key_id, secret)) => return self.sign_in(key_id, secret).await,
            Err(streams) => streams,
        };
        let listen = streams.iter().any(|s| s == TRADE_UPDATES);
        if listen && self.follower.is_none() {
            let Some(key) = &self.key else {
                return Err(None);
            };
            let follower = trade_updates::follow(&self.state, key.user_id, None)
                .await
                .map_err(refusal)?;
            self.follower = Some(follower);
        } else if !listen {
            self.follower = None;
        }
        let listening: Vec<&str> = self
            .follower
            .as_ref()
            .map(|_| TRADE_UPDATES)
            .into_iter()
            .collect();
        self.send(json!({"stream": "listening", "data": {"streams": listening}}))
            .await
    }

    async fn error(&mut self, message: &str) -> Result<(), Ending> {
        self.send(json!({"stream": "error", "data": {"error_message": message}}))
            .await
    }

    /// Sends a message; a client that does not take it in time is dropped.
    async fn send(&mut self, message: serde_json::Value) -> Result<(), Ending> {
        let text = Utf8Bytes::from(message.to_string());
        match tokio::time::timeout(SEND_WITHIN, self.socket.send(Message::Text(text))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(None),
        }
    }

    async fn close(&mut self, code: u16, reason: String) {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        let _ =
            tokio::time::timeout(SEND_WITHIN, self.socket.send(Message::Close(Some(frame)))).await;
    }
}

/// The key behind a presented pair, if it is live and its user active.
async fn verify(state: &AppState, key_id: String, secret: String) -> Result<Option<Key>, Ending> {
    let user = holder(state, &key_id, &secret).await.map_err(|err| {
        tracing::warn!(%err, "authenticating a stream failed");
        unavailable()
    })?;
    Ok(user.map(|user_id| Key {
        key_id,
        secret,
        user_id,
    }))
}

/// The user a live key pair belongs to, when the user is active. Not counted against the
/// `/v2` rate limit: a connection authenticates once and is capped with the others.
async fn holder(
    state: &AppState,
    key_id: &str,
    secret: &str,
) -> Result<Option<i64>, raptor_store::StoreError> {
    let holder = api_keys::authenticate(state, key_id, secret).await?;
    Ok(holder.filter(|h| h.active).map(|h| h.user_id))
}

/// The follower's next update; never resolves while not listening.
async fn next_update(follower: &mut Option<Follower>) -> Result<Next, raptor_store::StoreError> {
    match follower {
        Some(follower) => follower.next().await,
        None => std::future::pending().await,
    }
}
