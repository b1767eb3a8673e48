//! Support over HTTP: customers open tickets and write; staff list, reply, assign, close, and
//! link tickets from unknown senders to customers. The workflows are in
//! [`raptor_app::support`].

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Json;
use raptor_app::support::{self, Customer, StaffMessage, SupportError, Thread, TicketFilter};
use raptor_store::support::Ticket;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;

use crate::extract::{ApiJson, ClientInfo};
use crate::guard::{Authorized, SupportRole};
use crate::session::CurrentSession;
use crate::{AppState, Problem};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/api/support/tickets", get(my_tickets).post(open_ticket))
        .route("/api/support/tickets/{id}", get(my_ticket))
        .route("/api/support/tickets/{id}/messages", post(customer_message))
        .route("/api/admin/support/tickets", get(staff_list))
        .route("/api/admin/support/tickets/{id}", get(staff_ticket))
        .route(
            "/api/admin/support/tickets/{id}/messages",
            post(staff_message),
        )
        .route("/api/admin/support/tickets/{id}/assign", post(assign))
        .route("/api/admin/support/tickets/{id}/close", post(close))
        .route("/api/admin/support/tickets/{id}/link", post(link))
}

impl From<SupportError> for Problem {
    fn from(err: SupportError) -> Self {
        match err {
            SupportError::Invalid(input) => Problem::invalid(input),
            SupportError::NotYours(_) | SupportError::NoTicket(_) => {
                Problem::not_found(err.to_string())
            }
            SupportError::Store(store) => store.into(),
        }
    }
}

pub(crate) fn ticket_json(t: &Ticket) -> Value {
    json!({
        "id": t.id,
        "user_id": t.user_id,
        "requester_email": t.requester_email,
        "subject": t.subject,
        "status": t.status,
        "priority": t.priority,
        "assignee_user_id": t.assignee_user_id,
        "created_at": t.created_at,
        "last_message_at": t.last_message_at,
        "closed_at": t.closed_at,
    })
}

fn tickets_json(tickets: &[Ticket]) -> Json<Value> {
    Json(json!({ "tickets": tickets.iter().map(ticket_json).collect::<Vec<_>>() }))
}

fn thread_json(thread: &Thread) -> Json<Value> {
    let mut body = ticket_json(&thread.ticket);
    body["messages"] = json!(thread
        .messages
        .iter()
        .map(|m| json!({
            "id": m.id, "direction": m.direction, "author_user_id": m.author_user_id,
            "from_email": m.from_email, "body": m.body_text, "created_at": m.created_at,
        }))
        .collect::<Vec<_>>());
    Json(body)
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenRequest {
    subject: String,
    body: String,
}

async fn open_ticket(
    State(state): State<AppState>,
    current: CurrentSession,
    ApiJson(req): ApiJson<OpenRequest>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let thread = support::open_ticket(&state, customer(&current), &req.subject, &req.body).await?;
    Ok((StatusCode::CREATED, thread_json(&thread)))
}

async fn my_tickets(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Value>, Problem> {
    Ok(tickets_json(
        &support::tickets_of(&state, current.user.id).await?,
    ))
}

async fn my_ticket(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    Ok(thread_json(
        &support::my_ticket(&state, current.user.id, id).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageRequest {
    body: String,
}

async fn customer_message(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<MessageRequest>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let thread = support::customer_message(&state, customer(&current), id, &req.body).await?;
    Ok((StatusCode::CREATED, thread_json(&thread)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StaffQuery {
    status: Option<String>,
    assignee: Option<i64>,
    unlinked: Option<bool>,
    limit: Option<i64>,
}

async fn staff_list(
    State(state): State<AppState>,
    _staff: Authorized<SupportRole>,
    Query(q): Query<StaffQuery>,
) -> Result<Json<Value>, Problem> {
    let filter = TicketFilter {
        status: q.status.as_deref(),
        assignee: q.assignee,
        unlinked: q.unlinked.unwrap_or(false),
        limit: q.limit,
    };
    Ok(tickets_json(&support::list(&state, &filter).await?))
}

async fn staff_ticket(
    State(state): State<AppState>,
    _staff: Authorized<SupportRole>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    Ok(thread_json(&support::staff_thread(&state, id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StaffMessageRequest {
    body: String,
    #[serde(default)]
    internal: bool,
}

/// A staff reply is emailed to the requester (after the commit); an internal note is not.
async fn staff_message(
    State(state): State<AppState>,
    Authorized(staff, _): Authorized<SupportRole>,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<StaffMessageRequest>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let message = StaffMessage {
        author_user_id: staff.user.id,
        body: &req.body,
        internal: req.internal,
        mail_from: &state.config.mail_from,
    };
    let event = staff_event(&staff, &client, "support.reply", id);
    let thread = support::staff_message(&state, id, &message, event).await?;
    Ok((StatusCode::CREATED, thread_json(&thread)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignRequest {
    assignee_user_id: Option<i64>,
}

async fn assign(
    State(state): State<AppState>,
    Authorized(staff, _): Authorized<SupportRole>,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<AssignRequest>,
) -> Result<Json<Value>, Problem> {
    let event = staff_event(&staff, &client, "support.assign", id);
    let ticket = support::assign(&state, id, req.assignee_user_id, event).await?;
    Ok(Json(ticket_json(&ticket)))
}

async fn close(
    State(state): State<AppState>,
    Authorized(staff, _): Authorized<SupportRole>,
    client: ClientInfo,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    let event = staff_event(&staff, &client, "support.close", id);
    Ok(Json(ticket_json(&support::close(&state, id, event).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkRequest {
    user_id: i64,
}

/// Links the ticket's sender address to a customer: this ticket and every unlinked one
/// from that address, and future email from it.
async fn link(
    State(state): State<AppState>,
    Authorized(staff, _): Authorized<SupportRole>,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<LinkRequest>,
) -> Result<Json<Value>, Problem> {
    let event = staff_event(&staff, &client, "support.link", id);
    let ticket = support::link(&state, id, req.user_id, staff.user.id, event).await?;
    Ok(Json(ticket_json(&ticket)))
}
