//! Staff endpoints: granting roles (admin), reading users and the audit log.

use axum::extract::{Path, Query, State};
use axum::routing::{delete, get, post};
use axum::Json;
use raptor_app::audit::{self, AuditLogError};
use raptor_app::roles::{self, RoleChangeError};
use raptor_domain::Role;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;

use crate::extract::{ApiJson, ClientInfo};
use crate::guard::{AdminRole, Authorized};
use crate::{AppState, Problem, ProblemCode};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/api/admin/users/{id}/roles", post(grant))
        .route("/api/admin/users/{id}/roles/{role}", delete(revoke))
        .route("/api/admin/audit", get(audit_log))
}

fn parse_role(raw: &str) -> Result<Role, Problem> {
    raw.parse().map_err(|e: raptor_domain::UnknownRole| {
        let mut problem = Problem::new(ProblemCode::InvalidField, e.to_string());
        problem.field = Some("role");
        problem
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantRequest {
    role: String,
}

impl From<RoleChangeError> for Problem {
    fn from(err: RoleChangeError) -> Self {
        match err {
            RoleChangeError::UnknownUser(_) => Problem::not_found(err.to_string()),
            RoleChangeError::OwnAdminRole => {
                Problem::new(ProblemCode::OwnAdminRole, err.to_string())
            }
            RoleChangeError::Store(err) => err.into(),
        }
    }
}

async fn change_role(
    state: &AppState,
    admin: &Authorized<AdminRole>,
    client: &ClientInfo,
    user_id: i64,
    role: Role,
    grant: bool,
) -> Result<Json<Value>, Problem> {
    let actor = admin.0.actor(client, "admin");
    let change = roles::change_role(state, &actor, user_id, role, grant).await?;
    Ok(Json(
        json!({ "user_id": change.user_id, "roles": change.roles, "changed": change.changed }),
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
    let entries = audit::recent(&state, query.action.as_deref(), query.limit.unwrap_or(100))
        .await
        .map_err(|err| match err {
            AuditLogError::Invalid(input) => Problem::invalid(input),
            AuditLogError::Store(err) => err.into(),
        })?;
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
