//! Staff view of customers: search, detail, notes, suspension. Support staff may read;
//! changes need an admin, and every change is audited.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use raptor_store::audit;
use raptor_store::{backup_codes, customers, passkeys, sessions, users};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::{required_text, ApiJson, ClientInfo};
use crate::guard::{AdminRole, Authorized, SupportRole};
use crate::{AppState, Problem};
use raptor_app::sessions::IDLE_TIMEOUT;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    query: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
}

fn customer_json(c: &customers::Customer) -> Value {
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
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Problem::invalid_field("limit", "must be between 1 and 200"));
    }
    let query = q.query.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if query.is_some_and(|s| s.chars().count() > 100) {
        return Err(Problem::invalid_field(
            "query",
            "must be at most 100 characters",
        ));
    }
    // One extra row tells whether another page follows.
    let mut rows = customers::search(&state.db, query, q.after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_after = if more {
        rows.last().map(|c| c.id)
    } else {
        None
    };
    Ok(Json(json!({
        "customers": rows.iter().map(customer_json).collect::<Vec<_>>(),
        "next_after": next_after,
    })))
}

async fn customer_or_404(state: &AppState, id: i64) -> Result<customers::Customer, Problem> {
    customers::get(&state.db, id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no customer {id}")))
}

async fn detail(
    State(state): State<AppState>,
    _staff: Authorized<SupportRole>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    let customer = customer_or_404(&state, id).await?;
    let now = state.now();
    let roles = users::roles(&state.db, id).await?;
    let keys = passkeys::of_user(&state.db, id).await?;
    let live = sessions::of_user(&state.db, id, now, now - IDLE_TIMEOUT).await?;
    let codes = backup_codes::unused(&state.db, id).await?.len();
    let cash = users::paper_cash(&state.db, id).await?;
    let notes = customers::notes(&state.db, id).await?;
    Ok(Json(json!({
        "customer": customer_json(&customer),
        "roles": roles,
        "sign_in_methods": {
            "passkeys": keys.iter().map(|k| json!({
                "id": k.id, "name": k.name, "created_at": k.created_at, "last_used_at": k.last_used_at,
                "backup_state": k.backup_state,
            })).collect::<Vec<_>>(),
            "backup_codes_remaining": codes,
        },
        "sessions": live.iter().map(|s| json!({
            "id": s.id, "auth_method": s.auth_method, "created_at": s.created_at,
            "last_seen_at": s.last_seen_at, "ip": s.ip, "user_agent": s.user_agent,
        })).collect::<Vec<_>>(),
        "paper_account": cash.map(|c| json!({ "cash": c.normalize().to_string(), "currency": "USD" })),
        "notes": notes.iter().map(|n| json!({
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
    let body = required_text("body", &req.body, 10_000)?;
    customer_or_404(&state, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let note = customers::add_note(&mut tx, id, admin.user.id, &body, now).await?;
    let event = admin.audit_event(
        &client,
        "admin",
        "customer.note",
        ("user", id.to_string()),
        json!({ "note_id": note.id }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
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
    let reason = required_text("reason", &req.reason, 1000)?;
    if id == admin.user.id {
        return Err(Problem::conflict(
            "own_account",
            "you cannot suspend your own account",
        ));
    }
    customer_or_404(&state, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    customers::set_status(&mut tx, id, "suspended", now).await?;
    let revoked = sessions::revoke_all(&mut tx, id, None, now).await?;
    let event = admin.audit_event(
        &client,
        "admin",
        "customer.suspend",
        ("user", id.to_string()),
        json!({ "reason": reason, "sessions_revoked": revoked }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
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
    customer_or_404(&state, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    customers::set_status(&mut tx, id, "active", now).await?;
    let event = admin.audit_event(
        &client,
        "admin",
        "customer.reinstate",
        ("user", id.to_string()),
        json!({}),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(Json(json!({ "id": id, "status": "active" })))
}

async fn revoke_sessions(
    State(state): State<AppState>,
    Authorized(admin, _): Authorized<AdminRole>,
    client: ClientInfo,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Problem> {
    customer_or_404(&state, id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    // An admin revoking their own sessions keeps the one they are using.
    let keep = (id == admin.user.id).then_some(admin.session.id);
    let revoked = sessions::revoke_all(&mut tx, id, keep, now).await?;
    let event = admin.audit_event(
        &client,
        "admin",
        "customer.sessions.revoke",
        ("user", id.to_string()),
        json!({ "revoked": revoked }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(Json(json!({ "id": id, "sessions_revoked": revoked })))
}
