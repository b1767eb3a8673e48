//! What the recipients of a test server's mail would read: every message its mailer sent,
//! whole. The mailer still does its own work (the local outbox keeps a copy with its links
//! redacted; a Postmark client posts it), so a test reads sign-in links here.

use std::sync::{Arc, Mutex};

use raptor_app::mail::{MailFuture, Mailer, OutgoingEmail};
use serde_json::Value;

/// Messages sent, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    sent: Mutex<Vec<OutgoingEmail>>,
}

impl Inbox {
    /// The messages sent, newest first (as `raptor_store::outbox::recent` lists them), in the
    /// outbox's JSON shape.
    pub(crate) fn newest_first(&self) -> Vec<Value> {
        let sent = self.sent.lock().expect("lock");
        sent.iter()
            .rev()
            .map(|email| serde_json::to_value(email).expect("a message is JSON"))
            .collect()
    }
}

/// A mailer that sends through `inner` and keeps what it sent in `inbox`.
#[derive(Debug)]
pub(crate) struct Tee {
    pub(crate) inner: Arc<dyn Mailer>,
    pub(crate) inbox: Arc<Inbox>,
}

impl Mailer for Tee {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> MailFuture<'a> {
        Box::pin(async move {
            self.inner.send(email).await?;
            self.inbox.sent.lock().expect("lock").push(email.clone());
            Ok(())
        })
    }
}
