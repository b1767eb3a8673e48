//! Accounts: opening one at sign-up and finishing a sign-in, whatever proved who the user is
//! (a passkey, a backup code, an email link).

use chrono::DateTime;
use chrono::Utc;
use raptor_domain::{DisplayName, Email, Role};
use raptor_store::audit::{self, AuditEvent};
use raptor_store::passkeys::{self, Ceremony, NewPasskey};
use raptor_store::users::{self, User};
use raptor_store::{tokens, StoreError, Tx};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::ceremonies::{self, CeremonyError};
use crate::email_verification::{self, VerificationMail};
use crate::metrics::Outcome;
use crate::secrets::token_hash;
use crate::sessions::{self, Issued};
use crate::{App, Client};

/// Paper cash every new account opens with.
pub const OPENING_CASH: Decimal = Decimal::from_parts(100_000, 0, 0, false, 0);

/// An audit event for an auth action by (or against) a user, from a client.
pub fn auth_event(
    action: &'static str,
    outcome: &'static str,
    user: Option<(i64, &str)>,
    client: &Client,
) -> AuditEvent {
    AuditEvent {
        actor_user_id: user.map(|(id, _)| id),
        actor_email: user.map(|(_, email)| email.to_owned()),
        actor_type: "user",
        action,
        target_type: user.map(|_| "user"),
        target_id: user.map(|(id, _)| id.to_string()),
        outcome,
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        request_id: client.request_id.clone(),
        ..AuditEvent::default()
    }
}

/// A finished sign-in: the session to hand to the client, the user and their roles.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The new session (its token goes to the client).
    pub session: Issued,
    /// Who signed in.
    pub user: User,
    /// Their roles.
    pub roles: Vec<Role>,
}

/// How a sign-in was proven and what to audit it as.
#[derive(Debug, Clone)]
pub struct SignInProof {
    /// `passkey`, `backup_code` or `email_link`: stored with the session.
    pub method: &'static str,
    /// The audit action, e.g. `auth.login`.
    pub action: &'static str,
    /// Details for the audit entry.
    pub details: Option<Value>,
}

/// Finishes a sign-in inside its transaction: the new session, the last-login time and the
/// audit entry commit together.
pub async fn complete_sign_in(
    app: &App,
    mut tx: Tx,
    user: User,
    proof: SignInProof,
    client: &Client,
    now: DateTime<Utc>,
) -> Result<SignedIn, StoreError> {
    let session = sessions::issue(&mut tx, user.id, proof.method, client, now).await?;
    users::touch_login(&mut tx, user.id, now).await?;
    let mut entry = auth_event(
        proof.action,
        "success",
        Some((user.id, &user.email)),
        client,
    );
    entry.session_id = Some(session.id);
    entry.details = proof.details;
    audit::record(&mut tx, &entry, now).await?;
    tx.commit().await?;
    // A sign-up ends in a session too, but it is counted as what it is.
    if proof.action == "auth.register" {
        app.metrics.signed_up();
    } else {
        app.metrics.sign_in(proof.method, Outcome::Success);
    }
    let roles = users::roles(&app.db, user.id, now).await?;
    Ok(SignedIn {
        session,
        user,
        roles,
    })
}

/// A verified sign-up: who, and the passkey they registered.
#[derive(Debug)]
pub struct NewAccount<'a> {
    /// The account's email (unique).
    pub email: &'a Email,
    /// What to call them.
    pub display_name: &'a DisplayName,
    /// The WebAuthn user handle the passkey was made for.
    pub user_handle: &'a [u8],
    /// The passkey; its `user_id` is filled in here.
    pub passkey: NewPasskey<'a>,
    /// The hash ([`crate::secrets::token_hash`]) of a bootstrap token that makes the new user
    /// an admin; the token itself is not kept while the ceremony is pending.
    pub bootstrap_token_hash: Option<&'a [u8]>,
    /// The mail that asks the new user to prove their address.
    pub verification: VerificationMail<'a>,
    /// The registration ceremony the passkey answered; used up with the sign-up.
    pub ceremony: &'a Ceremony,
}

/// Why a sign-up was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    /// The email already has an account.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The passkey is registered to an account already.
    #[error("this passkey is already registered")]
    CredentialRegistered,
    /// The bootstrap token was used or expired meanwhile.
    #[error("the bootstrap token was used or expired before sign-up finished")]
    BootstrapTokenGone,
    /// The ceremony was finished by another request meanwhile.
    #[error(transparent)]
    Ceremony(#[from] CeremonyError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A grant made by sign-up itself: no granter, no end.
fn system_grant(user_id: i64, role: Role) -> users::NewGrant<'static> {
    users::NewGrant {
        user_id,
        role,
        granted_by: None,
        expires_at: None,
        reason: None,
    }
}

/// Opens an account in one transaction: the user, a paper account with the opening cash, the
/// passkey, the customer role, the admin role when a bootstrap token is redeemed (audited),
/// the mail asking to verify the address, and the first session. Nothing is written (or
/// mailed) when any part is refused.
pub async fn sign_up(
    app: &App,
    account: NewAccount<'_>,
    client: &Client,
) -> Result<SignedIn, SignUpError> {
    let now = app.now();
    let mut tx = app.db.begin().await?;
    ceremonies::finish(&mut tx, account.ceremony).await?;
    let user = users::create(
        &mut tx,
        account.email.as_str(),
        account.display_name.as_str(),
        account.user_handle,
        now,
    )
    .await
    .map_err(|err| match err {
        err if err.is_unique_violation() => SignUpError::EmailTaken,
        err => err.into(),
    })?;
    users::open_paper_account(&mut tx, user.id, OPENING_CASH, "USD", now).await?;
    let passkey = NewPasskey {
        user_id: user.id,
        ..account.passkey
    };
    passkeys::insert(&mut tx, &passkey, now)
        .await
        .map_err(|err| match err {
            err if err.is_unique_violation() => SignUpError::CredentialRegistered,
            err => err.into(),
        })?;
    users::grant_role(&mut tx, &system_grant(user.id, Role::Customer), now).await?;
    if let Some(hash) = account.bootstrap_token_hash {
        if !tokens::use_bootstrap(&mut tx, hash, user.id, now).await? {
            return Err(SignUpError::BootstrapTokenGone);
        }
        users::grant_role(&mut tx, &system_grant(user.id, Role::Admin), now).await?;
        let mut entry = auth_event(
            "role.grant",
            "success",
            Some((user.id, &user.email)),
            client,
        );
        entry.details = Some(json!({ "role": "admin", "via": "bootstrap_token" }));
        audit::record(&mut tx, &entry, now).await?;
    }
    email_verification::enqueue(app, &mut tx, user.id, account.verification).await?;
    let proof = SignInProof {
        method: "passkey",
        action: "auth.register",
        details: None,
    };
    Ok(complete_sign_in(app, tx, user, proof, client, now).await?)
}

/// The account using `email`, if any.
pub async fn by_email(app: &App, email: &Email) -> Result<Option<User>, StoreError> {
    users::by_email(&app.db, email.as_str()).await
}

/// The account with this id, if any.
pub async fn by_id(app: &App, user_id: i64) -> Result<Option<User>, StoreError> {
    users::by_id(&app.db, user_id).await
}

/// The account a discoverable passkey's user handle names, if any.
pub async fn by_handle(app: &App, user_handle: &[u8]) -> Result<Option<User>, StoreError> {
    users::by_handle(&app.db, user_handle).await
}

/// Whether `token` is an unused, unexpired bootstrap token.
pub async fn bootstrap_token_is_valid(app: &App, token: &str) -> Result<bool, StoreError> {
    tokens::bootstrap_is_valid(&app.db, &token_hash(token), app.now()).await
}

/// Records a refused auth attempt on its own (there is no transaction to join); a refused
/// passkey sign-in (`auth.login`) is counted as one for metrics.
pub async fn record_refusal(app: &App, event: &AuditEvent) -> Result<(), StoreError> {
    if event.action == "auth.login" {
        app.metrics.sign_in("passkey", Outcome::Failure);
    }
    audit::record_alone(&app.db, event, app.now()).await
}

/// A passkey that just proved who the user is: its row, its updated state, and what the
/// authenticator reported.
#[derive(Debug, Clone)]
pub struct PasskeyUse<'a> {
    /// The passkey's row id.
    pub passkey_id: i64,
    /// The passkey as the library serialises it after the use.
    pub passkey: &'a Value,
    /// The signature counter it reported.
    pub counter: u32,
    /// Whether it is backed up now.
    pub backup_state: bool,
}

/// Signs `user` in with a verified passkey: the ceremony's end, the passkey's new counter and
/// backup state, the session and the audit entry commit together.
pub async fn passkey_sign_in(
    app: &App,
    ceremony: &Ceremony,
    user: User,
    used: PasskeyUse<'_>,
    client: &Client,
) -> Result<SignedIn, CeremonyError> {
    let now = app.now();
    let mut tx = app.db.begin().await?;
    ceremonies::finish(&mut tx, ceremony).await?;
    passkeys::record_use(
        &mut tx,
        used.passkey_id,
        used.passkey,
        i64::from(used.counter),
        used.backup_state,
        now,
    )
    .await?;
    let proof = SignInProof {
        method: "passkey",
        action: "auth.login",
        details: Some(json!({ "passkey_id": used.passkey_id, "counter": used.counter })),
    };
    Ok(complete_sign_in(app, tx, user, proof, client, now).await?)
}

/// Issues a single-use bootstrap token, valid for `ttl`: whoever signs up with it becomes an
/// admin. Only its hash is stored; the issue is audited as the operator's. The token and when
/// it expires.
pub async fn issue_bootstrap_token(
    app: &App,
    ttl: chrono::Duration,
) -> Result<(String, DateTime<Utc>), StoreError> {
    let token = crate::secrets::new_token();
    let now = app.now();
    let expires = now + ttl;
    tokens::issue_bootstrap(
        &app.db,
        &token_hash(&token),
        "raptor admin bootstrap-token",
        now,
        expires,
    )
    .await?;
    let event = AuditEvent {
        actor_type: "operator",
        action: "bootstrap_token.issue",
        outcome: "success",
        details: Some(json!({ "expires_at": expires })),
        ..AuditEvent::default()
    };
    audit::record_alone(&app.db, &event, now).await?;
    Ok((token, expires))
}

/// Step-up: `user` proved `used` passkey again within session `session_id`, answering
/// `ceremony`. The ceremony's end, the passkey's new counter, the session's passkey proof time
/// and the audit entry commit together; staff
/// actions that need a recent proof then pass for [`raptor_domain::STEP_UP_WINDOW`]. Returns
/// the proof time, or `None` when the session ended meanwhile (nothing is written).
pub async fn step_up(
    app: &App,
    ceremony: &Ceremony,
    user: &User,
    session_id: i64,
    used: PasskeyUse<'_>,
    client: &Client,
) -> Result<Option<DateTime<Utc>>, CeremonyError> {
    let now = app.now();
    let mut tx = app.db.begin().await?;
    ceremonies::finish(&mut tx, ceremony).await?;
    if !raptor_store::sessions::prove_passkey(&mut tx, user.id, session_id, now).await? {
        return Ok(None);
    }
    passkeys::record_use(
        &mut tx,
        used.passkey_id,
        used.passkey,
        i64::from(used.counter),
        used.backup_state,
        now,
    )
    .await?;
    let mut entry = auth_event(
        "auth.step_up",
        "success",
        Some((user.id, &user.email)),
        client,
    );
    entry.session_id = Some(session_id);
    entry.details = Some(json!({ "passkey_id": used.passkey_id, "counter": used.counter }));
    audit::record(&mut tx, &entry, now).await?;
    tx.commit().await?;
    Ok(Some(now))
}
