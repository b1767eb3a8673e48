//! Accounts: passkey sign-up and sign-in, sessions, passkey management, backup codes,
//! bootstrap admin, email sign-in links and address verification.

mod backup_codes;
mod ceremony;
mod email_link;
mod manage;
pub(crate) mod verify_email;

use axum::http::{HeaderName, HeaderValue};
use axum::Json;
use raptor_app::accounts::{self};
use raptor_app::credentials::{Changer, StepUpRequired};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::ClientInfo;
use crate::session::{self, CurrentSession};
use crate::{AppState, Problem, ProblemCode};
use ceremony::{add_passkey, sign_in, sign_up, step_up, SignedIn, UserView};

const TAG: &str = "auth";

/// What a successful sign-in answers: the session cookie, the user and their roles.
pub(crate) type SignInAnswer = ([(HeaderName, HeaderValue); 1], Json<SignedIn>);

/// The answer to a finished sign-in or sign-up.
pub(crate) fn signed_in_answer(state: &AppState, signed_in: &accounts::SignedIn) -> SignInAnswer {
    (
        [session::session_cookie(state, &signed_in.session)],
        Json(SignedIn {
            user: UserView::from(&signed_in.user),
            roles: signed_in.roles.clone(),
        }),
    )
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up::register_options))
        .routes(routes!(sign_up::register))
        .routes(routes!(sign_in::login_options))
        .routes(routes!(sign_in::login))
        .routes(routes!(step_up::step_up_options))
        .routes(routes!(step_up::step_up))
        .routes(routes!(manage::session))
        .routes(routes!(manage::logout))
        .routes(routes!(manage::sessions))
        .routes(routes!(manage::revoke_session))
        .routes(routes!(manage::passkeys, add_passkey::add_passkey))
        .routes(routes!(add_passkey::add_passkey_options))
        .routes(routes!(manage::rename_passkey, manage::delete_passkey))
        .routes(routes!(backup_codes::remaining, backup_codes::regenerate))
        .routes(routes!(backup_codes::login))
        .routes(routes!(email_link::request))
        .routes(routes!(email_link::account))
        .routes(routes!(email_link::login))
        .routes(routes!(verify_email::verify))
        .routes(routes!(verify_email::resend))
}

/// An audit event for an auth action by (or against) a user, from a client.
pub(crate) use accounts::auth_event as event;

/// A change to the signed-in user's credentials through this session, audited as `action`;
/// the notice goes from the configured sender and points to the public sign-in page.
pub(crate) fn changer<'a>(
    state: &'a AppState,
    current: &'a CurrentSession,
    client: &ClientInfo,
    action: &'static str,
) -> Changer<'a> {
    Changer {
        user: &current.user,
        session: &current.session,
        audit: current.own_action(client, action, Value::Null),
        mail_from: &state.config.mail_from,
        sign_in_url: state.config.public_url.as_str(),
    }
}

impl From<StepUpRequired> for Problem {
    fn from(err: StepUpRequired) -> Self {
        let code = match err {
            StepUpRequired::SessionEnded => ProblemCode::NotSignedIn,
            StepUpRequired::ProvePasskey | StepUpRequired::SignInAgain => {
                ProblemCode::StepUpRequired
            }
        };
        Problem::new(code, err.to_string())
    }
}
