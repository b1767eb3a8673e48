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
//! whose key is revoked (checked every [`RECHECK_EVERY`]) or that falls too far behind
//! (close code 1008): it reconnects and reads what it missed from the account's activities.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use raptor_app::api_keys;
use raptor_app::trade_updates::{self, FollowError, Follower, Next};
use raptor_store::trade_updates::TradeUpdate;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::decimal;
use super::ids::{self, Kind};
use super::orders::AlpacaOrder;
use crate::{limits, AppState};

/// How long a new connection has to authenticate.
pub(crate) const AUTH_WITHIN: Duration = Duration::from_secs(10);
/// How often a connection's key is checked again while it streams.
const RECHECK_EVERY: Duration = Duration::from_secs(60);
/// The largest message a client may send (an authenticate message is about 150 bytes).
const MAX_MESSAGE_BYTES: usize = 4096;
/// The only stream offered.
const TRADE_UPDATES: &str = "trade_updates";

/// Close codes (RFC 6455).
const GOING_AWAY: u16 = 1001;
const POLICY: u16 = 1008;
const TRY_AGAIN_LATER: u16 = 1013;

/// Opens the trade-updates websocket.
pub(crate) async fn connect(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
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
        })
}

/// What a client sends.
#[derive(Deserialize)]
#[serde(tag = "action", content = "data", rename_all = "snake_case")]
enum Request {
    Authenticate { key_id: String, secret_key: String },
    Listen { streams: Vec<String> },
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
            return Some((
                TRY_AGAIN_LATER,
                "trade updates are unavailable; reconnect".into(),
            ));
        }
    };
    Some((code, err.to_string()))
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
        loop {
            tokio::select! {
                message = self.socket.recv() => {
                    let text = match message {
                        Some(Ok(Message::Text(text))) => text.to_string(),
                        Some(Ok(Message::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Close(_)) | Err(_)) | None => return Err(None),
                    };
                    self.handle(&text).await?;
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
                        "too slow: fell {} updates behind; reconnect and read what was missed \
                         from /v2/account/activities", raptor_app::trade_updates::BACKLOG)))),
                    Ok(Next::Closing) => return Err(refusal(FollowError::Closing)),
                    Err(err) => return Err(refusal(FollowError::Store(err))),
                },
                _ = recheck.tick() => {
                    let still = match &self.key {
                        Some(key) => holder(&self.state, &key.key_id, &key.secret).await,
                        None => Ok(None),
                    };
                    match still {
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
            let text = match self.socket.recv().await {
                Some(Ok(Message::Text(text))) => text.to_string(),
                Some(Ok(Message::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_)) | Err(_)) | None => return Err(None),
            };
            let (action, key) = match serde_json::from_str::<Request>(&text) {
                Ok(Request::Authenticate { key_id, secret_key }) => {
                    let holder =
                        holder(&self.state, &key_id, &secret_key)
                            .await
                            .map_err(|err| {
                                tracing::warn!(%err, "authenticating a stream failed");
                                Some((
                                    TRY_AGAIN_LATER,
                                    "authentication is unavailable; reconnect".into(),
                                ))
                            })?;
                    let key = holder.map(|user_id| Key {
                        key_id,
                        secret: secret_key,
                        user_id,
                    });
                    ("authenticate", key)
                }
                Ok(Request::Listen { .. }) => ("listen", None),
                Err(_) => {
                    self.error("expected {\"action\":\"authenticate\",\"data\":{\"key_id\":…,\"secret_key\":…}}")
                        .await?;
                    continue;
                }
            };
            let authorized = key.is_some();
            self.send(json!({
                "stream": "authorization",
                "data": {
                    "action": action,
                    "status": if authorized { "authorized" } else { "unauthorized" },
                },
            }))
            .await?;
            if !authorized {
                return Err(Some((POLICY, "not authorized".into())));
            }
            self.key = key;
            return Ok(());
        }
    }

    async fn handle(&mut self, text: &str) -> Result<(), Ending> {
        let request = match serde_json::from_str::<Request>(text) {
            Ok(request) => request,
            Err(_) => {
                return self
                    .error("expected {\"action\":\"listen\",\"data\":{\"streams\":[…]}}")
                    .await
            }
        };
        let streams = match request {
            // Already authenticated: say so again.
            Request::Authenticate { .. } => {
                return self
                    .send(json!({"stream": "authorization",
                        "data": {"action": "authenticate", "status": "authorized"}}))
                    .await
            }
            Request::Listen { streams } => streams,
        };
        let listen = streams.iter().any(|s| s == TRADE_UPDATES);
        if listen && self.follower.is_none() {
            let user_id = self.key.as_ref().map_or(0, |k| k.user_id);
            let follower = trade_updates::follow(&self.state, user_id, None)
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

    async fn send(&mut self, message: serde_json::Value) -> Result<(), Ending> {
        let text = Utf8Bytes::from(message.to_string());
        self.socket
            .send(Message::Text(text))
            .await
            .map_err(|_| None)
    }

    async fn close(&mut self, code: u16, reason: String) {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        let _ = self.socket.send(Message::Close(Some(frame))).await;
    }
}

/// The user a live, unsuspended key pair belongs to, counting the attempt against the user's
/// `/v2` rate limit.
async fn holder(
    state: &AppState,
    key_id: &str,
    secret: &str,
) -> Result<Option<i64>, raptor_store::StoreError> {
    let holder = api_keys::authenticate(state, key_id, secret).await?;
    let Some(holder) = holder.filter(|h| h.active) else {
        return Ok(None);
    };
    let user = holder.user_id.to_string();
    if limits::check(state, api_keys::REQUESTS_PER_MINUTE, &user)
        .await
        .is_err()
    {
        return Ok(None);
    }
    Ok(Some(holder.user_id))
}

/// The follower's next update; never resolves while not listening.
async fn next_update(follower: &mut Option<Follower>) -> Result<Next, raptor_store::StoreError> {
    match follower {
        Some(follower) => follower.next().await,
        None => std::future::pending().await,
    }
}
