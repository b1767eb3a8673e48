//! Staff view of customers over HTTP: search, detail, notes, suspension. Support staff may
//! read; changes need an admin, and every change is audited. The workflows are in
//! [`raptor_app::customers`].

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Json;
use raptor_app::customers::{self, Admin, CustomerError};
use raptor_store::customers::Customer;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;

use crate::extract::{ApiJson, ClientInfo};
use crate::guard::{AdminRole, Authorized, SupportRole};
use crate::session::CurrentSession;
use crate::{AppState, Problem, ProblemCode};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/api/admin/customers", get(list))
        .route("/api/admin/customers/{id}", get(detail))
        .route("/api/admin/customers/{id}/notes", post(add_note))
        .route("/api/admin/customers/{id}/suspend", post(suspend))
        .route("/api/admin/customers/{id}/reinstate", post(reinstate))
        .route(
            "/api/admin/customers/{id}/sessions/revoke",
            post(revoke_sessions),
        )
}

impl From<CustomerError> for Problem {
    fn from(err: CustomerError) -> Self {
        match err {
            CustomerError::Invalid(input) => Problem::invalid(input),
            CustomerError::NotFound(_) => Problem::not_found(err.to_string()),
            CustomerError::OwnAccount => Problem::new(ProblemCode::OwnAccount, err.to_string()),
            CustomerError::Store(store) => store.into(),
        }
    }
}

/// The audit entry for an admin action on customer `id` (the use case adds the details).
fn admin_event(
    admin: &CurrentSession,
    client: &ClientInfo,
    action: &'static str,
    id: i64,
) -> raptor_store::audit::AuditEvent {
    admin.audit_event(
        client,
        "admin",
        action,
        ("user", id.to_string()),
        Value::Null,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    query: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
}

fn customer_json(c: &Customer) -> Value {
    json!({
        "id": c.id,
        "email": c.email,
        "display_name": c.display_name,
        "status": c.status,
        "created_at": c.created_at,
        "last_login_at": c.last_login_at,
    })
}

async fn list(
    State(state): State<AppState>,
    _staff: Authorized<SupportRole>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, Problem> {
    let page = customers::search(&state, q.query.as_deref(), q.after, q.limit).await?;
    Ok(Json(json!({
        "customers": page.customers.iter().map(customer_json).collect::<Vec<_>>(),
        "next_after": page.next_after,
    })))
}

async fn detail(
    State(state): State<AppState>,
    _staff: Authorized<SupportRole>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    let d = customers::detail(&state, id).await?;
    Ok(Json(json!({
        "customer": customer_json(&d.customer),
        "roles": d.roles,
        "sign_in_methods": {
            "passkeys": d.passkeys.iter().map(|k| json!({
                "id": k.id, "name": k.name, "created_at": k.created_at, "last_used_at": k.last_used_at,
                "backup_state": k.backup_state,
            })).collect::<Vec<_>>(),
            "backup_codes_remaining": d.backup_codes_remaining,
        },
        "sessions": d.sessions.iter().map(|s| json!({
            "id": s.id, "auth_method": s.auth_method, "created_at": s.created_at,
            "last_seen_at": s.last_seen_at, "ip": s.ip, "user_agent": s.user_agent,
        })).collect::<Vec<_>>(),
        "paper_account": d.paper_cash.map(|c| json!({ "cash": c.normalize().to_string(), "currency": "USD" })),
        "notes": d.notes.iter().map(|n| json!({
            "id": n.id, "author_user_id": n.author_user_id, "body": n.body, "created_at": n.created_at,
        })).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteRequest {
    body: String,
}

async fn add_note(
    State(state): State<AppState>,
    Authorized(admin, _): Authorized<AdminRole>,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<NoteRequest>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let event = admin_event(&admin, &client, "customer.note", id);
    let note = customers::add_note(&state, id, admin.user.id, &req.body, event).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": note.id, "body": note.body, "created_at": note.created_at })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuspendRequest {
    reason: String,
}

async fn suspend(
    State(state): State<AppState>,
    Authorized(admin, _): Authorized<AdminRole>,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<SuspendRequest>,
) -> Result<Json<Value>, Problem> {
    let event = admin_event(&admin, &client, "customer.suspend", id);
    let revoked = customers::suspend(&state, id, admin.user.id, &req.reason, event).await?;
    Ok(Json(
        json!({ "id": id, "status": "suspended", "sessions_revoked": revoked }),
    ))
}

async fn reinstate(
    State(state): State<AppState>,
    Authorized(admin, _): Authorized<AdminRole>,
    client: ClientInfo,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    let event = admin_event(&admin, &client, "customer.reinstate", id);
    customers::reinstate(&state, id, event).await?;
    Ok(Json(json!({ "id": id, "status": "active" })))
}

async fn revoke_sessions(
    State(state): State<AppState>,
    Authorized(admin, _): Authorized<AdminRole>,
    client: ClientInfo,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    let event = admin_event(&admin, &client, "customer.sessions.revoke", id);
    let by = Admin {
        user_id: admin.user.id,
        session_id: admin.session.id,
    };
    let revoked = customers::revoke_sessions(&state, id, by, event).await?;
    Ok(Json(json!({ "id": id, "sessions_revoked": revoked })))
}
