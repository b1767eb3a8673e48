//! Email sign-in links, for recovery: request one by address, use it once, soon.

use chrono::{DateTime, Duration, Utc};
use raptor_domain::Email;
use raptor_store::tokens::{LinkPurpose, NewLink};
use raptor_store::{audit, backup_codes, passkeys, sessions, tokens, users};
use raptor_store::{StoreError, Tx};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::accounts::{self, auth_event, SignInProof, SignedIn};
use crate::jobs::{self, Handler, JobError, JobFuture};
use crate::limits;
use crate::mail::{delivery, OutgoingEmail};
use crate::metrics::Outcome;
use crate::secrets::{new_token, token_hash};
use crate::{App, Client};

/// How long a link works.
const LINK_TTL: Duration = Duration::minutes(15);

/// Why a link did not sign anyone in.
#[derive(Debug, thiserror::Error)]
pub enum EmailLinkError {
    /// Unknown, used, expired, or its account is suspended: one answer for all.
    #[error("this sign-in link is unknown, used or expired; request a new one")]
    Invalid,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sends a sign-in link: the job carries the address and where the link leads, never the
/// token, which the worker mints when it sends.
pub const SEND_LINK: &str = "mail.sign_in_link";

/// What a [`SEND_LINK`] job knows: no secret, only what the request said and where from.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkJob {
    /// The address asked for, normalised.
    email: String,
    /// The sender.
    from: String,
    /// The sign-in page; the token goes into its fragment.
    link_to: String,
    /// The requesting client's address, for the token row and the audit entry.
    ip: Option<String>,
    /// Its `User-Agent`, for the audit entry.
    user_agent: Option<String>,
    /// The request's id, so the audit entry points back at the request.
    request_id: Option<String>,
}

/// Asks for a one-time sign-in link to `email`, to be mailed by a worker when an active
/// account uses the address. The request's own work is one enqueued job whatever the address,
/// so neither its answer nor its timing tells whether the address has an account. `link_to`
/// is the sign-in page (the token is added as its fragment); `from` is the sender.
pub async fn request(
    app: &App,
    email: &Email,
    client: &Client,
    from: &str,
    link_to: &Url,
) -> Result<(), StoreError> {
    let job = LinkJob {
        email: email.as_str().to_owned(),
        from: from.to_owned(),
        link_to: link_to.to_string(),
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        request_id: client.request_id.clone(),
    };
    let payload = json!(job);
    jobs::enqueue_alone(app, &delivery::job(SEND_LINK, payload)).await?;
    Ok(())
}

/// Runs [`SEND_LINK`] jobs: looks the address up, and for an active account stores a fresh
/// token's hash (retiring the user's earlier unused links), mails the link and audits the
/// request. An unknown or suspended address ends the job with nothing done, and so does an
/// address mailed a link within [`limits::EMAIL_LINK_MAILS_PER_ADDRESS`]'s window. Each attempt
/// mints its own token, so only the newest link mailed works.
pub(crate) struct SendLink;

impl Handler for SendLink {
    fn run<'a>(&'a self, app: &'a App, raw: &'a Value) -> JobFuture<'a> {
        Box::pin(async move {
            let job: LinkJob = delivery::payload(raw)?;
            let link = Url::parse(&job.link_to)
                .map_err(|e| JobError::Permanent(format!("link_to is not a URL: {e}")))?;
            let Some(user) = users::by_email(&app.db, &job.email)
                .await?
                .filter(users::User::is_active)
            else {
                return Ok(());
            };
            // One mail per address per window, whoever asks: the link already sent still
            // works, so a stranger's requests neither flood the inbox nor lock the owner out.
            // The claim is atomic, so concurrent workers cannot both send.
            let mails = limits::EMAIL_LINK_MAILS_PER_ADDRESS;
            let Some(claim) = limits::claim(app, mails, &user.email).await? else {
                tracing::info!(
                    user = user.id,
                    "sign-in link coalesced with one sent just now"
                );
                return Ok(());
            };
            if let Err(err) = send_link(app, &job, &user, link).await {
                // Nothing went out: give the window back so the retry can send.
                if let Err(release) = limits::release(app, claim).await {
                    tracing::error!(%release, user = user.id, "a sign-in link claim stuck");
                }
                return Err(err);
            }
            let client = Client {
                ip: job.ip,
                user_agent: job.user_agent,
                request_id: job.request_id,
            };
            let entry = auth_event(
                "auth.email_link.request",
                "success",
                Some((user.id, &user.email)),
                &client,
            );
            // The mail is out: a retry would send a second link, so a failed audit write is
            // logged rather than retried.
            if let Err(err) = audit::record_alone(&app.db, &entry, app.now()).await {
                tracing::error!(%err, user = user.id, "a sent sign-in link could not be audited");
            }
            Ok(())
        })
    }
}

/// Mints a token for `user`, stores its hash and mails the link.
async fn send_link(
    app: &App,
    job: &LinkJob,
    user: &users::User,
    mut link: Url,
) -> Result<(), JobError> {
    let now = app.now();
    let token = new_token();
    let stored = NewLink {
        purpose: LinkPurpose::Login,
        token_hash: &token_hash(&token),
        email: &user.email,
        user_id: user.id,
        ip: job.ip.as_deref(),
        expires_at: now + LINK_TTL,
    };
    tokens::issue_link(&app.db, &stored, now).await?;
    link.set_fragment(Some(&format!("token={token}")));
    let message = OutgoingEmail {
        from: job.from.clone(),
        to: user.email.clone(),
        subject: "Your Raxx sign-in link".to_owned(),
        text_body: format!(
            "Hello {},\n\nUse this link within 15 minutes to sign in to Raxx and add a new passkey:\n\n{link}\n\nIf you did not ask for it, ignore this email: nobody can use it without access to your inbox.\n",
            user.display_name
        ),
        tag: "email_link".to_owned(),
        reply_to: None,
        headers: Vec::new(),
    };
    app.mailer.send(&message).await?;
    Ok(())
}

/// The address of the account a link's token would sign in, without using the token: what
/// the sign-in page shows before the user chooses to sign in. Unknown, used and expired links
/// and suspended accounts get [`EmailLinkError::Invalid`], as at sign-in.
pub async fn account_for(app: &App, token: &str) -> Result<String, EmailLinkError> {
    let user = match tokens::link_user(&app.db, LinkPurpose::Login, &token_hash(token), app.now())
        .await?
    {
        Some(id) => users::by_id(&app.db, id)
            .await?
            .filter(users::User::is_active),
        None => None,
    };
    user.map(|user| user.email).ok_or(EmailLinkError::Invalid)
}

/// Signs in with a link's token, using it up along with the user's other unused links; a bad
/// link is audited. The link proves the address: an account that never proved it is claimed
/// (see [`claim`]) before the session starts.
pub async fn sign_in(app: &App, token: &str, client: &Client) -> Result<SignedIn, EmailLinkError> {
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let user_id = tokens::use_link(&mut tx, LinkPurpose::Login, &token_hash(token), now).await?;
    let user = match user_id {
        Some(id) => users::by_id(&app.db, id)
            .await?
            .filter(users::User::is_active),
        None => None,
    };
    let Some(user) = user else {
        drop(tx);
        app.metrics.sign_in("email_link", Outcome::Failure);
        let mut entry = auth_event("auth.email_link", "failure", None, client);
        entry.details = Some(json!({ "reason": "invalid_link" }));
        audit::record_alone(&app.db, &entry, now).await?;
        return Err(EmailLinkError::Invalid);
    };
    let details = if user.email_verified() {
        None
    } else {
        Some(claim(&mut tx, &user, now).await?)
    };
    let user = users::User {
        email_verified_at: user.email_verified_at.or(Some(now)),
        ..user
    };
    let proof = SignInProof {
        method: "email_link",
        action: "auth.email_link",
        details,
    };
    Ok(accounts::complete_sign_in(app, tx, user, proof, client, now).await?)
}

/// The first proof of an account's address hands the account to whoever holds the inbox: the
/// passkeys, backup codes, sessions and API keys made before it (by whoever signed up with the address,
/// perhaps not its owner) are removed, and the address counts as verified. What was removed,
/// for the audit entry.
async fn claim(tx: &mut Tx, user: &users::User, now: DateTime<Utc>) -> Result<Value, StoreError> {
    users::lock(tx, user.id).await?;
    let passkeys_removed = passkeys::delete_all(tx, user.id).await?;
    backup_codes::replace(tx, user.id, &[], now).await?;
    let sessions_revoked = sessions::revoke_all(tx, user.id, None, now).await?;
    let api_keys_revoked = raptor_store::api_keys::revoke_all(tx, user.id, now).await?;
    users::verify_email(tx, user.id, now).await?;
    Ok(json!({
        "claimed": true,
        "passkeys_removed": passkeys_removed,
        "sessions_revoked": sessions_revoked,
        "api_keys_revoked": api_keys_revoked,
    }))
}
