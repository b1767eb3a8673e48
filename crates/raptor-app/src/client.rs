//! Where a request came from, as far as the front door could tell.

/// The client behind a request: what audit entries and rate limits record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    /// The client address (from `X-Forwarded-For` behind a trusted router).
    pub ip: Option<String>,
    /// The `User-Agent`, truncated.
    pub user_agent: Option<String>,
    /// The HTTP request's id, recorded in audit entries.
    pub request_id: Option<String>,
}

impl Client {
    /// A key for per-client limits.
    pub fn ip_key(&self) -> &str {
        self.ip.as_deref().unwrap_or("unknown")
    }
}
