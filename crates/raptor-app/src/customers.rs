//! The staff view of customers: search, detail, notes, suspension, reinstatement and session
//! revocation. Every change is audited with the entry the front door prepared; who may do
//! what (support staff read, admins change) is the front door's check.

use raptor_domain::{InvalidInput, Role, UserStatus};
use raptor_store::audit::{self, AuditEvent};
use raptor_store::customers::{self, Customer, Note};
use raptor_store::passkeys::{self, StoredPasskey};
use raptor_store::sessions::{self, Session};
use raptor_store::{backup_codes, users, StoreError};
use rust_decimal::Decimal;
use serde_json::json;

use crate::sessions::IDLE_TIMEOUT;
use crate::text;
use crate::App;

/// Most customers one page holds.
const MAX_PAGE: i64 = 200;
/// Longest search text.
const MAX_QUERY: usize = 100;
/// Longest note.
const MAX_NOTE: usize = 10_000;
/// Longest suspension reason.
const MAX_REASON: usize = 1000;

/// Why a customer request was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    /// The request breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// No such customer.
    #[error("no customer {0}")]
    NotFound(i64),
    /// An admin tried to suspend their own account.
    #[error("you cannot suspend your own account")]
    OwnAccount,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of a customer search.
#[derive(Debug, Clone)]
pub struct Page {
    /// The customers, by id.
    pub customers: Vec<Customer>,
    /// The id to pass as `after` for the next page (None: this is the last).
    pub next_after: Option<i64>,
}

/// Customers whose email or name contains `query`, by id, after id `after`; `limit` is 1 to
/// 200 (default 50).
pub async fn search(
    app: &App,
    query: Option<&str>,
    after: Option<i64>,
    limit: Option<i64>,
) -> Result<Page, CustomerError> {
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(InvalidInput::new("limit", "must be between 1 and 200").into());
    }
    let query = text::optional_line("query", query, MAX_QUERY)?;
    // One extra row tells whether another page follows.
    let mut customers = customers::search(&app.db, query, after, limit + 1).await?;
    let more = customers.len() as i64 > limit;
    customers.truncate(limit as usize);
    let next_after = if more {
        customers.last().map(|c| c.id)
    } else {
        None
    };
    Ok(Page {
        customers,
        next_after,
    })
}

async fn customer(app: &App, id: i64) -> Result<Customer, CustomerError> {
    customers::get(&app.db, id)
        .await?
        .ok_or(CustomerError::NotFound(id))
}

/// Everything staff see about one customer.
#[derive(Debug, Clone)]
pub struct Detail {
    /// The customer.
    pub customer: Customer,
    /// Their roles.
    pub roles: Vec<Role>,
    /// Their passkeys.
    pub passkeys: Vec<StoredPasskey>,
    /// How many backup codes are left unused.
    pub backup_codes_remaining: usize,
    /// Their live sessions (not revoked, not expired, not idle).
    pub sessions: Vec<Session>,
    /// Their paper account's cash (None: no paper account).
    pub paper_cash: Option<Decimal>,
    /// Staff notes, as stored.
    pub notes: Vec<Note>,
}

/// One customer with their roles, sign-in methods, live sessions, cash and notes.
pub async fn detail(app: &App, id: i64) -> Result<Detail, CustomerError> {
    let customer = customer(app, id).await?;
    let now = app.now();
    let roles = users::roles(&app.db, id, now).await?;
    let passkeys = passkeys::of_user(&app.db, id).await?;
    let sessions = sessions::of_user(&app.db, id, now, now - IDLE_TIMEOUT).await?;
    let backup_codes_remaining = backup_codes::unused(&app.db, id).await?.len();
    let paper_cash = users::paper_cash(&app.db, id).await?;
    let notes = customers::notes(&app.db, id).await?;
    Ok(Detail {
        customer,
        roles,
        passkeys,
        backup_codes_remaining,
        sessions,
        paper_cash,
        notes,
    })
}

/// A staff note on customer `id` by `author`, audited with `audit` (its details are set here).
pub async fn add_note(
    app: &App,
    id: i64,
    author: i64,
    body: &str,
    mut audit: AuditEvent,
) -> Result<Note, CustomerError> {
    let body = text::required("body", body, MAX_NOTE)?;
    customer(app, id).await?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let note = customers::add_note(&mut tx, id, author, &body, now).await?;
    audit.details = Some(json!({ "note_id": note.id }));
    audit::record(&mut tx, &audit, now).await?;
    tx.commit().await?;
    Ok(note)
}

/// Suspends customer `id` and revokes all their sessions, audited with `audit` (its details
/// are set here). `admin` is who asks: nobody suspends themselves. Returns how many sessions
/// were revoked.
pub async fn suspend(
    app: &App,
    id: i64,
    admin: i64,
    reason: &str,
    mut audit: AuditEvent,
) -> Result<u64, CustomerError> {
    let reason = text::required_line("reason", reason, MAX_REASON)?;
    if id == admin {
        return Err(CustomerError::OwnAccount);
    }
    customer(app, id).await?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    customers::set_status(&mut tx, id, UserStatus::Suspended, now).await?;
    let revoked = sessions::revoke_all(&mut tx, id, None, now).await?;
    let keys = raptor_store::api_keys::revoke_all(&mut tx, id, now).await?;
    audit.details =
        Some(json!({ "reason": reason, "sessions_revoked": revoked, "api_keys_revoked": keys }));
    audit::record(&mut tx, &audit, now).await?;
    tx.commit().await?;
    Ok(revoked)
}

/// Makes customer `id` active again, audited with `audit` (its details are set here).
pub async fn reinstate(app: &App, id: i64, mut audit: AuditEvent) -> Result<(), CustomerError> {
    customer(app, id).await?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    customers::set_status(&mut tx, id, UserStatus::Active, now).await?;
    audit.details = Some(json!({}));
    audit::record(&mut tx, &audit, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The admin asking for a revocation, and the session they ask from.
#[derive(Debug, Clone, Copy)]
pub struct Admin {
    /// Their user id.
    pub user_id: i64,
    /// The session they are using.
    pub session_id: i64,
}

/// Revokes customer `id`'s sessions, audited with `audit` (its details are set here). An
/// admin revoking their own keeps the session they are using. Returns how many were revoked.
pub async fn revoke_sessions(
    app: &App,
    id: i64,
    admin: Admin,
    mut audit: AuditEvent,
) -> Result<u64, CustomerError> {
    customer(app, id).await?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let keep = (id == admin.user_id).then_some(admin.session_id);
    let revoked = sessions::revoke_all(&mut tx, id, keep, now).await?;
    let keys = raptor_store::api_keys::revoke_all(&mut tx, id, now).await?;
    audit.details = Some(json!({ "revoked": revoked, "api_keys_revoked": keys }));
    audit::record(&mut tx, &audit, now).await?;
    tx.commit().await?;
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use raptor_testdb::{dual_test, TestDb};

    use super::*;
    use crate::test_support::{admin_event as event, user as stored_user};

    async fn audited(t: &TestDb) -> i64 {
        t.scalar("SELECT count(*) FROM audit_log").await
    }

    dual_test!(refused_suspensions_change_and_audit_nothing, Head, |t| {
        let app = App::new(t.db().clone());
        let admin = stored_user(&app, "admin@example.com", &[]).await;
        let ada = stored_user(&app, "ada@example.com", &[]).await;
        let blank = suspend(&app, ada, admin, "  ", event("customer.suspend")).await;
        assert!(matches!(blank, Err(CustomerError::Invalid(e)) if e.field == "reason"));
        let own = suspend(&app, admin, admin, "testing", event("customer.suspend")).await;
        assert!(matches!(own, Err(CustomerError::OwnAccount)));
        let missing = suspend(&app, 999_999, admin, "testing", event("customer.suspend")).await;
        assert!(matches!(missing, Err(CustomerError::NotFound(999_999))));
        assert_eq!(audited(t).await, 0);
        assert_eq!(
            t.scalar("SELECT count(*) FROM users WHERE status <> 'active'")
                .await,
            0
        );

        let revoked = suspend(&app, ada, admin, " abuse ", event("customer.suspend"))
            .await
            .expect("suspend");
        assert_eq!(revoked, 0);
        assert_eq!(audited(t).await, 1);
        let details = raptor_store::audit::recent(t.db(), None, 1)
            .await
            .expect("audit")
            .remove(0)
            .details
            .map(|d| d.0);
        assert_eq!(
            details,
            Some(json!({ "reason": "abuse", "sessions_revoked": 0, "api_keys_revoked": 0 }))
        );
    });

    dual_test!(a_page_tells_where_the_next_one_starts, Head, |t| {
        let app = App::new(t.db().clone());
        for n in 0..3 {
            stored_user(&app, &format!("p{n}@example.com"), &[]).await;
        }
        let first = search(&app, Some(" example "), None, Some(2))
            .await
            .expect("page");
        assert_eq!(first.customers.len(), 2);
        let next = first.next_after.expect("another page");
        let last = search(&app, Some("example"), Some(next), Some(2))
            .await
            .expect("page");
        assert_eq!(last.customers.len(), 1);
        assert_eq!(last.next_after, None);
        let too_many = search(&app, None, None, Some(201)).await;
        assert!(matches!(too_many, Err(CustomerError::Invalid(e)) if e.field == "limit"));
    });
}
