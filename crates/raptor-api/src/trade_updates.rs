//! `GET /api/trade-updates`: the signed-in user's order changes as server-sent events, for the
//! console. Each event's `id` is the update's id; a client that reconnects with
//! `Last-Event-ID` (browsers' `EventSource` does so by itself) gets what it missed, then the
//! live ones. The stream ends when the session does (checked every minute), when the client
//! falls too far behind, or when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use raptor_app::sessions;
use raptor_app::trade_updates::{self, FollowError, Follower, Next};
use raptor_store::trade_updates::TradeUpdate;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::problem::{ProblemBody, PROBLEM_JSON};
use crate::session::{cookie_token, CurrentSession};
use crate::trading::PaperOrder;
use crate::{AppState, Problem, ProblemCode};

/// How often a stream's session is checked again.
const RECHECK_EVERY: Duration = Duration::from_secs(60);

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream))
}

/// One change to an order: the `data` of a server-sent event whose `event` is the same name
/// and whose `id` is the update's id.
#[derive(Serialize, ToSchema)]
struct TradeUpdateEvent {
    /// The update's id: increases with every change to the account's orders.
    id: String,
    /// `new`, `fill`, `canceled`, `expired`, `rejected` or `replaced`.
    event: &'static str,
    /// When it happened.
    at: DateTime<Utc>,
    /// For fills: the price, a decimal string.
    price: Option<String>,
    /// For fills: the quantity, a decimal string.
    qty: Option<String>,
    /// For fills: the position in the symbol afterwards, a decimal string.
    position_qty: Option<String>,
    /// The order right after the change.
    order: PaperOrder,
}

impl From<&TradeUpdate> for TradeUpdateEvent {
    fn from(update: &TradeUpdate) -> Self {
        let fill = update.fill.as_ref();
        let text = |value: rust_decimal::Decimal| value.normalize().to_string();
        Self {
            id: update.id.to_string(),
            event: update.event.as_str(),
            at: update.at,
            price: fill.map(|f| text(f.price)),
            qty: fill.map(|f| text(f.qty)),
            position_qty: fill.map(|f| text(f.position_qty)),
            order: update.order.clone().into(),
        }
    }
}

impl From<FollowError> for Problem {
    fn from(err: FollowError) -> Self {
        match err {
            FollowError::TooMany => Problem::new(ProblemCode::TooManyStreams, err.to_string()),
            FollowError::NoAccount => Problem::not_found(err.to_string()),
            FollowError::Closing => Problem::new(ProblemCode::Overloaded, err.to_string()),
            FollowError::Store(err) => err.into(),
        }
    }
}

/// The id a reconnecting client last saw, from `Last-Event-ID`.
fn resume_after(headers: &HeaderMap) -> Result<Option<i64>, Problem> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|id| *id >= 0)
        .map(Some)
        .ok_or_else(|| {
            Problem::new(
                ProblemCode::InvalidParameter,
                "Last-Event-ID must be the id of an event this stream sent (a whole number)",
            )
        })
}

/// What the event stream carries between events.
struct Feed {
    state: AppState,
    token: String,
    follower: Follower,
    recheck: tokio::time::Interval,
}

impl Feed {
    /// The next event; None when the stream ends.
    async fn next(&mut self) -> Option<Event> {
        loop {
            tokio::select! {
                next = self.follower.next() => {
                    let update = match next {
                        Ok(Next::Update(update)) => update,
                        Ok(Next::TooSlow | Next::Closing) => return None,
                        Err(err) => {
                            tracing::warn!(%err, "reading trade updates failed; ending the stream");
                            return None;
                        }
                    };
                    let body = TradeUpdateEvent::from(&*update);
                    let event = Event::default()
                        .id(body.id.clone())
                        .event(body.event)
                        .json_data(&body)
                        .ok()?;
                    return Some(event);
                }
                _ = self.recheck.tick() => {
                    match sessions::is_live(&self.state, &self.token).await {
                        Ok(true) => {}
                        Ok(false) => return None,
                        Err(err) => tracing::warn!(%err, "could not recheck a stream's session"),
                    }
                }
            }
        }
    }
}

/// The signed-in user's order changes, live, as `text/event-stream`. Send `Last-Event-ID` to
/// resume after an event already seen (updates are kept for a week).
#[utoipa::path(get, path = "/api/trade-updates", tag = "paper trading",
    params(("Last-Event-ID" = Option<String>, Header,
        description = "Resume after this event id (browsers' EventSource sends it on reconnect)")),
    responses(
        (status = 200, description = "An endless event stream; each event's data is one update", body = TradeUpdateEvent, content_type = "text/event-stream"),
        (status = 400, description = "Last-Event-ID is not an event id", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 404, description = "The user has no paper account", body = ProblemBody, content_type = PROBLEM_JSON),
        (status = 429, description = "The account already has 10 streams open on this server", body = ProblemBody, content_type = PROBLEM_JSON),
    ),
    security(("session" = [])))]
async fn stream(
    State(state): State<AppState>,
    current: CurrentSession,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let resume = resume_after(&headers)?;
    // The extractor already found exactly one valid session cookie.
    let token = cookie_token(&headers, state.config.cookie_name)?
        .unwrap_or_default()
        .to_owned();
    let follower = trade_updates::follow(&state, current.user.id, resume).await?;
    let mut recheck = tokio::time::interval(RECHECK_EVERY);
    recheck.reset();
    let feed = Feed {
        state,
        token,
        follower,
        recheck,
    };
    let events = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok(event), feed))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
