//! A software passkey: a real authenticator (its own key pair, signed assertions, a counter
//! that increments) that answers the JSON options Raptor's API hands out. The tests and
//! `raptor smoke` sign up and sign in with it exactly as a browser would.

use serde_json::{json, Value};
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey as Inner;

/// Why the authenticator could not answer.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The origin is not a URL.
    #[error("the origin '{0}' is not a URL")]
    Origin(String),
    /// The options are not WebAuthn options.
    #[error("the server's options are not WebAuthn options: {0}")]
    Options(String),
    /// The authenticator refused (wrong RP for the origin, no credential, …).
    #[error("the authenticator refused: {0:?}")]
    Refused(webauthn_authenticator_rs::prelude::WebauthnCError),
}

/// A software passkey bound to one origin.
pub struct SoftPasskey {
    inner: Inner,
    origin: Url,
}

impl SoftPasskey {
    /// An authenticator answering for pages on `origin` (user verification asserted).
    pub fn new(origin: &str) -> Result<Self, PasskeyError> {
        Ok(Self {
            inner: Inner::new(true),
            origin: Url::parse(origin).map_err(|_| PasskeyError::Origin(origin.to_owned()))?,
        })
    }

    /// Answers `navigator.credentials.create` for a body holding `{"publicKey": …}`.
    pub fn create(&mut self, options: &Value) -> Result<Value, PasskeyError> {
        let options: CreationChallengeResponse =
            serde_json::from_value(json!({ "publicKey": options["publicKey"] }))
                .map_err(|e| PasskeyError::Options(e.to_string()))?;
        let credential = self
            .inner
            .do_registration(self.origin.clone(), options)
            .map_err(PasskeyError::Refused)?;
        serde_json::to_value(credential).map_err(|e| PasskeyError::Options(e.to_string()))
    }

    /// Answers `navigator.credentials.get` for a body holding `{"publicKey": …}`.
    pub fn get(&mut self, options: &Value) -> Result<Value, PasskeyError> {
        let options: RequestChallengeResponse =
            serde_json::from_value(json!({ "publicKey": options["publicKey"] }))
                .map_err(|e| PasskeyError::Options(e.to_string()))?;
        let credential = self
            .inner
            .do_authentication(self.origin.clone(), options)
            .map_err(PasskeyError::Refused)?;
        serde_json::to_value(credential).map_err(|e| PasskeyError::Options(e.to_string()))
    }
}
