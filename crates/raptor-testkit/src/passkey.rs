//! A software passkey (a real authenticator: key pair, signed assertions, a counter that
//! increments), and the sign-up and sign-in ceremonies driven through it over HTTP.

use serde_json::{json, Value};
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::app::{Browser, Reply};

/// A software authenticator bound to one origin.
pub struct SoftAuthenticator {
    inner: SoftPasskey,
    origin: Url,
}

impl SoftAuthenticator {
    /// An authenticator that answers ceremonies for `origin` (user verification asserted).
    pub fn new(origin: &str) -> Self {
        Self {
            inner: SoftPasskey::new(true),
            origin: Url::parse(origin).expect("origin"),
        }
    }

    /// Answers `navigator.credentials.create` for options `{"publicKey": …}`.
    pub fn create(&mut self, options: &Value) -> Value {
        let options: CreationChallengeResponse =
            serde_json::from_value(json!({ "publicKey": options["publicKey"] }))
                .expect("creation options");
        let credential = self
            .inner
            .do_registration(self.origin.clone(), options)
            .expect("the authenticator registers");
        serde_json::to_value(credential).expect("credential JSON")
    }

    /// Answers `navigator.credentials.get` for options `{"publicKey": …}`.
    pub fn get(&mut self, options: &Value) -> Value {
        let options: RequestChallengeResponse =
            serde_json::from_value(json!({ "publicKey": options["publicKey"] }))
                .expect("request options");
        let credential = self
            .inner
            .do_authentication(self.origin.clone(), options)
            .expect("the authenticator signs");
        serde_json::to_value(credential).expect("assertion JSON")
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
