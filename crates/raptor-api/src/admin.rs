//! Staff endpoints: granting and revoking roles, reading the audit log.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::audit::{self, AuditLogError};
use raptor_app::roles::{self, GrantTerms, RoleChange, RoleChangeError};
use raptor_app::times;
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
    #[serde(default, deserialize_with = "times::deserialize_optional")]
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
            RoleChangeError::EmailNotVerified(_) => {
                Problem::new(ProblemCode::EmailNotVerified, err.to_string())
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

/// Which audit entries to read; every filter given must match.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Who acted: a user id (`42`) or the email they had then.
    actor: Option<String>,
    /// Only entries of this action (`role.grant`, `customer.suspend`, …).
    action: Option<String>,
    /// What was acted on: a type (`user`) or a type and id (`user:42`).
    subject: Option<String>,
    /// At or after this time (RFC 3339, e.g. `2026-12-01T00:00:00Z`).
    from: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Only entries with an id below this one: the next page of a listing.
    before: Option<i64>,
    /// At most this many (1–1000; default 100 for a listing, everything for an export).
    limit: Option<i64>,
    /// `json` (default: a page, newest first) or `jsonl` (JSON Lines, oldest first, in chain
    /// order). `Accept: application/x-ndjson` also asks for JSON Lines.
    #[param(inline)]
    format: Option<AuditFormat>,
}

/// How the audit log is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum AuditFormat {
    /// One JSON document, newest first.
    Json,
    /// One entry per line, oldest first.
    Jsonl,
}

/// The media type of JSON Lines.
const NDJSON: &str = "application/x-ndjson";

/// One audited action.
#[derive(Serialize, ToSchema)]
struct AuditLogEntry {
    /// The entry's id.
    id: i64,
    /// When it happened.
    created_at: DateTime<Utc>,
    /// Who acted, when a user did.
    actor_user_id: Option<i64>,
    /// The actor's email at the time.
    actor_email: Option<String>,
    /// `user`, `admin`, `operator` or `system`.
    actor_type: String,
    /// What was done (`role.grant`, `customer.suspend`, …).
    action: String,
    /// The kind of thing it was done to (`user`, …).
    target_type: Option<String>,
    /// The id of what it was done to.
    target_id: Option<String>,
    /// How it ended: `success` or `failure`.
    outcome: String,
    /// The client's address.
    ip: Option<String>,
    /// The client's user agent.
    user_agent: Option<String>,
    /// The session it came through.
    session_id: Option<i64>,
    /// Free-form details of the action.
    #[schema(value_type = Option<Object>)]
    details: Option<Value>,
    /// The HTTP request that did it, as in its `X-Request-Id` and the server's log line.
    request_id: Option<String>,
    /// The hash of the entry before it in the chain (null before the chain began).
    prev_hash: Option<String>,
    /// This entry's hash (null before the chain began); `raptor audit verify` checks them.
    row_hash: Option<String>,
}

impl From<AuditEntry> for AuditLogEntry {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            created_at: e.created_at,
            actor_user_id: e.actor_user_id,
            actor_email: e.actor_email,
            actor_type: e.actor_type,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            outcome: e.outcome,
            ip: e.ip,
            user_agent: e.user_agent,
            session_id: e.session_id,
            details: e.details.map(|d| d.0),
            request_id: e.request_id,
            prev_hash: e.prev_hash,
            row_hash: e.row_hash,
        }
    }
}

/// A page of audit entries.
#[derive(Serialize, ToSchema)]
struct AuditLog {
    /// Newest first; pass the last one's id as `before` for the next page.
    entries: Vec<AuditLogEntry>,
}

impl From<AuditLogError> for Problem {
    fn from(err: AuditLogError) -> Self {
        match err {
            AuditLogError::Invalid(input) => Problem::invalid_parameter(input),
            AuditLogError::Store(err) => err.into(),
        }
    }
}

/// The audit log, filtered (admins only): a page as JSON, or every match as JSON Lines.
#[utoipa::path(get, path = "/api/admin/audit", tag = TAG,
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries, newest first; or with `format=jsonl` every matching entry, oldest first, one per line", content(
            (AuditLog = "application/json"),
            (AuditLogEntry = "application/x-ndjson"),
        )),
        (status = 400, description = "An unknown, malformed or unacceptable parameter (`field` names it)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The user lacks `audit.read`", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn audit_log(
    State(state): State<AppState>,
    _admin: Permitted<AuditRead>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Response, Problem> {
    let wants_lines = match query.format {
        Some(format) => format == AuditFormat::Jsonl,
        None => headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains(NDJSON)),
    };
    let search = audit::AuditSearch {
        actor: query.actor,
        action: query.action,
        subject: query.subject,
        from: query.from,
        to: query.to,
        before: query.before,
        limit: query.limit,
    };
    if wants_lines {
        return export_lines(state, &search).await;
    }
    let entries = audit::list(&state, &search).await?;
    Ok(Json(AuditLog {
        entries: entries.into_iter().map(AuditLogEntry::from).collect(),
    })
    .into_response())
}

/// Where an export stands between two pages.
struct ExportCursor {
    /// A page already read (the first one, read before answering).
    read: Option<Vec<AuditEntry>>,
    /// The id of the last entry sent.
    after: Option<i64>,
    /// Entries still allowed by `limit`.
    left: i64,
}

/// Streams every entry `search` matches as JSON Lines, oldest first, a page at a time. The
/// first page is read before answering, so a bad filter or an unreachable database is still a
/// problem body; a failure later can only cut the stream short (and is logged).
async fn export_lines(state: AppState, search: &audit::AuditSearch) -> Result<Response, Problem> {
    let filter = search.filter().map_err(AuditLogError::from)?;
    let left = search.limit.unwrap_or(i64::MAX);
    let first = audit::export_page(&state, &filter, None, left)
        .await
        .map_err(AuditLogError::from)?;
    let start = ExportCursor {
        read: Some(first),
        after: None,
        left,
    };
    let lines = futures_util::stream::unfold(Some(start), move |cursor| {
        let (state, filter) = (state.clone(), filter.clone());
        async move {
            let cursor = cursor?;
            let page = match cursor.read {
                Some(page) => page,
                None => {
                    match audit::export_page(&state, &filter, cursor.after, cursor.left).await {
                        Ok(page) => page,
                        Err(err) => {
                            tracing::error!(error = %err, "the audit export was cut short");
                            let failed = std::io::Error::other("the audit export failed");
                            return Some((Err(failed), None));
                        }
                    }
                }
            };
            let last = page.last()?.id;
            let left = cursor.left - page.len() as i64;
            let full = page.len() as i64 == audit::EXPORT_PAGE.min(cursor.left);
            let mut chunk = Vec::new();
            for entry in page {
                serde_json::to_writer(&mut chunk, &AuditLogEntry::from(entry))
                    .map_err(std::io::Error::other)
                    .ok()?;
                chunk.push(b'\n');
            }
            let next = (full && left > 0).then_some(ExportCursor {
                read: None,
                after: Some(last),
                left,
            });
            Some((Ok::<_, std::io::Error>(chunk), next))
        }
    });
    Ok(([(header::CONTENT_TYPE, NDJSON)], Body::from_stream(lines)).into_response())
}
