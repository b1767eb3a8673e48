//! Alpaca with an account's API keys, waiting out rate limits (`X-RateLimit-Remaining`/`-Reset`,
//! 429) and retrying server errors:
//! - Market Data v2 as a bar source: `GET /v2/stocks/{symbol}/bars`, following
//!   `next_page_token` only until the bars asked for are in, and never asking for data newer
//!   than the plan's delay allows;
//! - the Trading API's asset list, `GET /v2/assets`, for the symbol catalogue.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use raptor_domain::timeframe::Timeframe;
use raptor_store::market::StoredBar;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::market::BarSource;

/// Alpaca's market data host.
pub const DATA_URL: &str = "https://data.alpaca.markets";
/// Alpaca's paper Trading API host (the asset list is the same as live's).
pub const TRADING_URL: &str = "https://paper-api.alpaca.markets";
/// Attempts per page before giving up on rate limits or server errors.
const ATTEMPTS: u32 = 5;
/// Most bars one page may carry (Alpaca's maximum `limit`).
const PAGE_LIMIT: usize = 10_000;

/// Alpaca API keys and the HTTP client requests go out on.
#[derive(Clone)]
struct Keys {
    client: reqwest::Client,
    key_id: String,
    secret: String,
}

impl Keys {
    fn new(key_id: &str, secret: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            key_id: key_id.to_owned(),
            secret: secret.to_owned(),
        }
    }

    /// `GET url?query` with the keys, read as JSON: rate limits are waited out and server
    /// errors retried, up to [`ATTEMPTS`]; `refused` says what else a 401 or 403 may mean.
    async fn get<T: DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, String)],
        refused: &str,
    ) -> Result<T, String> {
        for attempt in 0..ATTEMPTS {
            let response = self
                .client
                .get(url)
                .header("APCA-API-KEY-ID", &self.key_id)
                .header("APCA-API-SECRET-KEY", &self.secret)
                .query(query)
                .send()
                .await
                .map_err(|e| format!("Alpaca could not be reached: {}", e.without_url()))?;
            let status = response.status().as_u16();
            let wait = rate_limit_wait(response.headers(), attempt);
            match status {
                200 => {
                    let exhausted = response
                        .headers()
                        .get("x-ratelimit-remaining")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|left| left.trim() == "0");
                    let body: T = response.json().await.map_err(|e| {
                        format!("Alpaca answered with an unreadable body: {}", e.without_url())
                    })?;
                    // Out of requests for this window: wait for the reset before the next one.
                    if exhausted {
                        tokio::time::sleep(wait).await;
                    }
                    return Ok(body);
                }
                429 | 500..=599 => {
                    tracing::warn!(status, attempt, wait_ms = wait.as_millis() as u64, "Alpaca asked us to slow down; retrying");
                    tokio::time::sleep(wait).await;
                }
                401 | 403 => {
                    return Err(format!(
                        "Alpaca refused the request ({status}): check ALPACA_API_KEY_ID / ALPACA_API_SECRET_KEY{refused}"
                    ))
                }
                other => {
                    let message = response.text().await.unwrap_or_default();
                    return Err(format!(
                        "Alpaca answered {other}: {}",
                        message.chars().take(200).collect::<String>()
                    ));
                }
            }
        }
        Err(format!(
            "Alpaca kept refusing after {ATTEMPTS} attempts (rate limited)"
        ))
    }
}

/// Alpaca Market Data credentials and preferences.
#[derive(Clone)]
pub struct AlpacaBars {
    keys: Keys,
    base_url: String,
    feed: String,
    delay: Duration,
}

impl std::fmt::Debug for AlpacaBars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlpacaBars({}, feed {})", self.base_url, self.feed)
    }
}

impl AlpacaBars {
    /// A client for `base_url` (Alpaca's, or a local fake) with these keys. `feed` is `iex`
    /// (free, real time) or `sip`; `delay` is how far behind now requests must stay (the free
    /// plan's 15 minutes for SIP data).
    pub fn new(base_url: &str, key_id: &str, secret: &str, feed: &str, delay: Duration) -> Self {
        Self {
            keys: Keys::new(key_id, secret),
            base_url: base_url.trim_end_matches('/').to_owned(),
            feed: feed.to_owned(),
            delay,
        }
    }

    /// Fetches the first `limit` bars in `[start, end)`, oldest first: pages of at most
    /// Alpaca's maximum, each asking only for what is still missing, and no page after the
    /// last one needed.
    pub async fn bars(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<StoredBar>, String> {
        let end = end.min(Utc::now() - self.delay);
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
        let mut bars = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let want = (limit - bars.len()).min(PAGE_LIMIT);
            let page = self
                .page(symbol, timeframe, start, end, want, page_token.as_deref())
                .await?;
            bars.extend(
                page.bars
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(WireBar::into_stored)
                    .take(want),
            );
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(token) if bars.len() < limit => page_token = Some(token),
                _ => return Ok(bars),
            }
        }
    }

    async fn page(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: usize,
        page_token: Option<&str>,
    ) -> Result<Page, String> {
        let url = format!("{}/v2/stocks/{symbol}/bars", self.base_url);
        let limit = limit.to_string();
        let mut query = vec![
            ("timeframe", timeframe.as_str().to_owned()),
            ("start", start.to_rfc3339_opts(SecondsFormat::Secs, true)),
            ("end", end.to_rfc3339_opts(SecondsFormat::Secs, true)),
            ("limit", limit),
            ("adjustment", "raw".to_owned()),
            ("feed", self.feed.clone()),
        ];
        if let Some(token) = page_token {
            query.push(("page_token", token.to_owned()));
        }
        let refused = format!(" and whether the plan includes the '{}' feed", self.feed);
        self.keys.get(&url, &query, &refused).await
    }
}

/// How long to wait before the next request: until `X-RateLimit-Reset` when given (capped),
/// otherwise exponential back-off.
fn rate_limit_wait(headers: &reqwest::header::HeaderMap, attempt: u32) -> StdDuration {
    let reset = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    match reset {
        Some(at) => {
            let seconds = (at - Utc::now().timestamp()).clamp(0, 60);
            StdDuration::from_millis(seconds as u64 * 1000 + 100)
        }
        None => StdDuration::from_millis(250 * 2u64.pow(attempt)),
    }
}

#[derive(Deserialize)]
struct Page {
    bars: Option<Vec<WireBar>>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct WireBar {
    t: DateTime<Utc>,
    o: f64,
    h: f64,
    l: f64,
    c: f64,
    v: f64,
    n: Option<i64>,
    vw: Option<f64>,
}

impl WireBar {
    fn into_stored(self) -> Option<StoredBar> {
        let finite = [self.o, self.h, self.l, self.c, self.v]
            .iter()
            .all(|x| x.is_finite());
        finite.then_some(StoredBar {
            ts: self.t,
            open: self.o,
            high: self.h,
            low: self.l,
            close: self.c,
            volume: self.v,
            trade_count: self.n,
            vwap: self.vw,
        })
    }
}

impl BarSource for AlpacaBars {
    fn fetch<'a>(
        &'a self,
        symbol: &'a str,
        timeframe: Timeframe,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<StoredBar>, String>> + Send + 'a>> {
        Box::pin(self.bars(symbol, timeframe, start, end, limit))
    }

    fn delay(&self) -> Duration {
        self.delay
    }
}

/// The Trading API's asset list.
#[derive(Clone)]
pub struct AlpacaAssets {
    keys: Keys,
    base_url: String,
}

impl std::fmt::Debug for AlpacaAssets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlpacaAssets({})", self.base_url)
    }
}

/// An asset as Alpaca lists it (the fields the catalogue keeps).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireAsset {
    /// Alpaca's id for it.
    pub id: String,
    /// `us_equity`, `us_option` or `crypto`.
    pub class: String,
    /// Listing exchange.
    pub exchange: String,
    /// Ticker.
    pub symbol: String,
    /// Company or fund name (missing for some).
    #[serde(default)]
    pub name: Option<String>,
    /// `active` or `inactive`.
    pub status: String,
    /// Whether Alpaca takes orders for it.
    pub tradable: bool,
    /// Whether fractional quantities are allowed.
    #[serde(default)]
    pub fractionable: bool,
}

impl AlpacaAssets {
    /// A client for `base_url` (Alpaca's Trading API, or a local fake) with these keys.
    pub fn new(base_url: &str, key_id: &str, secret: &str) -> Self {
        Self {
            keys: Keys::new(key_id, secret),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Every asset of `class` (`us_equity` or `crypto`), active or not, in the one response
    /// Alpaca answers with; each one read alone, so one Raptor cannot read (a null where a
    /// value belongs) is reported rather than failing the list.
    pub async fn assets(&self, class: &str) -> Result<Vec<Result<WireAsset, String>>, String> {
        let url = format!("{}/v2/assets", self.base_url);
        let listed: Vec<serde_json::Value> = self
            .keys
            .get(&url, &[("asset_class", class.to_owned())], "")
            .await?;
        Ok(listed
            .into_iter()
            .map(|raw| {
                let symbol = raw["symbol"].as_str().unwrap_or("?").to_owned();
                serde_json::from_value(raw).map_err(|e| format!("{symbol:?}: {e}"))
            })
            .collect())
    }
}
