//! Staff view of customers over HTTP: search, detail, notes, suspension. Support staff may
//! read; changes need an admin, and every change is audited. The workflows are in
//! [`raptor_app::customers`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use raptor_app::customers::{self, Admin, CustomerError};
use raptor_domain::{Role, UserStatus};
use raptor_store::customers::{Customer, Note};
use raptor_store::passkeys::StoredPasskey;
use raptor_store::sessions::Session;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{ApiJson, ApiPath, ApiQuery, ClientInfo};
use crate::guard::permits::{CustomersNote, CustomersRead, CustomersSuspend};
use crate::guard::Permitted;
use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::session::CurrentSession;
use crate::{AppState, Problem, ProblemCode};

const TAG: &str = "customers";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_customers))
        .routes(routes!(customer_detail))
        .routes(routes!(add_customer_note))
        .routes(routes!(suspend_customer))
        .routes(routes!(reinstate_customer))
        .routes(routes!(revoke_customer_sessions))
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

/// Which customers to list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Matches any part of the email or name, case-insensitive.
    query: Option<String>,
    /// The previous page's `next_after`.
    after: Option<i64>,
    /// At most this many (1–200, default 50).
    limit: Option<i64>,
}

/// A customer account.
#[derive(Serialize, ToSchema)]
struct CustomerSummary {
    /// The user's id.
    id: i64,
    /// Email address.
    email: String,
    /// Display name.
    display_name: String,
    /// `active` or `suspended`.
    #[schema(value_type = String)]
    status: UserStatus,
    /// When they signed up.
    created_at: DateTime<Utc>,
    /// When they last signed in.
    last_login_at: Option<DateTime<Utc>>,
}

impl From<Customer> for CustomerSummary {
    fn from(c: Customer) -> Self {
        Self {
            id: c.id,
            email: c.email,
            display_name: c.display_name,
            status: c.status,
            created_at: c.created_at,
            last_login_at: c.last_login_at,
        }
    }
}

/// A page of customers, by id.
#[derive(Serialize, ToSchema)]
struct CustomerPage {
    /// The customers.
    customers: Vec<CustomerSummary>,
    /// Pass as `after` for the next page; null on the last.
    next_after: Option<i64>,
}

/// Searches customers, a page at a time (support staff).
#[utoipa::path(get, path = "/api/admin/customers", tag = TAG,
    params(ListQuery),
    responses(
        (status = 200, description = "A page of customers", body = CustomerPage),
        (status = 400, description = "An unknown or malformed parameter", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "`limit` or `query` is not acceptable", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn search_customers(
    State(state): State<AppState>,
    _staff: Permitted<CustomersRead>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<CustomerPage>, Problem> {
    let page = customers::search(&state, q.query.as_deref(), q.after, q.limit).await?;
    Ok(Json(CustomerPage {
        customers: page
            .customers
            .into_iter()
            .map(CustomerSummary::from)
            .collect(),
        next_after: page.next_after,
    }))
}

/// A customer's passkey.
#[derive(Serialize, ToSchema)]
struct CustomerPasskey {
    /// The passkey's id.
    id: i64,
    /// The customer's label for it.
    name: String,
    /// When it was registered.
    created_at: DateTime<Utc>,
    /// When it last signed in.
    last_used_at: Option<DateTime<Utc>>,
    /// Whether it is backed up (a synced passkey).
    backup_state: bool,
}

impl From<StoredPasskey> for CustomerPasskey {
    fn from(k: StoredPasskey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            backup_state: k.backup_state,
        }
    }
}

/// How a customer can sign in.
#[derive(Serialize, ToSchema)]
struct SignInMethods {
    /// Their passkeys.
    passkeys: Vec<CustomerPasskey>,
    /// Unused backup codes.
    backup_codes_remaining: usize,
}

/// One of a customer's live sessions.
#[derive(Serialize, ToSchema)]
struct CustomerSession {
    /// The session's id.
    id: i64,
    /// `passkey`, `backup_code`, `email_link` or `bootstrap`.
    auth_method: String,
    /// When they signed in.
    created_at: DateTime<Utc>,
    /// Its last request.
    last_seen_at: DateTime<Utc>,
    /// The client's address at sign-in.
    ip: Option<String>,
    /// The client's user agent at sign-in.
    user_agent: Option<String>,
}

impl From<Session> for CustomerSession {
    fn from(s: Session) -> Self {
        Self {
            id: s.id,
            auth_method: s.auth_method,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            ip: s.ip,
            user_agent: s.user_agent,
        }
    }
}

/// A customer's paper trading account.
#[derive(Serialize, ToSchema)]
struct PaperCash {
    /// Cash, a decimal string.
    cash: String,
    /// Always `USD`.
    currency: &'static str,
}

/// A staff note on a customer.
#[derive(Serialize, ToSchema)]
struct CustomerNote {
    /// The note's id.
    id: i64,
    /// The staff member who wrote it.
    author_user_id: Option<i64>,
    /// What it says.
    body: String,
    /// When it was written.
    created_at: DateTime<Utc>,
}

impl From<Note> for CustomerNote {
    fn from(n: Note) -> Self {
        Self {
            id: n.id,
            author_user_id: n.author_user_id,
            body: n.body,
            created_at: n.created_at,
        }
    }
}

/// Everything staff see of one customer.
#[derive(Serialize, ToSchema)]
struct CustomerDetail {
    /// The account.
    customer: CustomerSummary,
    /// Their roles (`customer`, `support`, `admin`).
    #[schema(value_type = Vec<String>)]
    roles: Vec<Role>,
    /// How they can sign in.
    sign_in_methods: SignInMethods,
    /// Their live sessions.
    sessions: Vec<CustomerSession>,
    /// Their paper account; null when they have none.
    paper_account: Option<PaperCash>,
    /// Staff notes, as stored.
    notes: Vec<CustomerNote>,
}

/// One customer with their roles, sign-in methods, live sessions, cash and notes (support
/// staff).
#[utoipa::path(get, path = "/api/admin/customers/{id}", tag = TAG,
    params(("id" = i64, Path, description = "The customer's user id.")),
    responses(
        (status = 200, description = "The customer", body = CustomerDetail),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such customer", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn customer_detail(
    State(state): State<AppState>,
    _staff: Permitted<CustomersRead>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<CustomerDetail>, Problem> {
    let d = customers::detail(&state, id).await?;
    Ok(Json(CustomerDetail {
        customer: d.customer.into(),
        roles: d.roles,
        sign_in_methods: SignInMethods {
            passkeys: d.passkeys.into_iter().map(CustomerPasskey::from).collect(),
            backup_codes_remaining: d.backup_codes_remaining,
        },
        sessions: d.sessions.into_iter().map(CustomerSession::from).collect(),
        paper_account: d.paper_cash.map(|cash| PaperCash {
            cash: cash.normalize().to_string(),
            currency: "USD",
        }),
        notes: d.notes.into_iter().map(CustomerNote::from).collect(),
    }))
}

/// A note to add.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CustomerNoteRequest {
    /// What it says (1 to 10000 characters).
    body: String,
}

/// The note added.
#[derive(Serialize, ToSchema)]
struct AddedNote {
    /// The note's id.
    id: i64,
    /// What it says, trimmed.
    body: String,
    /// When it was written.
    created_at: DateTime<Utc>,
}

/// Adds a staff note to a customer (admins; audited).
#[utoipa::path(post, path = "/api/admin/customers/{id}/notes", tag = TAG,
    params(("id" = i64, Path, description = "The customer's user id.")),
    request_body = CustomerNoteRequest,
    responses(
        (status = 201, description = "The note added", body = AddedNote),
        (status = 400, description = "The id is not a number, or the body is not JSON", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such customer", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The body is blank, too long or has control characters", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn add_customer_note(
    State(state): State<AppState>,
    Permitted(admin, _): Permitted<CustomersNote>,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<CustomerNoteRequest>,
) -> Result<(StatusCode, Json<AddedNote>), Problem> {
    let event = admin_event(&admin, &client, "customer.note", id);
    let note = customers::add_note(&state, id, admin.user.id, &req.body, event).await?;
    Ok((
        StatusCode::CREATED,
        Json(AddedNote {
            id: note.id,
            body: note.body,
            created_at: note.created_at,
        }),
    ))
}

/// Why to suspend.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SuspendRequest {
    /// The reason, for the audit log (1 to 1000 characters).
    reason: String,
}

/// A customer suspended.
#[derive(Serialize, ToSchema)]
struct Suspended {
    /// The customer's user id.
    id: i64,
    /// Always `suspended`.
    status: &'static str,
    /// Sessions ended by the suspension.
    sessions_revoked: u64,
}

/// Suspends a customer: their sessions end at once and sign-in is refused until reinstated
/// (admins; audited; not one's own account).
#[utoipa::path(post, path = "/api/admin/customers/{id}/suspend", tag = TAG,
    params(("id" = i64, Path, description = "The customer's user id.")),
    request_body = SuspendRequest,
    responses(
        (status = 200, description = "Suspended", body = Suspended),
        (status = 400, description = "The id is not a number, or the body is not JSON", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such customer", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 409, description = "The admin's own account (`own_account`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 422, description = "The reason is blank, too long or has control characters", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn suspend_customer(
    State(state): State<AppState>,
    Permitted(admin, _): Permitted<CustomersSuspend>,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<SuspendRequest>,
) -> Result<Json<Suspended>, Problem> {
    let event = admin_event(&admin, &client, "customer.suspend", id);
    let revoked = customers::suspend(&state, id, admin.user.id, &req.reason, event).await?;
    Ok(Json(Suspended {
        id,
        status: "suspended",
        sessions_revoked: revoked,
    }))
}

/// A customer reinstated.
#[derive(Serialize, ToSchema)]
struct Reinstated {
    /// The customer's user id.
    id: i64,
    /// Always `active`.
    status: &'static str,
}

/// Lets a suspended customer sign in again (admins; audited). Any body is ignored.
#[utoipa::path(post, path = "/api/admin/customers/{id}/reinstate", tag = TAG,
    params(("id" = i64, Path, description = "The customer's user id.")),
    responses(
        (status = 200, description = "Reinstated", body = Reinstated),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such customer", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn reinstate_customer(
    State(state): State<AppState>,
    Permitted(admin, _): Permitted<CustomersSuspend>,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Reinstated>, Problem> {
    let event = admin_event(&admin, &client, "customer.reinstate", id);
    customers::reinstate(&state, id, event).await?;
    Ok(Json(Reinstated {
        id,
        status: "active",
    }))
}

/// A customer's sessions ended.
#[derive(Serialize, ToSchema)]
struct SessionsRevoked {
    /// The customer's user id.
    id: i64,
    /// How many sessions ended.
    sessions_revoked: u64,
}

/// Signs a customer out everywhere (admins; audited). Any body is ignored.
#[utoipa::path(post, path = "/api/admin/customers/{id}/sessions/revoke", tag = TAG,
    params(("id" = i64, Path, description = "The customer's user id.")),
    responses(
        (status = 200, description = "Their sessions ended", body = SessionsRevoked),
        (status = 400, description = "The id is not a number", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 403, description = "The session lacks the permission this route needs (`permission_required`) or a recent passkey proof (`step_up_required`)", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "No such customer", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn revoke_customer_sessions(
    State(state): State<AppState>,
    Permitted(admin, _): Permitted<CustomersSuspend>,
    client: ClientInfo,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SessionsRevoked>, Problem> {
    let event = admin_event(&admin, &client, "customer.sessions.revoke", id);
    let by = Admin {
        user_id: admin.user.id,
        session_id: admin.session.id,
    };
    let revoked = customers::revoke_sessions(&state, id, by, event).await?;
    Ok(Json(SessionsRevoked {
        id,
        sessions_revoked: revoked,
    }))
}
