//! The error catalogue: every problem code the API can answer with, its HTTP status and what
//! it means. Handlers name a [`ProblemCode`]; they cannot invent a code as a string.

use axum::http::StatusCode;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, SchemaFormat};

macro_rules! catalogue {
    ($( $variant:ident = $code:literal, $status:ident, $meaning:literal; )*) => {
        /// A stable, machine-readable problem code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProblemCode {
            $( #[doc = $meaning] $variant, )*
        }

        impl ProblemCode {
            /// Every code, in catalogue order.
            pub const ALL: &'static [ProblemCode] = &[$(ProblemCode::$variant,)*];

            /// The code as it appears in problem bodies.
            pub fn as_str(self) -> &'static str {
                match self { $(ProblemCode::$variant => $code,)* }
            }

            /// The HTTP status every answer with this code carries.
            pub fn status(self) -> StatusCode {
                match self { $(ProblemCode::$variant => StatusCode::$status,)* }
            }

            /// One line on what the code means.
            pub fn meaning(self) -> &'static str {
                match self { $(ProblemCode::$variant => $meaning,)* }
            }
        }
    };
}

catalogue! {
    MalformedJson = "malformed_json", BAD_REQUEST, "The body is not well-formed JSON.";
    UnreadableBody = "unreadable_body", BAD_REQUEST, "The body could not be read (cut off, or not UTF-8).";
    InvalidParameter = "invalid_parameter", BAD_REQUEST, "A query-string or path parameter is missing, unknown or malformed; `detail` names it.";
    MalformedBody = "malformed_body", BAD_REQUEST, "A provider's webhook body lacks a field it must carry; `field` names it.";
    WrongCeremony = "wrong_ceremony", BAD_REQUEST, "The passkey ceremony handle belongs to another kind of ceremony.";
    UnknownCeremony = "unknown_ceremony", BAD_REQUEST, "The passkey ceremony handle is unknown or was already used.";
    CeremonyExpired = "ceremony_expired", BAD_REQUEST, "The passkey ceremony took too long; start again.";
    PasskeyRejected = "passkey_rejected", BAD_REQUEST, "The new passkey's registration answer was refused (wrong origin, challenge or format).";
    InvalidBootstrapToken = "invalid_bootstrap_token", BAD_REQUEST, "The first-admin bootstrap token is wrong or already used.";
    InvalidLink = "invalid_link", BAD_REQUEST, "The emailed sign-in or verification link is unknown, used or expired.";
    InvalidToken = "invalid_token", BAD_REQUEST, "The confirmation or unsubscribe link's token is not valid.";
    MissingToken = "missing_token", BAD_REQUEST, "The confirmation or unsubscribe link carries no token.";
    NotSignedIn = "not_signed_in", UNAUTHORIZED, "The request needs a session and carries none that is valid.";
    AmbiguousSession = "ambiguous_session", UNAUTHORIZED, "The request carries more than one session cookie, so which session it means is unclear.";
    UnknownCredential = "unknown_credential", UNAUTHORIZED, "The passkey is not registered here.";
    AssertionRejected = "assertion_rejected", UNAUTHORIZED, "The passkey's sign-in answer was refused.";
    CounterRegressed = "counter_regressed", UNAUTHORIZED, "The passkey's signature counter went backwards; it may have been cloned.";
    InvalidBackupCode = "invalid_backup_code", UNAUTHORIZED, "The email and backup code do not match an unused code.";
    BadCredentials = "bad_credentials", UNAUTHORIZED, "The webhook's Basic credentials are missing or wrong.";
    BadSignature = "bad_signature", UNAUTHORIZED, "The webhook's signature does not verify.";
    BadApiKey = "bad_api_key", UNAUTHORIZED, "The `/v2` request's `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY` are missing, unknown, revoked or do not match.";
    BadMetricsToken = "bad_metrics_token", UNAUTHORIZED, "The metrics scrape's bearer token is missing or wrong.";
    AccountSuspended = "account_suspended", FORBIDDEN, "The account is suspended.";
    PermissionRequired = "permission_required", FORBIDDEN, "The signed-in user holds no live grant of the permission this action requires; `detail` names it.";
    StepUpRequired = "step_up_required", FORBIDDEN, "Staff actions need a session that proved a passkey, and those changing money or access one within the last 10 minutes; adding or removing a passkey, making new backup codes or making an API key needs a session that signed in or proved a passkey within the last 10 minutes. Prove one at `/api/auth/step-up`.";
    OriginMismatch = "origin_mismatch", FORBIDDEN, "A state-changing request came from another origin.";
    OriginRequired = "origin_required", FORBIDDEN, "A state-changing request with the session cookie carries no Origin header.";
    TradingDisabled = "trading_disabled", FORBIDDEN, "The account's kill switch is on.";
    InsufficientBuyingPower = "insufficient_buying_power", FORBIDDEN, "The order costs more than the account's buying power.";
    InsufficientQty = "insufficient_qty", FORBIDDEN, "The sell is for more shares than the position holds.";
    TooManyOpenOrders = "too_many_open_orders", FORBIDDEN, "The order would rest and the account already has the most open orders it may (500); cancel one first.";
    NotFound = "not_found", NOT_FOUND, "No such route, or no such resource for this user.";
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED, "The route exists but not for this method; `Allow` lists those it takes.";
    RequestTimeout = "request_timeout", REQUEST_TIMEOUT, "The request body did not arrive in time.";
    EmailTaken = "email_taken", CONFLICT, "An account with this email already exists.";
    CredentialRegistered = "credential_registered", CONFLICT, "This passkey is already registered.";
    LastPasskey = "last_passkey", CONFLICT, "The account's last passkey cannot be removed.";
    TooManyApiKeys = "too_many_api_keys", CONFLICT, "The user already holds the most API keys they may (10); revoke one first.";
    WatchlistNameTaken = "watchlist_name_taken", CONFLICT, "The account already has a watchlist of that name.";
    TooManyWatchlists = "too_many_watchlists", CONFLICT, "The account already has the most watchlists it may (50); delete one first.";
    OwnAccount = "own_account", CONFLICT, "Staff cannot change their own account this way.";
    OwnRoles = "own_roles", CONFLICT, "Nobody grants or revokes their own roles.";
    EmailAlreadyVerified = "email_already_verified", CONFLICT, "The account's address is already verified.";
    EmailNotVerified = "email_not_verified", CONFLICT, "The account has not proved its email address, so no role can be granted to it yet.";
    PayloadTooLarge = "payload_too_large", PAYLOAD_TOO_LARGE, "The body is larger than the API accepts.";
    UnsupportedMediaType = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "The body is not sent as `application/json`.";
    InvalidBody = "invalid_body", UNPROCESSABLE_ENTITY, "The JSON body has the wrong shape: a field missing, unknown or of the wrong type.";
    InvalidField = "invalid_field", UNPROCESSABLE_ENTITY, "A field's value is not acceptable; `field` names it.";
    SenderMismatch = "sender_mismatch", UNPROCESSABLE_ENTITY, "An inbound email's `From` and `FromFull.Email` name different senders; nothing was stored.";
    NotCancelable = "not_cancelable", UNPROCESSABLE_ENTITY, "The order is already filled, canceled, replaced or expired, so it can no longer be canceled or replaced.";
    NoMarketPrice = "no_market_price", UNPROCESSABLE_ENTITY, "There is no price to fill a market order at.";
    NoBars = "no_bars", UNPROCESSABLE_ENTITY, "The backtest's range holds no bars for the symbol.";
    BacktestFailed = "backtest_failed", UNPROCESSABLE_ENTITY, "The backtest's strategy could not run.";
    TooManyQueued = "too_many_queued", CONFLICT, "The user already has 3 long backtests (or 3 sweeps) queued or running; wait for one to end or cancel it.";
    SweepEnded = "sweep_ended", CONFLICT, "The sweep has already ended; only a queued or running sweep can be canceled.";
    RateLimited = "rate_limited", TOO_MANY_REQUESTS, "Too many attempts; `Retry-After` says when to try again.";
    TooManyStreams = "too_many_streams", TOO_MANY_REQUESTS, "The account already has the most trade-update streams it may have open on one server (10); close one first.";
    InternalError = "internal_error", INTERNAL_SERVER_ERROR, "Something failed on the server; it is logged under the request id.";
    DatabaseUnavailable = "database_unavailable", SERVICE_UNAVAILABLE, "The database cannot be reached right now; retry after `Retry-After` seconds.";
    Overloaded = "overloaded", SERVICE_UNAVAILABLE, "The server is at its concurrency limit; retry after `Retry-After` seconds.";
    WebhookNotConfigured = "webhook_not_configured", SERVICE_UNAVAILABLE, "This webhook has no secret configured, so it accepts nothing.";
}

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ProblemCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The catalogue as a Markdown table (the README carries it; a test keeps the two equal).
pub fn markdown_table() -> String {
    let mut table = String::from("| code | status | meaning |\n|---|---|---|\n");
    for code in ProblemCode::ALL {
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            code.as_str(),
            code.status().as_u16(),
            code.meaning()
        ));
    }
    table
}

impl utoipa::PartialSchema for ProblemCode {
    fn schema() -> RefOr<Schema> {
        let mut description = String::from("A stable problem code:\n\n");
        description.push_str(&markdown_table());
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(None::<SchemaFormat>)
            .enum_values(Some(ProblemCode::ALL.iter().map(|c| c.as_str())))
            .description(Some(description))
            .into()
    }
}

impl utoipa::ToSchema for ProblemCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_errors() {
        let mut seen = std::collections::HashSet::new();
        for code in ProblemCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
            assert!(code.status().as_u16() >= 400, "{code}");
        }
    }

    #[test]
    fn the_readme_lists_the_catalogue() {
        let readme = include_str!("../../../../README.md");
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's problem-code table is out of date; replace it with:\n\n{table}"
        );
    }
}
