//! A local stand-in for Postmark's email API, speaking its wire format: `POST /email` with the
//! `X-Postmark-Server-Token` header, answered with `ErrorCode`/`Message`/`MessageID`.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;

#[derive(Clone)]
struct Fake {
    token: String,
    received: Arc<Mutex<Vec<Value>>>,
}

/// A running fake Postmark that accepts one server token and records every accepted message.
pub struct FakePostmark {
    url: String,
    received: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakePostmark {
    /// Starts on a free local port.
    pub async fn start(server_token: &str) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake {
            token: server_token.to_owned(),
            received: received.clone(),
        };
        let app = Router::new().route("/email", post(email)).with_state(fake);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            received,
            task,
        }
    }

    /// The base URL to configure instead of `https://api.postmarkapp.com`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The messages accepted so far, as sent.
    pub fn received(&self) -> Vec<Value> {
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for FakePostmark {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn email(
    State(fake): State<Fake>,
    headers: HeaderMap,
    body: Json<Value>,
) -> (StatusCode, Json<Value>) {
    let token = headers
        .get("x-postmark-server-token")
        .and_then(|v| v.to_str().ok());
    if token != Some(fake.token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "ErrorCode": 10, "Message": "Bad or missing Server API token." })),
        );
    }
    let Json(message) = body;
    for field in ["From", "To", "Subject"] {
        if message[field].as_str().is_none_or(str::is_empty) {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(
                    json!({ "ErrorCode": 300, "Message": format!("Invalid email request: {field} is required.") }),
                ),
            );
        }
    }
    let to = message["To"].clone();
    let mut received = fake.received.lock().expect("lock");
    received.push(message);
    (
        StatusCode::OK,
        Json(json!({
            "To": to,
            "SubmittedAt": "2026-11-21T12:00:00.0000000Z",
            "MessageID": format!("00000000-0000-4000-8000-{:012}", received.len()),
            "ErrorCode": 0,
            "Message": "OK"
        })),
    )
}
