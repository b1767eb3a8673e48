//! The connection loop: HTTP/1 on hyper with a header-read timeout, one deadline for each
//! request's whole body, a cap on open connections, and a graceful shutdown that waits for
//! requests in flight, but not for ever.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::BoxError;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::v2::stream::ConnectionSlot;
use crate::{router, AppState};

/// Serves the API on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish within the shutdown grace.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config.limits.clone();
    let streams = state.app.trade_updates.clone();
    let app = router(state);
    let closing = CancellationToken::new();
    let slots = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let open = Arc::new(Semaphore::new(slots));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // At the cap, stop accepting until a connection closes: the kernel's backlog queues.
        let slot = tokio::select! {
            slot = open.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(%err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let body_timeout = limits.body_timeout;
        // A websocket takes the slot over when the connection becomes one (see `v2::stream`).
        let slot = ConnectionSlot(Arc::new(std::sync::Mutex::new(Some(slot))));
        let kept = slot.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(kept.clone());
            let request = request.map(|body| Body::new(DeadlineBody::new(body, body_timeout)));
            app.clone().oneshot(request)
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service)
            // Websockets (`/stream`) take the connection over once upgraded.
            .with_upgrades();
        let closing = closing.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = closing.cancelled() => {
                    // Finish the request in flight, if any, then close.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = ended {
                tracing::debug!(%err, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    // Streams never finish on their own: end them, so in-flight requests can drain.
    streams.close();
    closing.cancel();
    // Every connection has closed once every slot is free again.
    let drained = open.acquire_many(u32::try_from(slots).unwrap_or(u32::MAX));
    if tokio::time::timeout(limits.shutdown_grace, drained)
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?limits.shutdown_grace,
            "requests still in flight at the end of the shutdown grace were cut"
        );
    }
    Ok(())
}

/// The whole body did not arrive before its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyDeadline(Duration);

/// A request body that fails once its deadline passes, however the bytes trickle in: a
/// client sending one byte now and then cannot hold a request (and its concurrency slot).
struct DeadlineBody {
    inner: Incoming,
    limit: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(BoxError::from)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyDeadline(this.limit)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
