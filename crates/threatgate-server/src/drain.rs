//! Request bodies that a handler left unread are read before the response goes out, up to a
//! bound.
//!
//! A request refused before its body is read (a 401 for a missing token, a 429, a 404) would
//! otherwise be answered while the client is still sending: over HTTP/2 the server then resets
//! the request's stream, and curl reports `(92) Stream error` instead of the answer. Reading
//! the rest first lets every client see the status. What is past [`MAX_DRAINED_BYTES`], or
//! slower than [`DRAIN_TIME`], is not waited for (a body past a route's limit is refused with
//! its 413 either way).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};
use tokio::sync::oneshot;

/// Most bytes of an unread body read before answering.
pub const MAX_DRAINED_BYTES: usize = 4 * 1024 * 1024;
/// Longest wait for the rest of an unread body.
pub const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Middleware: hands the handler a body that gives back what it did not read, and reads that
/// (bounded) before returning the response.
pub async fn drain_unread_bodies(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let (give_back, given_back) = oneshot::channel();
    let body = Body::new(Watched { inner: Some(body), give_back: Some(give_back) });
    let response = next.run(Request::from_parts(parts, body)).await;
    if let Ok(rest) = { given_back }.try_recv() {
        let _ = tokio::time::timeout(DRAIN_TIME, read_up_to(rest, MAX_DRAINED_BYTES)).await;
    }
    response
}

/// Reads and drops frames until the end, an error, or `limit` bytes.
async fn read_up_to(mut body: Body, limit: usize) {
    let mut read = 0_usize;
    while read < limit {
        match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
            Some(Err(_)) | None => return,
        }
    }
}

/// A request body that, dropped before its end, sends itself back to the middleware.
struct Watched {
    inner: Option<Body>,
    give_back: Option<oneshot::Sender<Body>>,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            // Ended (or failed): nothing is left to give back.
            self.inner = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let (Some(inner), Some(give_back)) = (self.inner.take(), self.give_back.take())
            && !inner.is_end_stream()
        {
            let _ = give_back.send(inner);
        }
    }
}
