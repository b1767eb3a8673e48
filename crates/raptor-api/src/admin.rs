//! Staff endpoints: granting roles (admin), reading users and the audit log.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use raptor_domain::Role;
use raptor_store::audit::{self, AuditEvent};
use raptor_store::users;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::{ApiJson, ClientInfo};
use crate::guard::{AdminRole, Authorized};
use crate::{AppState, Problem};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/users/{id}/roles", post(grant))
        .route("/api/admin/users/{id}/roles/{role}", delete(revoke))
        .route("/api/admin/audit", get(audit_log))
}

fn parse_role(raw: &str) -> Result<Role, Problem> {
    raw.parse().map_err(|e: raptor_domain::UnknownRole| {
        let mut problem = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            e.to_string(),
        );
        problem.field = Some("role");
        problem
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantRequest {
    role: String,
}

async fn change_role(
    state: &AppState,
    admin: &Authorized<AdminRole>,
    client: &ClientInfo,
    user_id: i64,
    role: Role,
    grant: bool,
) -> Result<Json<Value>, Problem> {
    let target = users::by_id(&state.db, user_id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no user {user_id}")))?;
    let actor = &admin.0;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let changed = if grant {
        users::grant_role(&mut tx, target.id, role, Some(actor.user.id), now).await?
    } else {
        users::revoke_role(&mut tx, target.id, role).await?
    };
    let event = AuditEvent {
        actor_user_id: Some(actor.user.id),
        actor_email: Some(actor.user.email.clone()),
        actor_type: "admin",
        action: if grant { "role.grant" } else { "role.revoke" },
        target_type: Some("user"),
        target_id: Some(target.id.to_string()),
        outcome: "success",
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        session_id: Some(actor.session.id),
        details: Some(json!({ "role": role, "changed": changed })),
    };
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    let roles = users::roles(&state.db, target.id).await?;
    Ok(Json(
        json!({ "user_id": target.id, "roles": roles, "changed": changed }),
    ))
}

async fn grant(
    State(state): State<AppState>,
    admin: Authorized<AdminRole>,
    client: ClientInfo,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<GrantRequest>,
) -> Result<Json<Value>, Problem> {
    let role = parse_role(&req.role)?;
    change_role(&state, &admin, &client, id, role, true).await
}

async fn revoke(
    State(state): State<AppState>,
    admin: Authorized<AdminRole>,
    client: ClientInfo,
    Path((id, role)): Path<(i64, String)>,
) -> Result<Json<Value>, Problem> {
    let role = parse_role(&role)?;
    if role == Role::Admin && id == admin.0.user.id {
        return Err(Problem::conflict(
            "own_admin_role",
            "you cannot revoke your own admin role",
        ));
    }
    change_role(&state, &admin, &client, id, role, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    action: Option<String>,
    limit: Option<i64>,
}

async fn audit_log(
    State(state): State<AppState>,
    _admin: Authorized<AdminRole>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Value>, Problem> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        let mut problem = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "limit: must be between 1 and 1000",
        );
        problem.field = Some("limit");
        return Err(problem);
    }
    let entries = audit::recent(&state.db, query.action.as_deref(), limit).await?;
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            json!({
                "id": e.id,
                "created_at": e.created_at,
                "actor_user_id": e.actor_user_id,
                "action": e.action,
                "target_id": e.target_id,
                "outcome": e.outcome,
                "ip": e.ip,
                "details": e.details.map(|d| d.0),
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries })))
}
