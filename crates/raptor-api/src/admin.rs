//! Staff endpoints: granting and revoking roles, reading the audit log.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::audit::{self, AuditLogError};
use raptor_app::roles::{self, GrantTerms, RoleChange, RoleChangeError};
use raptor_domain::Role;
use raptor_store::audit::AuditEntry;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiPath, ApiQuery, ClientInfo};
use crate::guard::permits::{AuditRead, RolesGrant};
use crate::guard::Permitted;
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::{AppState, Problem, ProblemCode};

const TAG: &str = "admin";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(grant_role))
        .routes(routes!(revoke_role))
        .routes(routes!(audit_log))
}

fn parse_role(raw: &str) -> Result<Role, Problem> {
    raw.parse().map_err(|e: raptor_domain::UnknownRole| {
        Problem::new(ProblemCode::InvalidField, e.to_string()).with_field("role")
    })
}

/// A role to grant, until when and why.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct GrantRoleRequest {
    /// `customer`, `support` or `admin`.
    role: String,
    /// When the grant stops counting (RFC 3339, in the future); absent: never.
    until: Option<DateTime<Utc>>,
    /// Why it is granted (at most 500 characters); kept with the grant and in the audit log.
    reason: Option<String>,
}

impl From<RoleChangeError> for Problem {
    fn from(err: RoleChangeError) -> Self {
        match err {
            RoleChangeError::UnknownUser(_) => Problem::not_found(err.to_string()),
            RoleChangeError::OwnRoles => Problem::new(ProblemCode::OwnRoles, err.to_string()),
            RoleChangeError::MissingPermission { .. } => {
                Problem::new(ProblemCode::PermissionRequired, err.to_string())
            }
            RoleChangeError::Invalid(input) => Problem::invalid(input),
            RoleChangeError::Store(err) => err.into(),
        }
    }
}

/// A user's roles after a grant or revocation.
#[derive(Serialize, ToSchema)]
struct UserRoles {
    /// The user.
    user_id: i64,
    /// Their live roles now, lowest first (`customer`, `support`, `admin`).
    #[schema(value_type = Vec<String>)]
    roles: Vec<Role>,
    /// False when they already had (or already lacked) the role, with the same end.
    changed: bool,
}

impl From<RoleChange> for UserRoles {
    fn from(change: RoleChange) -> Self {
        Self {
            user_id: change.user_id,
            roles: change.roles,
            changed: change.changed,
        }
    }
}

/// Grants a user a role, optionally until a time, with a reason (audited). Needs
/// `roles.grant`, every permission the role carries, and a recent passkey sign-in; nobody
/// grants themselves a role.
#[utoipa::path(post, path = "/api/admin/users/{id}/roles", tag = TAG,
    params(("id" = i64, Path, description = "The user's id.")),
    request_body = GrantRoleRequest,
    responses(
        (status = 200, description = "The user's roles now", body = UserRoles),
        (status = 400, description = "The id is not a number, or the body is not JSON", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The granter lacks `roles.grant` or a permission of the role (`permission_required`), or has not signed in with a passkey recently (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such user", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 409, description = "The granter's own roles (`own_roles`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "Not a role, `until` not in the future, or `reason` too long (`field` names it)", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn grant_role(
    State(state): State<AppState>,
    Permitted(admin, _): Permitted<RolesGrant>,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<GrantRoleRequest>,
) -> Result<Json<UserRoles>, Problem> {
    let role = parse_role(&req.role)?;
    let terms = GrantTerms {
        until: req.until,
        reason: req.reason.as_deref(),
    };
    let actor = admin.actor(&client, "admin");
    let change = roles::grant(&state, &actor, id, role, &terms).await?;
    Ok(Json(change.into()))
}

/// The user and role in the path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct UserRolePath {
    /// The user's id.
    id: i64,
    /// `customer`, `support` or `admin`.
    role: String,
}

/// Why a role is revoked.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RevokeQuery {
    /// Why (at most 500 characters); kept in the audit log.
    reason: Option<String>,
}

/// Takes a role away from a user (audited). Needs what granting it needs; nobody revokes
/// their own roles.
#[utoipa::path(delete, path = "/api/admin/users/{id}/roles/{role}", tag = TAG,
    params(UserRolePath, RevokeQuery),
    responses(
        (status = 200, description = "The user's roles now", body = UserRoles),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The revoker lacks `roles.grant` or a permission of the role (`permission_required`), or has not signed in with a passkey recently (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such user", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 409, description = "The revoker's own roles (`own_roles`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "Not a role, or `reason` too long (`field` names it)", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn revoke_role(
    State(state): State<AppState>,
    Permitted(admin, _): Permitted<RolesGrant>,
    client: ClientInfo,
    ApiPath(path): ApiPath<UserRolePath>,
    ApiQuery(query): ApiQuery<RevokeQuery>,
) -> Result<Json<UserRoles>, Problem> {
    let role = parse_role(&path.role)?;
    let actor = admin.actor(&client, "admin");
    let change = roles::revoke(&state, &actor, path.id, role, query.reason.as_deref()).await?;
    Ok(Json(change.into()))
}

/// Which audit entries to read.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only entries of this action (`role.grant`, `customer.suspend`, …).
    action: Option<String>,
    /// At most this many (1–1000, default 100).
    limit: Option<i64>,
}

/// One audited action.
#[derive(Serialize, ToSchema)]
struct AuditLogEntry {
    /// The entry's id.
    id: i64,
    /// When it happened.
    created_at: DateTime<Utc>,
    /// Who acted, when a user did.
    actor_user_id: Option<i64>,
    /// What was done (`role.grant`, `customer.suspend`, …).
    action: String,
    /// The id of what it was done to.
    target_id: Option<String>,
    /// How it ended: `success` or `failure`.
    outcome: String,
    /// The client's address.
    ip: Option<String>,
    /// Free-form details of the action.
    #[schema(value_type = Option<Object>)]
    details: Option<Value>,
    /// The HTTP request that did it, as in its `X-Request-Id` and the server's log line.
    request_id: Option<String>,
}

impl From<AuditEntry> for AuditLogEntry {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            created_at: e.created_at,
            actor_user_id: e.actor_user_id,
            action: e.action,
            target_id: e.target_id,
            outcome: e.outcome,
            ip: e.ip,
            details: e.details.map(|d| d.0),
            request_id: e.request_id,
        }
    }
}

/// The newest audit entries.
#[derive(Serialize, ToSchema)]
struct AuditLog {
    /// Newest first.
    entries: Vec<AuditLogEntry>,
}

/// The newest audit-log entries (admins only).
#[utoipa::path(get, path = "/api/admin/audit", tag = TAG,
    params(AuditQuery),
    responses(
        (status = 200, description = "The entries, newest first", body = AuditLog),
        (status = 400, description = "An unknown or malformed parameter", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The user lacks `audit.read`", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "`limit` or `action` is not acceptable", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn audit_log(
    State(state): State<AppState>,
    _admin: Permitted<AuditRead>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditLog>, Problem> {
    let entries = audit::recent(&state, query.action.as_deref(), query.limit.unwrap_or(100))
        .await
        .map_err(|err| match err {
            AuditLogError::Invalid(input) => Problem::invalid(input),
            AuditLogError::Store(err) => err.into(),
        })?;
    Ok(Json(AuditLog {
        entries: entries.into_iter().map(AuditLogEntry::from).collect(),
    }))
}
