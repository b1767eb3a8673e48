//! A local stand-in for Alpaca's Market Data v2 bars endpoint and the Trading API's asset
//! list, speaking their wire format: key headers, `bars`/`next_page_token` pages of at most
//! `limit` bars, 429 with `X-RateLimit-Reset`, 403 for bad keys, assets as one array.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{json, Value};
use tokio::net::TcpListener;

#[derive(Clone)]
struct Fake {
    key_id: String,
    secret: String,
    page_size: usize,
    throttle_first: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
    quiet: Arc<Mutex<HashSet<String>>>,
    assets: Arc<Mutex<Vec<Value>>>,
}

/// A running fake Alpaca. Bars are one per whole minute from the requested start, with the close
/// equal to 100 + the minute index, up to `end`; a page carries at most the request's `limit`
/// (and the fake's page size). Symbols marked [`FakeAlpaca::quiet`] have no bars at all.
pub struct FakeAlpaca {
    url: String,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
    quiet: Arc<Mutex<HashSet<String>>>,
    assets: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeAlpaca {
    /// Starts on a free port, serving pages of `page_size` bars and answering the first
    /// `throttled` requests with 429.
    pub async fn start(key_id: &str, secret: &str, page_size: usize, throttled: usize) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let quiet = Arc::new(Mutex::new(HashSet::new()));
        let assets = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake {
            assets: assets.clone(),
            quiet: quiet.clone(),
            key_id: key_id.into(),
            secret: secret.into(),
            page_size,
            throttle_first: Arc::new(AtomicUsize::new(throttled)),
            requests: requests.clone(),
        };
        let app = Router::new()
            .route("/v2/stocks/{symbol}/bars", get(bars))
            .route("/v2/assets", get(list_assets))
            .with_state(fake);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            requests,
            quiet,
            assets,
            task,
        }
    }

    /// From now on, `GET /v2/assets` answers these assets (Alpaca's asset objects).
    pub fn list_assets(&self, assets: Vec<Value>) {
        *self.assets.lock().expect("lock") = assets;
    }

    /// The base URL to use instead of `https://data.alpaca.markets`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// From now on, answers `symbol` with no bars (a symbol that did not trade).
    pub fn quiet(&self, symbol: &str) {
        self.quiet.lock().expect("lock").insert(symbol.to_owned());
    }

    /// Every request received: the symbol and its query parameters.
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.requests.lock().expect("lock").clone()
    }
}

impl Drop for FakeAlpaca {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Records a request (what was asked for, and its query), then refuses it with 403, as Alpaca
/// does, when it lacks the fake's keys.
fn admit(
    fake: &Fake,
    what: &str,
    headers: &HeaderMap,
    query: &std::collections::HashMap<String, String>,
) -> Option<Response> {
    fake.requests
        .lock()
        .expect("lock")
        .push((what.to_owned(), json!(query)));
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let good =
        header("apca-api-key-id") == fake.key_id && header("apca-api-secret-key") == fake.secret;
    (!good).then(|| {
        (
            StatusCode::FORBIDDEN,
            Json(json!({ "message": "forbidden." })),
        )
            .into_response()
    })
}

async fn list_assets(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Some(refused) = admit(&fake, "/v2/assets", &headers, &query) {
        return refused;
    }
    let class = query.get("asset_class").map(String::as_str);
    let assets: Vec<Value> = fake
        .assets
        .lock()
        .expect("lock")
        .iter()
        .filter(|a| class.is_none_or(|c| a["class"] == c))
        .cloned()
        .collect();
    Json(assets).into_response()
}

async fn bars(
    State(fake): State<Fake>,
    Path(symbol): Path<String>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Some(refused) = admit(&fake, &symbol, &headers, &query) {
        return refused;
    }
    if fake.throttle_first.load(Ordering::SeqCst) > 0 {
        fake.throttle_first.fetch_sub(1, Ordering::SeqCst);
        let reset = Utc::now().timestamp().to_string();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("x-ratelimit-limit", "200".to_owned()),
                ("x-ratelimit-remaining", "0".to_owned()),
                ("x-ratelimit-reset", reset),
            ],
            Json(json!({ "message": "too many requests." })),
        )
            .into_response();
    }
    let parse = |name: &str| {
        query
            .get(name)
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let (Some(start), Some(end)) = (parse("start"), parse("end")) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "message": "invalid start or end" })),
        )
            .into_response();
    };
    // Bars start on whole minutes, as Alpaca's minute bars do.
    let start = start.duration_trunc(Duration::minutes(1)).unwrap_or(start)
        + if start.timestamp_subsec_nanos() > 0 || start.timestamp() % 60 != 0 {
            Duration::minutes(1)
        } else {
            Duration::zero()
        };
    let offset: usize = query
        .get("page_token")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let size = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(1000usize)
        .clamp(1, 10_000)
        .min(fake.page_size);
    let total = if fake.quiet.lock().expect("lock").contains(&symbol) {
        0
    } else {
        ((end - start).num_minutes().max(0)) as usize
    };
    let page: Vec<Value> = (offset..total.min(offset + size))
        .map(|i| {
            let close = 100.0 + i as f64;
            json!({ "t": start + Duration::minutes(i as i64), "o": close, "h": close + 0.5, "l": close - 0.5, "c": close, "v": 1000, "n": 12, "vw": close })
        })
        .collect();
    let next = (offset + size < total).then(|| (offset + size).to_string());
    Json(json!({ "bars": page, "symbol": symbol, "next_page_token": next })).into_response()
}
