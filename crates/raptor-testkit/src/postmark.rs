//! A local stand-in for Postmark's email API, speaking its wire format: `POST /email` with the
//! `X-Postmark-Server-Token` header, answered with `ErrorCode`/`Message`/`MessageID`.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// How a failing fake answers every send until it is healed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostmarkFailure {
    /// HTTP 500 with a plain-text body, as when Postmark or a proxy in front of it breaks.
    ServerError,
    /// HTTP 422 with `ErrorCode` 406: the recipient is marked inactive (hard bounce, spam
    /// complaint), which no retry changes.
    InactiveRecipient,
    /// The request is read and never answered, as when Postmark stalls; the sender is left
    /// waiting until its own timeout, or until it dies.
    NoAnswer,
}

#[derive(Clone)]
struct Fake {
    token: String,
    received: Arc<Mutex<Vec<Value>>>,
    failure: Arc<Mutex<Option<PostmarkFailure>>>,
    attempts: Arc<Mutex<usize>>,
}

/// A running fake Postmark that accepts one server token and records every accepted message;
/// [`FakePostmark::fail_with`] makes it refuse sends until [`FakePostmark::heal`].
pub struct FakePostmark {
    url: String,
    fake: Fake,
    task: tokio::task::JoinHandle<()>,
}

impl FakePostmark {
    /// Starts on a free local port.
    pub async fn start(server_token: &str) -> Self {
        let fake = Fake {
            token: server_token.to_owned(),
            received: Arc::default(),
            failure: Arc::default(),
            attempts: Arc::default(),
        };
        let app = Router::new()
            .route("/email", post(email))
            .with_state(fake.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, fake, task }
    }

    /// The base URL to configure instead of `https://api.postmarkapp.com`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The messages accepted so far, as sent.
    pub fn received(&self) -> Vec<Value> {
        self.fake.received.lock().expect("lock").clone()
    }

    /// Answers every later send with `failure` (nothing is accepted) until [`Self::heal`].
    pub fn fail_with(&self, failure: PostmarkFailure) {
        *self.fake.failure.lock().expect("lock") = Some(failure);
    }

    /// Accepts sends again.
    pub fn heal(&self) {
        *self.fake.failure.lock().expect("lock") = None;
    }

    /// How many sends reached it, accepted or not.
    pub fn attempts(&self) -> usize {
        *self.fake.attempts.lock().expect("lock")
    }
}

impl Drop for FakePostmark {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn email(State(fake): State<Fake>, headers: HeaderMap, body: Json<Value>) -> Response {
    *fake.attempts.lock().expect("lock") += 1;
    let failure = *fake.failure.lock().expect("lock");
    match failure {
        Some(PostmarkFailure::ServerError) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
        }
        Some(PostmarkFailure::InactiveRecipient) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "ErrorCode": 406,
                    "Message": "You tried to send to a recipient that has been marked as inactive."
                })),
            )
                .into_response()
        }
        Some(PostmarkFailure::NoAnswer) => return std::future::pending().await,
        None => {}
    }
    let token = headers
        .get("x-postmark-server-token")
        .and_then(|v| v.to_str().ok());
    if token != Some(fake.token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "ErrorCode": 10, "Message": "Bad or missing Server API token." })),
        )
            .into_response();
    }
    let Json(message) = body;
    for field in ["From", "To", "Subject"] {
        if message[field].as_str().is_none_or(str::is_empty) {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(
                    json!({ "ErrorCode": 300, "Message": format!("Invalid email request: {field} is required.") }),
                ),
            )
                .into_response();
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
        .into_response()
}
