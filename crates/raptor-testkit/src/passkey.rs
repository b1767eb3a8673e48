//! A software passkey (a real authenticator: key pair, signed assertions, a counter that
//! increments), and the sign-up and sign-in ceremonies driven through it over HTTP.

use serde_json::{json, Value};

use crate::app::{Browser, Reply};

/// A software authenticator bound to one origin, with HTTP ceremony helpers.
pub struct SoftAuthenticator {
    inner: raptor_passkey::SoftPasskey,
}

impl SoftAuthenticator {
    /// An authenticator that answers ceremonies for `origin` (user verification asserted).
    pub fn new(origin: &str) -> Self {
        Self {
            inner: raptor_passkey::SoftPasskey::new(origin).expect("origin"),
        }
    }

    /// Answers `navigator.credentials.create` for options `{"publicKey": …}`.
    pub fn create(&mut self, options: &Value) -> Value {
        self.inner
            .create(options)
            .expect("the authenticator registers")
    }

    /// Answers `navigator.credentials.get` for options `{"publicKey": …}`.
    pub fn get(&mut self, options: &Value) -> Value {
        self.inner.get(options).expect("the authenticator signs")
    }

    /// Signs up `email` with this passkey; the browser keeps the session cookie.
    pub async fn sign_up(
        &mut self,
        browser: &mut Browser,
        email: &str,
        bootstrap_token: Option<&str>,
    ) -> Reply {
        let mut request = json!({ "email": email, "display_name": "Test Trader" });
        if let Some(token) = bootstrap_token {
            request["bootstrap_token"] = json!(token);
        }
        let options = browser.post("/api/auth/register/options", request).await;
        assert_eq!(options.status, 200, "register/options: {:?}", options.body);
        let credential = self.create(&options.body);
        browser
            .post(
                "/api/auth/register",
                json!({ "ceremony_id": options.body["ceremony_id"], "credential": credential }),
            )
            .await
    }

    /// Signs in as `email` with this passkey; the browser keeps the new session cookie.
    pub async fn sign_in(&mut self, browser: &mut Browser, email: &str) -> Reply {
        let options = browser
            .post("/api/auth/login/options", json!({ "email": email }))
            .await;
        assert_eq!(options.status, 200, "login/options: {:?}", options.body);
        let credential = self.get(&options.body);
        browser
            .post(
                "/api/auth/login",
                json!({ "ceremony_id": options.body["ceremony_id"], "credential": credential }),
            )
            .await
    }
}
