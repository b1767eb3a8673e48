//! What the API needs to know about where it is served: the public URL, from which the
//! WebAuthn relying party and the cookie's `Secure` flag follow.

use url::Url;

use crate::edge::EdgeLimits;
use crate::metrics::MetricsToken;
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// Why the public URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not a URL at all.
    #[error("RAPTOR_PUBLIC_URL is not a URL: {0}")]
    NotAUrl(#[from] url::ParseError),
    /// WebAuthn needs a domain as relying-party id.
    #[error("RAPTOR_PUBLIC_URL must name a domain, not an IP address (use http://localhost:8000, not 127.0.0.1): passkeys are bound to a domain")]
    NotADomain,
    /// Browsers allow WebAuthn only on secure origins.
    #[error("RAPTOR_PUBLIC_URL must use https unless the host is localhost: browsers refuse passkeys on plain http")]
    Insecure,
    /// The WebAuthn library refused the relying party.
    #[error("RAPTOR_PUBLIC_URL cannot serve as a WebAuthn relying party: {0}")]
    Webauthn(String),
}

/// Settings derived from the public URL; shared by every request.
#[derive(Debug)]
pub struct ApiConfig {
    /// The relying party (RP id = the public URL's host).
    pub webauthn: Webauthn,
    /// The public URL.
    pub public_url: Url,
    /// The origin browsers send (`scheme://host[:port]`).
    pub origin: String,
    /// Whether the session cookie is `Secure` (all but plain-http localhost).
    pub cookie_secure: bool,
    /// The session cookie's name: `__Host-` prefixed when it is `Secure`.
    pub cookie_name: &'static str,
    /// Whether to take the client address from `X-Forwarded-For` and the request id from
    /// `X-Request-Id` (behind a trusted router that sets them).
    pub trust_proxy: bool,
    /// The address emails come from.
    pub mail_from: String,
    /// Where billing alerts go when an alert names no address.
    pub alert_email: String,
    /// The inbound support address (`RAPTOR_SUPPORT_ADDRESS`, no `+tag`); a staff reply's
    /// `Reply-To` is its plus-address with the reply's token.
    pub support_address: String,
    /// Servers whose `Authentication-Results` headers on inbound mail are believed
    /// (`RAPTOR_INBOUND_AUTHSERV_IDS`); none by default, since any sender can write one.
    pub trusted_authserv_ids: Vec<String>,
    /// Credentials providers use to call our webhooks.
    pub webhooks: WebhookSecrets,
    /// Timeouts and limits at the edge.
    pub limits: EdgeLimits,
    /// The bearer token `/metrics` requires (`RAPTOR_METRICS_TOKEN`); None: `/metrics` is off.
    pub metrics_token: Option<MetricsToken>,
}

/// Webhook credentials; a webhook whose credentials are unset answers 503 and stores nothing.
#[derive(Clone, Default)]
pub struct WebhookSecrets {
    /// HTTP basic credentials Postmark sends (`RAPTOR_POSTMARK_WEBHOOK_USER`/`_PASSWORD`).
    pub postmark: Option<(String, String)>,
    /// HMAC key of the status page (`RAPTOR_STATUS_WEBHOOK_SECRET`).
    pub status_secret: Option<String>,
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecrets")
            .field("postmark", &self.postmark.as_ref().map(|_| "<set>"))
            .field(
                "status_secret",
                &self.status_secret.as_ref().map(|_| "<set>"),
            )
            .finish()
    }
}

impl ApiConfig {
    /// Derives the settings from the public URL (`RAPTOR_PUBLIC_URL`).
    pub fn new(public_url: &str, trust_proxy: bool) -> Result<Self, ConfigError> {
        let public_url = Url::parse(public_url)?;
        let Some(url::Host::Domain(host)) = public_url.host() else {
            return Err(ConfigError::NotADomain);
        };
        let host = host.to_owned();
        let local = host == "localhost";
        if public_url.scheme() != "https" && !local {
            return Err(ConfigError::Insecure);
        }
        let webauthn = WebauthnBuilder::new(&host, &public_url)
            .and_then(|b| b.rp_name("Raxx").build())
            .map_err(|e| ConfigError::Webauthn(e.to_string()))?;
        let cookie_secure = !(local && public_url.scheme() == "http");
        Ok(Self {
            webauthn,
            origin: public_url.origin().ascii_serialization(),
            cookie_secure,
            cookie_name: crate::session::cookie_name(cookie_secure),
            public_url,
            trust_proxy,
            mail_from: "Raxx <no-reply@raxx.app>".to_owned(),
            alert_email: "ops@raxx.app".to_owned(),
            support_address: "support@raxx.app".to_owned(),
            trusted_authserv_ids: Vec::new(),
            webhooks: WebhookSecrets::default(),
            limits: EdgeLimits::default(),
            metrics_token: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_everywhere_but_plain_http_localhost() {
        let local = ApiConfig::new("http://localhost:8000", false).expect("local");
        assert!(!local.cookie_secure);
        assert_eq!(local.cookie_name, "raptor_session");
        assert_eq!(local.origin, "http://localhost:8000");
        let public = ApiConfig::new("https://api-staging.raxx.app", true).expect("public");
        assert!(public.cookie_secure);
        assert_eq!(public.cookie_name, "__Host-raptor_session");
        assert_eq!(public.origin, "https://api-staging.raxx.app");
    }

    #[test]
    fn public_urls_that_cannot_host_passkeys_are_refused() {
        assert!(matches!(
            ApiConfig::new("http://127.0.0.1:8000", false),
            Err(ConfigError::NotADomain)
        ));
        assert!(matches!(
            ApiConfig::new("http://raxx.app", false),
            Err(ConfigError::Insecure)
        ));
        assert!(matches!(
            ApiConfig::new("not a url", false),
            Err(ConfigError::NotAUrl(_))
        ));
    }
}
