//! Mail on the job queue. A use case enqueues a mail job inside the transaction of the work
//! that asks for it, and a worker sends it through `App::mailer`: a provider that is away,
//! slow or answering 5xx is tried again with growing delays, a refusal ends the job at once,
//! and a job out of attempts stays `failed` for an operator to retry.
//!
//! Payloads are stored in the clear, so a mail that carries a secret (a sign-in link, a
//! subscription's confirmation link) is not enqueued as a message: its job carries only the
//! address, and the worker mints the secret when it sends (`mail.sign_in_link`,
//! `mail.verify_email`, `mail.marketing_confirmation`, and a support reply's
//! `mail.support_reply`, whose Reply-To carries a ticket's reply token). [`SEND`] carries whole
//! messages that hold no secret.

use raptor_store::jobs::Enqueued;
use raptor_store::{StoreError, Tx};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::OutgoingEmail;
use crate::jobs::{self, Handler, Job, JobError, JobFuture, Registry};
use crate::{email_links, email_verification, marketing, support, App};

/// Sends a finished message (a support reply, a billing alert).
pub const SEND: &str = "mail.send";

/// Attempts a mail job gets. With the queue's backoff (15 s, doubling) the last comes about
/// half an hour after the first: a short provider outage is ridden out, a long one leaves the
/// job `failed` for `raptor jobs retry`.
pub const MAIL_ATTEMPTS: i64 = 8;

/// A mail job of `kind` with `payload` and [`MAIL_ATTEMPTS`].
pub fn job(kind: &'static str, payload: Value) -> Job {
    let mut job = Job::new(kind, payload);
    job.max_attempts = MAIL_ATTEMPTS;
    job
}

/// Enqueues `email` inside `tx`: it is sent if and only if the transaction commits. The
/// message must hold no secret (payloads are stored and shown to operators).
pub async fn enqueue(
    app: &App,
    tx: &mut Tx,
    email: &OutgoingEmail,
) -> Result<Enqueued, StoreError> {
    jobs::enqueue(app, tx, &job(SEND, json!(email))).await
}

/// Reads a mail job's payload; one that does not parse will never run, so it is permanent.
pub(crate) fn payload<T: DeserializeOwned>(payload: &Value) -> Result<T, JobError> {
    serde_json::from_value(payload.clone())
        .map_err(|e| JobError::Permanent(format!("the payload does not parse: {e}")))
}

/// Adds the mail kinds' handlers to `registry`.
pub fn register(registry: Registry) -> Registry {
    registry
        .with(SEND, SendMessage)
        .with(email_links::SEND_LINK, email_links::SendLink)
        .with(
            email_verification::SEND_VERIFICATION,
            email_verification::SendVerification,
        )
        .with(marketing::SEND_CONFIRMATION, marketing::SendConfirmation)
        .with(support::email::SEND_REPLY, support::email::SendReply)
}

/// Runs [`SEND`] jobs.
struct SendMessage;

impl Handler for SendMessage {
    fn run<'a>(&'a self, app: &'a App, raw: &'a Value) -> JobFuture<'a> {
        Box::pin(async move {
            let email: OutgoingEmail = payload(raw)?;
            app.mailer.send(&email).await?;
            Ok(())
        })
    }
}
