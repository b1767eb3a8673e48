//! Support: customers open tickets and write; staff list, reply, assign, close, and link
//! tickets from unknown senders to customers.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use raptor_store::audit;
use raptor_store::support::{self, NewMessage, Ticket};
use raptor_store::users;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::{required_text, ApiJson, ClientInfo};
use crate::guard::{Authorized, SupportRole};
use crate::session::CurrentSession;
use crate::{AppState, Problem};
use raptor_app::mail::OutgoingEmail;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
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

async fn with_messages(
    state: &AppState,
    ticket: &Ticket,
    internal: bool,
) -> Result<Value, Problem> {
    let messages = support::messages(&state.db, ticket.id, internal).await?;
    let mut body = ticket_json(ticket);
    body["messages"] = json!(messages
        .iter()
        .map(|m| json!({
            "id": m.id, "direction": m.direction, "author_user_id": m.author_user_id,
            "from_email": m.from_email, "body": m.body_text, "created_at": m.created_at,
        }))
        .collect::<Vec<_>>());
    Ok(body)
}

/// A message the signed-in customer writes on their ticket.
fn from_customer<'a>(current: &'a CurrentSession, body: &'a str) -> NewMessage<'a> {
    NewMessage {
        direction: "inbound",
        author_user_id: Some(current.user.id),
        from_email: Some(&current.user.email),
        body_text: body,
        body_html: None,
        inbound_message_id: None,
    }
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
    let subject = required_text("subject", &req.subject, 200)?;
    let body = required_text("body", &req.body, 20_000)?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let ticket = support::open(
        &mut tx,
        Some(current.user.id),
        &current.user.email,
        &subject,
        now,
    )
    .await?;
    let message = from_customer(&current, &body);
    support::add_message(&mut tx, ticket.id, &message, now).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(with_messages(&state, &ticket, false).await?),
    ))
}

async fn my_tickets(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Value>, Problem> {
    let tickets = support::of_user(&state.db, current.user.id).await?;
    Ok(Json(
        json!({ "tickets": tickets.iter().map(ticket_json).collect::<Vec<_>>() }),
    ))
}

/// A customer's own ticket; another customer's is "not found", not "forbidden".
async fn own_ticket(
    state: &AppState,
    current: &CurrentSession,
    id: i64,
) -> Result<Ticket, Problem> {
    support::get(&state.db, id)
        .await?
        .filter(|t| t.user_id == Some(current.user.id))
        .ok_or_else(|| Problem::not_found(format!("you have no ticket {id}")))
}

async fn my_ticket(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    let ticket = own_ticket(&state, &current, id).await?;
    Ok(Json(with_messages(&state, &ticket, false).await?))
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
    let ticket = own_ticket(&state, &current, id).await?;
    let body = required_text("body", &req.body, 20_000)?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let message = from_customer(&current, &body);
    support::add_message(&mut tx, ticket.id, &message, now).await?;
    tx.commit().await?;
    let ticket = own_ticket(&state, &current, id).await?;
    Ok((
        StatusCode::CREATED,
        Json(with_messages(&state, &ticket, false).await?),
    ))
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
    if let Some(status) = &q.status {
        if !["open", "pending", "resolved", "closed"].contains(&status.as_str()) {
            return Err(Problem::invalid_field(
                "status",
                "must be one of open, pending, resolved, closed",
            ));
        }
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(Problem::invalid_field("limit", "must be between 1 and 500"));
    }
    let tickets = support::list(
        &state.db,
        q.status.as_deref(),
        q.assignee,
        q.unlinked.unwrap_or(false),
        limit,
    )
    .await?;
    Ok(Json(
        json!({ "tickets": tickets.iter().map(ticket_json).collect::<Vec<_>>() }),
    ))
}

async fn ticket_or_404(state: &AppState, id: i64) -> Result<Ticket, Problem> {
    support::get(&state.db, id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no ticket {id}")))
}

async fn staff_ticket(
    State(state): State<AppState>,
    _staff: Authorized<SupportRole>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    let ticket = ticket_or_404(&state, id).await?;
    Ok(Json(with_messages(&state, &ticket, true).await?))
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
    let ticket = ticket_or_404(&state, id).await?;
    let body = required_text("body", &req.body, 20_000)?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let message = NewMessage {
        direction: if req.internal { "internal" } else { "outbound" },
        author_user_id: Some(staff.user.id),
        from_email: None,
        body_text: &body,
        body_html: None,
        inbound_message_id: None,
    };
    support::add_message(&mut tx, ticket.id, &message, now).await?;
    let details = json!({ "internal": req.internal });
    let event = staff.audit_event(
        &client,
        "admin",
        "support.reply",
        ("support_ticket", ticket.id.to_string()),
        details,
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    if !req.internal {
        let email = OutgoingEmail {
            from: state.config.mail_from.clone(),
            to: ticket.requester_email.clone(),
            subject: format!("Re: {} [ticket {}]", ticket.subject, ticket.id),
            text_body: body,
            tag: "support_reply",
        };
        if let Err(err) = state.mailer.send(&email).await {
            tracing::error!(%err, ticket = ticket.id, "a support reply could not be emailed");
        }
    }
    let ticket = ticket_or_404(&state, id).await?;
    Ok((
        StatusCode::CREATED,
        Json(with_messages(&state, &ticket, true).await?),
    ))
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
    ticket_or_404(&state, id).await?;
    if let Some(assignee) = req.assignee_user_id {
        let roles = users::roles(&state.db, assignee).await?;
        if !roles
            .iter()
            .any(|r| matches!(r, raptor_domain::Role::Support | raptor_domain::Role::Admin))
        {
            return Err(Problem::invalid_field(
                "assignee_user_id",
                "must be a support or admin user",
            ));
        }
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    support::assign(&mut tx, id, req.assignee_user_id, now).await?;
    let event = staff.audit_event(
        &client,
        "admin",
        "support.assign",
        ("support_ticket", id.to_string()),
        json!({ "assignee_user_id": req.assignee_user_id }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(Json(ticket_json(&ticket_or_404(&state, id).await?)))
}

async fn close(
    State(state): State<AppState>,
    Authorized(staff, _): Authorized<SupportRole>,
    client: ClientInfo,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    ticket_or_404(&state, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    support::close(&mut tx, id, now).await?;
    audit::record(
        &mut tx,
        &staff.audit_event(
            &client,
            "admin",
            "support.close",
            ("support_ticket", id.to_string()),
            json!({}),
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(ticket_json(&ticket_or_404(&state, id).await?)))
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
    let ticket = ticket_or_404(&state, id).await?;
    if users::by_id(&state.db, req.user_id).await?.is_none() {
        return Err(Problem::invalid_field(
            "user_id",
            format!("no customer {}", req.user_id),
        ));
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let linked = support::link_sender(
        &mut tx,
        &ticket.requester_email,
        req.user_id,
        staff.user.id,
        now,
    )
    .await?;
    let details = json!({ "user_id": req.user_id, "email": ticket.requester_email, "tickets_linked": linked });
    audit::record(
        &mut tx,
        &staff.audit_event(
            &client,
            "admin",
            "support.link",
            ("support_ticket", id.to_string()),
            details,
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(ticket_json(&ticket_or_404(&state, id).await?)))
}
