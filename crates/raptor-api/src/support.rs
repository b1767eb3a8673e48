//! Support over HTTP: customers open tickets and write; staff list, reply, assign, close, and
//! link tickets from unknown senders to customers. The workflows are in
//! [`raptor_app::support`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::support::{self, Customer, StaffMessage, SupportError, Thread, TicketFilter};
use raptor_store::support::{Message, Ticket};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiPath, ApiQuery, ClientInfo};
use crate::guard::permits::{SupportRead, SupportReply};
use crate::guard::Permitted;
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::session::CurrentSession;
use crate::{AppState, Problem};

const TAG: &str = "support";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_tickets, open_ticket))
        .routes(routes!(my_ticket))
        .routes(routes!(customer_message))
        .routes(routes!(ticket_queue))
        .routes(routes!(staff_ticket))
        .routes(routes!(staff_message))
        .routes(routes!(assign_ticket))
        .routes(routes!(close_ticket))
        .routes(routes!(link_ticket))
}

impl From<SupportError> for Problem {
    fn from(err: SupportError) -> Self {
        match err {
            SupportError::Invalid(input) => Problem::invalid(input),
            SupportError::NotYours(_) | SupportError::NoTicket(_) => {
                Problem::not_found(err.to_string())
            }
            SupportError::TooMany { retry_after } => Problem::too_many_requests(retry_after),
            SupportError::Store(store) => store.into(),
        }
    }
}

/// A support ticket.
#[derive(Serialize, ToSchema)]
struct SupportTicket {
    /// The ticket's id.
    id: i64,
    /// The customer; null for an unknown sender not yet linked.
    user_id: Option<i64>,
    /// Where replies go.
    requester_email: String,
    /// Subject line.
    subject: String,
    /// `open`, `pending`, `resolved` or `closed`.
    status: String,
    /// `low`, `normal`, `high` or `urgent`.
    priority: String,
    /// The staff member on it.
    assignee_user_id: Option<i64>,
    /// When it was opened.
    created_at: DateTime<Utc>,
    /// Its last message.
    last_message_at: DateTime<Utc>,
    /// When it was closed.
    closed_at: Option<DateTime<Utc>>,
    /// True when the ticket was opened by an email whose sender no receiving server
    /// authenticated (SPF, DKIM, DMARC): its `From` may be forged, so it is linked to nobody.
    unverified_sender: bool,
}

impl From<Ticket> for SupportTicket {
    fn from(t: Ticket) -> Self {
        Self {
            id: t.id,
            user_id: t.user_id,
            requester_email: t.requester_email,
            subject: t.subject,
            status: t.status,
            priority: t.priority,
            assignee_user_id: t.assignee_user_id,
            created_at: t.created_at,
            last_message_at: t.last_message_at,
            closed_at: t.closed_at,
            unverified_sender: t.unverified_sender,
        }
    }
}

/// Tickets.
#[derive(Serialize, ToSchema)]
struct SupportTicketList {
    /// Most recently active first.
    tickets: Vec<SupportTicket>,
}

impl SupportTicketList {
    fn json(tickets: Vec<Ticket>) -> Json<Self> {
        Json(Self {
            tickets: tickets.into_iter().map(SupportTicket::from).collect(),
        })
    }
}

/// A message on a ticket.
#[derive(Serialize, ToSchema)]
struct SupportMessage {
    /// The message's id.
    id: i64,
    /// `inbound` (the customer), `outbound` (a staff reply) or `internal` (a staff note,
    /// shown to staff only).
    direction: String,
    /// The user who wrote it, if a user did.
    author_user_id: Option<i64>,
    /// The sender's address, for email.
    from_email: Option<String>,
    /// The text.
    body: String,
    /// When it was written.
    created_at: DateTime<Utc>,
    /// For email, the verdict on its sender: `authenticated: dmarc=pass`,
    /// `unverified: spf=softfail (example.com)`, …
    sender_check: Option<String>,
}

impl From<Message> for SupportMessage {
    fn from(m: Message) -> Self {
        Self {
            id: m.id,
            direction: m.direction,
            author_user_id: m.author_user_id,
            from_email: m.from_email,
            body: m.body_text,
            created_at: m.created_at,
            sender_check: m.sender_check,
        }
    }
}

/// A ticket with its messages.
#[derive(Serialize, ToSchema)]
struct SupportThread {
    #[serde(flatten)]
    ticket: SupportTicket,
    /// Oldest first; internal notes only for staff.
    messages: Vec<SupportMessage>,
}

impl SupportThread {
    fn json(thread: Thread) -> Json<Self> {
        Json(Self {
            ticket: thread.ticket.into(),
            messages: thread
                .messages
                .into_iter()
                .map(SupportMessage::from)
                .collect(),
        })
    }
}

/// The signed-in user as a customer writing on their tickets.
fn customer(current: &CurrentSession) -> Customer<'_> {
    Customer {
        user_id: current.user.id,
        email: &current.user.email,
    }
}

/// The audit entry for a staff action on ticket `id` (the use case adds the details).
fn staff_event(
    staff: &CurrentSession,
    client: &ClientInfo,
    action: &'static str,
    id: i64,
) -> raptor_store::audit::AuditEvent {
    staff.audit_event(
        client,
        "admin",
        action,
        ("support_ticket", id.to_string()),
        Value::Null,
    )
}

/// A ticket to open.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OpenTicketRequest {
    /// Subject line (1 to 200 characters).
    subject: String,
    /// The first message (1 to 20000 characters).
    body: String,
}

/// Opens a ticket for the signed-in customer.
#[utoipa::path(post, path = "/api/support/tickets", tag = TAG,
    request_body = OpenTicketRequest,
    responses(
        (status = 201, description = "The ticket with its first message", body = SupportThread),
        (status = 400, description = "The body is not JSON", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The subject or body is blank, too long or has control characters", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "Ten tickets opened within the hour; `Retry-After` says when to try again", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn open_ticket(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(req): ApiJson<OpenTicketRequest>,
) -> Result<(StatusCode, Json<SupportThread>), Problem> {
    let thread = support::open_ticket(&state, customer(&current), &req.subject, &req.body).await?;
    Ok((StatusCode::CREATED, SupportThread::json(thread)))
}

/// The signed-in customer's tickets.
#[utoipa::path(get, path = "/api/support/tickets", tag = TAG,
    responses(
        (status = 200, description = "Their tickets", body = SupportTicketList),
    ),
    security(("session" = [])))]
async fn my_tickets(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<SupportTicketList>, Problem> {
    Ok(SupportTicketList::json(
        support::tickets_of(&state, current.user.id).await?,
    ))
}

/// One of the signed-in customer's tickets, without staff notes.
#[utoipa::path(get, path = "/api/support/tickets/{id}", tag = TAG,
    params(("id" = i64, Path, description = "The ticket's id.")),
    responses(
        (status = 200, description = "The ticket and its messages", body = SupportThread),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The customer has no such ticket", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn my_ticket(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SupportThread>, Problem> {
    Ok(SupportThread::json(
        support::my_ticket(&state, current.user.id, id).await?,
    ))
}

/// A message to add.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TicketMessageRequest {
    /// The text (1 to 20000 characters).
    body: String,
}

/// Writes on one of the signed-in customer's tickets (reopening it if closed).
#[utoipa::path(post, path = "/api/support/tickets/{id}/messages", tag = TAG,
    params(("id" = i64, Path, description = "The ticket's id.")),
    request_body = TicketMessageRequest,
    responses(
        (status = 201, description = "The ticket and its messages", body = SupportThread),
        (status = 400, description = "The id is not a number, or the body is not JSON", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The customer has no such ticket", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The body is blank, too long or has control characters", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "Sixty messages written within the hour; `Retry-After` says when to try again", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn customer_message(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<TicketMessageRequest>,
) -> Result<(StatusCode, Json<SupportThread>), Problem> {
    let thread = support::customer_message(&state, customer(&current), id, &req.body).await?;
    Ok((StatusCode::CREATED, SupportThread::json(thread)))
}

/// Which tickets to list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StaffQuery {
    /// Only this status: `open`, `pending`, `resolved` or `closed`.
    status: Option<String>,
    /// Only tickets assigned to this user.
    assignee: Option<i64>,
    /// Only tickets from senders not linked to a customer.
    unlinked: Option<bool>,
    /// At most this many (1–500, default 100).
    limit: Option<i64>,
}

/// The support queue, most recently active first (support staff).
#[utoipa::path(get, path = "/api/admin/support/tickets", tag = TAG,
    params(StaffQuery),
    responses(
        (status = 200, description = "The tickets", body = SupportTicketList),
        (status = 400, description = "An unknown or malformed parameter", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "`status` or `limit` is not acceptable", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn ticket_queue(
    State(state): State<AppState>,
    _staff: Permitted<SupportRead>,
    ApiQuery(q): ApiQuery<StaffQuery>,
) -> Result<Json<SupportTicketList>, Problem> {
    let filter = TicketFilter {
        status: q.status.as_deref(),
        assignee: q.assignee,
        unlinked: q.unlinked.unwrap_or(false),
        limit: q.limit,
    };
    Ok(SupportTicketList::json(
        support::list(&state, &filter).await?,
    ))
}

/// Any ticket with all its messages, staff notes included (support staff).
#[utoipa::path(get, path = "/api/admin/support/tickets/{id}", tag = TAG,
    params(("id" = i64, Path, description = "The ticket's id.")),
    responses(
        (status = 200, description = "The ticket and its messages", body = SupportThread),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such ticket", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn staff_ticket(
    State(state): State<AppState>,
    _staff: Permitted<SupportRead>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SupportThread>, Problem> {
    Ok(SupportThread::json(
        support::staff_thread(&state, id).await?,
    ))
}

/// A staff reply or note.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StaffMessageRequest {
    /// The text (1 to 20000 characters).
    body: String,
    /// True for a note only staff see; false (the default) for a reply emailed to the
    /// requester.
    #[serde(default)]
    internal: bool,
}

/// A staff reply is emailed to the requester (after the commit), with a `Reply-To` of the
/// support address tagged with a fresh token for this ticket; an internal note is not emailed.
#[utoipa::path(post, path = "/api/admin/support/tickets/{id}/messages", tag = TAG,
    params(("id" = i64, Path, description = "The ticket's id.")),
    request_body = StaffMessageRequest,
    responses(
        (status = 201, description = "The ticket and its messages", body = SupportThread),
        (status = 400, description = "The id is not a number, or the body is not JSON", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such ticket", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The body is blank, too long or has control characters", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn staff_message(
    State(state): State<AppState>,
    Permitted(staff, _): Permitted<SupportReply>,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<StaffMessageRequest>,
) -> Result<(StatusCode, Json<SupportThread>), Problem> {
    let message = StaffMessage {
        author_user_id: staff.user.id,
        body: &req.body,
        internal: req.internal,
        mail_from: &state.config.mail_from,
        support_address: &state.config.support_address,
    };
    let event = staff_event(&staff, &client, "support.reply", id);
    let thread = support::staff_message(&state, id, &message, event).await?;
    Ok((StatusCode::CREATED, SupportThread::json(thread)))
}

/// Who should handle a ticket.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AssignTicketRequest {
    /// A staff member's user id; null unassigns.
    assignee_user_id: Option<i64>,
}

/// Assigns a ticket to a staff member, or unassigns it (support staff; audited).
#[utoipa::path(post, path = "/api/admin/support/tickets/{id}/assign", tag = TAG,
    params(("id" = i64, Path, description = "The ticket's id.")),
    request_body = AssignTicketRequest,
    responses(
        (status = 200, description = "The ticket", body = SupportTicket),
        (status = 400, description = "The id is not a number, or the body is not JSON", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such ticket", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The assignee is not staff (`field` is `assignee_user_id`)", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn assign_ticket(
    State(state): State<AppState>,
    Permitted(staff, _): Permitted<SupportReply>,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<AssignTicketRequest>,
) -> Result<Json<SupportTicket>, Problem> {
    let event = staff_event(&staff, &client, "support.assign", id);
    let ticket = support::assign(&state, id, req.assignee_user_id, event).await?;
    Ok(Json(ticket.into()))
}

/// Closes a ticket (support staff; audited). Any body is ignored; the customer writing again
/// reopens it.
#[utoipa::path(post, path = "/api/admin/support/tickets/{id}/close", tag = TAG,
    params(("id" = i64, Path, description = "The ticket's id.")),
    responses(
        (status = 200, description = "The ticket, closed", body = SupportTicket),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such ticket", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn close_ticket(
    State(state): State<AppState>,
    Permitted(staff, _): Permitted<SupportReply>,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SupportTicket>, Problem> {
    let event = staff_event(&staff, &client, "support.close", id);
    Ok(Json(support::close(&state, id, event).await?.into()))
}

/// The customer to link a ticket to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LinkTicketRequest {
    /// The customer's user id.
    user_id: i64,
}

/// Links the ticket's sender address to a customer: this ticket, every unlinked one from that
/// address but those flagged `unverified_sender` (link each of those by itself), and future
/// authenticated email from it.
#[utoipa::path(post, path = "/api/admin/support/tickets/{id}/link", tag = TAG,
    params(("id" = i64, Path, description = "The ticket's id.")),
    request_body = LinkTicketRequest,
    responses(
        (status = 200, description = "The ticket, linked", body = SupportTicket),
        (status = 400, description = "The id is not a number, or the body is not JSON", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such ticket", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "No such customer (`field` is `user_id`)", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn link_ticket(
    State(state): State<AppState>,
    Permitted(staff, _): Permitted<SupportReply>,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<LinkTicketRequest>,
) -> Result<Json<SupportTicket>, Problem> {
    let event = staff_event(&staff, &client, "support.link", id);
    let ticket = support::link(&state, id, req.user_id, staff.user.id, event).await?;
    Ok(Json(ticket.into()))
}
