//! Clients for the trade-update streams: server-sent events over the session cookie, and
//! Alpaca's websocket. Each wait is bounded, so a stream that never sends fails the test.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{Browser, Reply};

/// The longest a test waits for a stream's next message.
const PATIENCE: Duration = Duration::from_secs(30);

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct ServerEvent {
    /// `id:`.
    pub id: Option<String>,
    /// `event:`.
    pub event: Option<String>,
    /// `data:`, parsed as JSON.
    pub data: Value,
}

/// An open `text/event-stream` response.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl Browser {
    /// Opens an event stream at `path`, resuming after `last_event_id` when given; the answer
    /// when it is not a stream.
    pub async fn events(
        &self,
        path: &str,
        last_event_id: Option<&str>,
    ) -> Result<EventStream, Reply> {
        let mut request = self.request(reqwest::Method::GET, path);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("open the event stream");
        let streaming = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if response.status().is_success() && streaming {
            return Ok(EventStream {
                response,
                buffer: String::new(),
            });
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        Err(Reply {
            status,
            headers,
            body,
        })
    }
}

impl EventStream {
    /// The next event with data (keep-alive comments are skipped); None when the server ended
    /// the stream. Panics when nothing comes within half a minute.
    pub async fn next(&mut self) -> Option<ServerEvent> {
        // One deadline for the event, however many keep-alive comments arrive meanwhile.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return Some(event);
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("an event within half a minute")
                .expect("read the event stream")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

fn parse(block: &str) -> Option<ServerEvent> {
    let (mut id, mut event, mut data) = (None, None, None::<String>);
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.to_owned()),
            "event" => event = Some(value.to_owned()),
            "data" => data = Some(data.map_or_else(|| value.to_owned(), |d| d + "\n" + value)),
            _ => {}
        }
    }
    let data = serde_json::from_str(&data?).expect("event data is JSON");
    Some(ServerEvent { id, event, data })
}

/// What a websocket sent next.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A JSON message.
    Json(Value),
    /// A close frame: its code and reason (1005 when it carried none).
    Closed(u16, String),
}

/// A websocket to Alpaca's `/stream`.
pub struct AlpacaStream {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl AlpacaStream {
    /// Connects to `/stream` on `base_url` (`http://…`).
    pub async fn connect(base_url: &str) -> Self {
        let url = format!("{}/stream", base_url.trim_end_matches('/')).replacen("http", "ws", 1);
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("connect to /stream");
        Self { socket }
    }

    /// Sends a JSON message.
    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("send on /stream");
    }

    /// Sends the authenticate message for a key pair.
    pub async fn authenticate(&mut self, key_id: &str, secret: &str) -> Received {
        self.send(serde_json::json!({
            "action": "authenticate",
            "data": {"key_id": key_id, "secret_key": secret},
        }))
        .await;
        self.next().await
    }

    /// The next JSON message or close frame. Panics when nothing comes within half a minute.
    pub async fn next(&mut self) -> Received {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("a message within half a minute");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Received::Json(serde_json::from_str(&text).expect("JSON message"))
                }
                Some(Ok(Message::Binary(bytes))) => {
                    return Received::Json(serde_json::from_slice(&bytes).expect("JSON message"))
                }
                Some(Ok(Message::Close(frame))) => {
                    return frame.map_or(Received::Closed(1005, String::new()), |f| {
                        Received::Closed(f.code.into(), f.reason.to_string())
                    })
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => panic!("reading /stream failed: {err}"),
                None => return Received::Closed(1006, String::new()),
            }
        }
    }
}
