//! Support tickets: customers open tickets and write on them; staff list, reply (emailed to
//! the requester), add internal notes, assign, close, and link tickets from unknown senders
//! to customers. Every staff change is audited with the entry the front door prepared. How
//! email reaches and leaves tickets is in [`email`].

pub mod email;

use raptor_domain::{InvalidInput, Permission};
use raptor_store::audit::{self, AuditEvent};
use raptor_store::support::{self, Message, NewMessage, NewTicket, Ticket};
use raptor_store::{users, StoreError, Tx};
use serde_json::json;

use crate::limits::{self, Attempt, Limit, LimitError};
use crate::roles;
use crate::text;
use crate::App;

/// Longest ticket subject.
const MAX_SUBJECT: usize = 200;
/// Longest message body.
const MAX_BODY: usize = 20_000;
/// Most tickets one staff listing returns.
const MAX_LIST: i64 = 500;
/// Ticket statuses staff can filter on.
const STATUSES: [&str; 4] = ["open", "pending", "resolved", "closed"];

/// Why a support request was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    /// The request breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The customer has no such ticket (another customer's ticket is not theirs to see).
    #[error("you have no ticket {0}")]
    NotYours(i64),
    /// No such ticket (staff view).
    #[error("no ticket {0}")]
    NoTicket(i64),
    /// The customer opened or wrote too much lately; try again after this many seconds.
    #[error("too many support requests; retry after {retry_after} s")]
    TooMany {
        /// Seconds until the window ends.
        retry_after: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<LimitError> for SupportError {
    fn from(err: LimitError) -> Self {
        match err {
            LimitError::Exceeded { retry_after } => Self::TooMany { retry_after },
            LimitError::Store(err) => Self::Store(err),
        }
    }
}

/// A ticket with its messages, as its reader may see them.
#[derive(Debug, Clone)]
pub struct Thread {
    /// The ticket.
    pub ticket: Ticket,
    /// Its messages, oldest first (internal notes only for staff).
    pub messages: Vec<Message>,
}

/// The signed-in customer opening or writing on a ticket.
#[derive(Debug, Clone, Copy)]
pub struct Customer<'a> {
    /// Their user id.
    pub user_id: i64,
    /// Their account email (the ticket's requester).
    pub email: &'a str,
}

impl Customer<'_> {
    /// A write transaction that has counted one attempt of theirs against `limit`. A refused
    /// attempt is rolled back at once: it leaves no count, and frees SQLite's writer.
    async fn counted(&self, app: &App, limit: Limit) -> Result<Tx, SupportError> {
        let attempt = Attempt::new(app, limit, &self.user_id.to_string());
        let mut tx = app.db.begin().await?;
        if let Err(refused) = attempt.count_in(&mut tx).await {
            // The refusal is the answer; a rollback that fails ends with the connection.
            let _ = tx.rollback().await;
            return Err(refused.into());
        }
        Ok(tx)
    }

    fn message<'b>(&'b self, body: &'b str) -> NewMessage<'b> {
        NewMessage {
            direction: "inbound",
            author_user_id: Some(self.user_id),
            from_email: Some(self.email),
            body_text: body,
            body_html: None,
            inbound_message_id: None,
            sender_check: None,
        }
    }
}

async fn thread(app: &App, ticket: Ticket, internal: bool) -> Result<Thread, StoreError> {
    let messages = support::messages(&app.db, ticket.id, internal).await?;
    Ok(Thread { ticket, messages })
}

/// Opens a ticket for the customer with their first message, within
/// [`limits::TICKETS_PER_ACCOUNT`].
pub async fn open_ticket(
    app: &App,
    customer: Customer<'_>,
    subject: &str,
    body: &str,
) -> Result<Thread, SupportError> {
    let subject = text::required_line("subject", subject, MAX_SUBJECT)?;
    let body = text::required("body", body, MAX_BODY)?;
    let mut tx = customer.counted(app, limits::TICKETS_PER_ACCOUNT).await?;
    let now = app.now();
    let new = NewTicket {
        user_id: Some(customer.user_id),
        requester_email: customer.email,
        subject: &subject,
        unverified_sender: false,
    };
    let ticket = support::open(&mut tx, &new, now).await?;
    support::add_message(&mut tx, ticket.id, &customer.message(&body), now).await?;
    tx.commit().await?;
    Ok(thread(app, ticket, false).await?)
}

/// The customer's tickets, most recently active first.
pub async fn tickets_of(app: &App, user_id: i64) -> Result<Vec<Ticket>, SupportError> {
    Ok(support::of_user(&app.db, user_id).await?)
}

/// A customer's own ticket; another customer's is [`SupportError::NotYours`], not "forbidden".
async fn own_ticket(app: &App, user_id: i64, id: i64) -> Result<Ticket, SupportError> {
    support::get(&app.db, id)
        .await?
        .filter(|t| t.user_id == Some(user_id))
        .ok_or(SupportError::NotYours(id))
}

/// One of the customer's tickets with its messages (internal notes left out).
pub async fn my_ticket(app: &App, user_id: i64, id: i64) -> Result<Thread, SupportError> {
    let ticket = own_ticket(app, user_id, id).await?;
    Ok(thread(app, ticket, false).await?)
}

/// The customer writes on their ticket, which (re)opens it, within
/// [`limits::TICKET_MESSAGES_PER_ACCOUNT`].
pub async fn customer_message(
    app: &App,
    customer: Customer<'_>,
    id: i64,
    body: &str,
) -> Result<Thread, SupportError> {
    let ticket = own_ticket(app, customer.user_id, id).await?;
    let body = text::required("body", body, MAX_BODY)?;
    let mut tx = customer
        .counted(app, limits::TICKET_MESSAGES_PER_ACCOUNT)
        .await?;
    let now = app.now();
    support::add_message(&mut tx, ticket.id, &customer.message(&body), now).await?;
    tx.commit().await?;
    let ticket = own_ticket(app, customer.user_id, id).await?;
    Ok(thread(app, ticket, false).await?)
}

/// Which tickets staff want to see.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter<'a> {
    /// Only this status (`open`, `pending`, `resolved`, `closed`).
    pub status: Option<&'a str>,
    /// Only tickets assigned to this user.
    pub assignee: Option<i64>,
    /// Only tickets not linked to a customer.
    pub unlinked: bool,
    /// How many (1 to 500; default 100).
    pub limit: Option<i64>,
}

/// Tickets for staff, most recently active first.
pub async fn list(app: &App, filter: &TicketFilter<'_>) -> Result<Vec<Ticket>, SupportError> {
    if let Some(status) = filter.status {
        if !STATUSES.contains(&status) {
            return Err(InvalidInput::new(
                "status",
                "must be one of open, pending, resolved, closed",
            )
            .into());
        }
    }
    let limit = filter.limit.unwrap_or(100);
    if !(1..=MAX_LIST).contains(&limit) {
        return Err(InvalidInput::new("limit", "must be between 1 and 500").into());
    }
    Ok(support::list(
        &app.db,
        filter.status,
        filter.assignee,
        filter.unlinked,
        limit,
    )
    .await?)
}

/// Any ticket, for staff.
pub async fn ticket(app: &App, id: i64) -> Result<Ticket, SupportError> {
    support::get(&app.db, id)
        .await?
        .ok_or(SupportError::NoTicket(id))
}

/// Any ticket with all its messages, internal notes included, for staff.
pub async fn staff_thread(app: &App, id: i64) -> Result<Thread, SupportError> {
    let ticket = ticket(app, id).await?;
    Ok(thread(app, ticket, true).await?)
}

/// What a staff member writes on a ticket.
#[derive(Debug, Clone)]
pub struct StaffMessage<'a> {
    /// Who writes it.
    pub author_user_id: i64,
    /// The text.
    pub body: &'a str,
    /// An internal note (not shown to or emailed to the customer).
    pub internal: bool,
    /// The sender of the emailed reply, e.g. `Raxx <no-reply@raxx.app>`.
    pub mail_from: &'a str,
    /// The inbound support address (`support@raxx.app`); the reply's Reply-To is its
    /// plus-address with a fresh reply token for the ticket.
    pub support_address: &'a str,
}

/// A staff reply or internal note, audited with `audit` (its details are set here). A reply's
/// email to the requester is enqueued in the same transaction, so it is sent exactly when the
/// reply is stored; the worker that sends it mints the ticket's reply token.
pub async fn staff_message(
    app: &App,
    id: i64,
    message: &StaffMessage<'_>,
    mut audit: AuditEvent,
) -> Result<Thread, SupportError> {
    let found = ticket(app, id).await?;
    let body = text::required("body", message.body, MAX_BODY)?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let row = NewMessage {
        direction: if message.internal {
            "internal"
        } else {
            "outbound"
        },
        author_user_id: Some(message.author_user_id),
        from_email: None,
        body_text: &body,
        body_html: None,
        inbound_message_id: None,
        sender_check: None,
    };
    support::add_message(&mut tx, found.id, &row, now).await?;
    audit.details = Some(json!({ "internal": message.internal }));
    audit::record(&mut tx, &audit, now).await?;
    if !message.internal {
        let reply = email::Reply {
            ticket_id: found.id,
            from: message.mail_from.to_owned(),
            to: found.requester_email.clone(),
            subject: format!("Re: {} [ticket {}]", found.subject, found.id),
            text_body: body,
            support_address: message.support_address.to_owned(),
        };
        email::enqueue_reply(app, &mut tx, &reply).await?;
    }
    tx.commit().await?;
    staff_thread(app, id).await
}

/// Assigns a ticket to a user who holds `support.reply` (None: unassigns), audited with `audit`
/// (its details are set here). Returns the ticket as it now is.
pub async fn assign(
    app: &App,
    id: i64,
    assignee: Option<i64>,
    mut audit: AuditEvent,
) -> Result<Ticket, SupportError> {
    ticket(app, id).await?;
    if let Some(assignee) = assignee {
        if !roles::holds(app, assignee, Permission::SupportReply).await? {
            return Err(InvalidInput::new(
                "assignee_user_id",
                "must hold the support.reply permission",
            )
            .into());
        }
    }
    let now = app.now();
    let mut tx = app.db.begin().await?;
    support::assign(&mut tx, id, assignee, now).await?;
    audit.details = Some(json!({ "assignee_user_id": assignee }));
    audit::record(&mut tx, &audit, now).await?;
    tx.commit().await?;
    ticket(app, id).await
}

/// Closes a ticket, audited with `audit` (its details are set here). Returns the ticket as it
/// now is.
pub async fn close(app: &App, id: i64, mut audit: AuditEvent) -> Result<Ticket, SupportError> {
    ticket(app, id).await?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    support::close(&mut tx, id, now).await?;
    audit.details = Some(json!({}));
    audit::record(&mut tx, &audit, now).await?;
    tx.commit().await?;
    ticket(app, id).await
}

/// Links the ticket's sender address to customer `user_id`: this ticket, every unlinked one
/// from that address but those whose sender was unverified, and future authenticated email
/// from it. `linked_by` is the staff member; `audit` is
/// recorded with its details set here. Returns the ticket as it now is.
pub async fn link(
    app: &App,
    id: i64,
    user_id: i64,
    linked_by: i64,
    mut audit: AuditEvent,
) -> Result<Ticket, SupportError> {
    let found = ticket(app, id).await?;
    if users::by_id(&app.db, user_id).await?.is_none() {
        return Err(InvalidInput::new("user_id", format!("no customer {user_id}")).into());
    }
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let linked =
        support::link_sender(&mut tx, id, &found.requester_email, user_id, linked_by, now).await?;
    audit.details = Some(json!({
        "user_id": user_id, "email": found.requester_email, "tickets_linked": linked,
    }));
    audit::record(&mut tx, &audit, now).await?;
    tx.commit().await?;
    ticket(app, id).await
}

#[cfg(test)]
mod tests {
    use raptor_domain::Role;
    use raptor_testdb::{dual_test, TestDb};

    use super::*;
    use crate::test_support::{admin_event as event, user as stored_user};

    async fn count(t: &TestDb, table: &str) -> i64 {
        t.scalar(&format!("SELECT count(*) FROM {table}")).await
    }

    dual_test!(refusals_write_nothing_and_notes_are_not_mailed, Head, |t| {
        let app = App::new(t.db().clone());
        let ada_id = stored_user(&app, "ada@example.com", &[Role::Customer]).await;
        let staff = stored_user(&app, "staff@example.com", &[Role::Support]).await;
        let ada = Customer {
            user_id: ada_id,
            email: "ada@example.com",
        };
        let long = "x".repeat(MAX_SUBJECT + 1);
        let refused = open_ticket(&app, ada, &long, "help").await;
        assert!(matches!(refused, Err(SupportError::Invalid(e)) if e.field == "subject"));
        assert_eq!(count(t, "support_tickets").await, 0);

        let id = open_ticket(&app, ada, " Help ", "my order")
            .await
            .expect("open")
            .ticket
            .id;
        let not_staff = assign(&app, id, Some(ada_id), event("support.assign")).await;
        assert!(
            matches!(not_staff, Err(SupportError::Invalid(e)) if e.field == "assignee_user_id")
        );
        let nobody = link(&app, id, 999_999, staff, event("support.link")).await;
        assert!(matches!(nobody, Err(SupportError::Invalid(e)) if e.field == "user_id"));
        let gone = close(&app, 999_999, event("support.close")).await;
        assert!(matches!(gone, Err(SupportError::NoTicket(999_999))));
        assert_eq!(count(t, "audit_log").await, 0);

        let note = StaffMessage {
            author_user_id: staff,
            body: "checked the fills",
            internal: true,
            mail_from: "Raxx <no-reply@raxx.app>",
            support_address: "support@raxx.app",
        };
        let thread = staff_message(&app, id, &note, event("support.reply"))
            .await
            .expect("note");
        assert_eq!(thread.messages.len(), 2);
        assert_eq!(thread.ticket.status, "open");
        assert_eq!(
            count(t, "job_queue").await,
            0,
            "an internal note was mailed"
        );
        let customer_view = my_ticket(&app, ada_id, id).await.expect("own ticket");
        assert_eq!(customer_view.messages.len(), 1);
        let other = my_ticket(&app, staff, id).await;
        assert!(matches!(other, Err(SupportError::NotYours(_))));

        let reply = StaffMessage {
            internal: false,
            ..note
        };
        let thread = staff_message(&app, id, &reply, event("support.reply"))
            .await
            .expect("reply");
        assert_eq!(thread.ticket.status, "pending");
        assert_eq!(count(t, "job_queue").await, 1, "the reply was not mailed");
    });
}
