//! The access log (`mcdata::access`, one line per request) and the request latency
//! histograms. The line is written when the response is over, as nginx does: its last
//! byte sent, or the client gone, or the body failed. It names the client address, the
//! caller (a local user or `peer:<system>`), the full target (path and query: the query is
//! part of the cache key), the protocol, status, bytes sent, total time and time to the
//! response head, the cache status, the user agent and the request id (also the
//! response's `X-Request-Id`). A partner response served by a fill started for another
//! request names that request too (`fill=`), and the fill's own log lines carry it, so a
//! fill can be tied to all its requests.
//!
//! What the handlers learn along the way (who the caller is, which fill served) they note
//! in the request's scope ([`note_caller`], [`note_fill`]), a task-local set up around
//! each request.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Version};
use http_body::{Body as HttpBody, Frame, SizeHint};
use prometheus::Histogram;

use super::body::{Body, BodyError};

/// A request's id: unique within the process (a random start and a counter), shown as 16
/// hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub u64);

impl RequestId {
    /// The next id.
    pub fn next() -> RequestId {
        static NEXT: std::sync::OnceLock<AtomicU64> = std::sync::OnceLock::new();
        let next = NEXT.get_or_init(|| {
            // The high bits differ between processes (restarts, instances), so ids in the
            // logs of several instances do not collide.
            let seed = uuid::Uuid::new_v4().as_u64_pair().0 & 0xffff_ffff_0000_0000;
            AtomicU64::new(seed)
        });
        RequestId(next.fetch_add(1, Ordering::Relaxed))
    }

    /// As a header value.
    pub fn header_value(self) -> HeaderValue {
        // On every response: formatted on the stack, not through a String.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 16];
        for (i, b) in self.0.to_be_bytes().iter().enumerate() {
            buf[2 * i] = HEX[usize::from(b >> 4)];
            buf[2 * i + 1] = HEX[usize::from(b & 15)];
        }
        HeaderValue::from_bytes(&buf).unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The client's address, a request extension set by the server loop.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// What is learnt about one request while it is handled.
pub struct Scope {
    pub id: RequestId,
    caller: RefCell<Option<String>>,
    fill: Cell<Option<RequestId>>,
}

impl Scope {
    pub fn new(id: RequestId) -> Self {
        Scope {
            id,
            caller: RefCell::new(None),
            fill: Cell::new(None),
        }
    }
}

tokio::task_local! {
    static SCOPE: Scope;
}

/// Run `fut` (the handling of one request) with its scope.
pub async fn scoped<F: std::future::Future>(scope: Scope, fut: F) -> (F::Output, Scope) {
    SCOPE
        .scope(scope, async move {
            let out = fut.await;
            let scope = SCOPE.with(|s| Scope {
                id: s.id,
                caller: RefCell::new(s.caller.take()),
                fill: Cell::new(s.fill.get()),
            });
            (out, scope)
        })
        .await
}

/// The request being handled was made by `who` (a user's MCData ID, `peer:<system>`).
pub fn note_caller(who: impl FnOnce() -> String) {
    let _ = SCOPE.try_with(|s| *s.caller.borrow_mut() = Some(who()));
}

/// The request being handled is served by the fill started for request `leader`.
pub fn note_fill(leader: RequestId) {
    let _ = SCOPE.try_with(|s| s.fill.set(Some(leader)));
}

/// The id of the request being handled, if any.
pub fn current_request() -> Option<RequestId> {
    SCOPE.try_with(|s| s.id).ok()
}

/// True when access lines are written (the `mcdata::access` target at INFO).
pub fn enabled() -> bool {
    tracing::enabled!(target: "mcdata::access", tracing::Level::INFO)
}

/// The parts of a request the log line names, taken before the request is handled.
pub struct Line {
    pub client: Option<SocketAddr>,
    pub method: http::Method,
    pub target: String,
    pub version: Version,
    pub user_agent: String,
}

impl Line {
    pub fn of<B>(req: &http::Request<B>) -> Self {
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().to_string(), |pq| pq.as_str().to_string());
        Line {
            client: req.extensions().get::<ClientAddr>().map(|c| c.0),
            method: req.method().clone(),
            target,
            version: req.version(),
            user_agent: req
                .headers()
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string(),
        }
    }
}

/// What is known once the head went out.
pub struct Record {
    pub started: Instant,
    pub ttfb: Duration,
    pub route: &'static str,
    pub status: u16,
    pub cache: Option<HeaderValue>,
    /// The body length announced (`Content-Length`), or 0 for a response without a body
    /// (HEAD, 204, 304); `None` when it is delimited otherwise.
    pub expected: Option<u64>,
    pub scope: Scope,
    /// `None` when the access log is off: only the histogram is fed.
    pub line: Option<Line>,
    pub duration: Histogram,
}

/// The body length a response announces (see [`Record::expected`]).
pub fn expected_len(method: &http::Method, resp: &http::Response<Body>) -> Option<u64> {
    let s = resp.status();
    if method == http::Method::HEAD
        || s.is_informational()
        || s == http::StatusCode::NO_CONTENT
        || s == http::StatusCode::NOT_MODIFIED
    {
        return Some(0);
    }
    resp.headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        // hyper writes Content-Length itself from an exact size (a body held whole).
        .or_else(|| http_body::Body::size_hint(resp.body()).exact())
}

/// A response body that writes its request's access line when it is over.
pub struct Logged {
    body: Body,
    record: Option<Box<Record>>,
    sent: u64,
    ended: bool,
    failed: bool,
}

impl Logged {
    pub fn new(body: Body, record: Record) -> Self {
        Logged {
            body,
            record: Some(Box::new(record)),
            sent: 0,
            ended: false,
            failed: false,
        }
    }
}

impl HttpBody for Logged {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let me = self.get_mut();
        let polled = Pin::new(&mut me.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    me.sent += d.len() as u64;
                }
            }
            Poll::Ready(Some(Err(_))) => me.failed = true,
            Poll::Ready(None) => me.ended = true,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let Some(r) = self.record.take() else { return };
        let total = r.started.elapsed();
        r.duration.observe(total.as_secs_f64());
        let Some(line) = &r.line else { return };
        // hyper stops polling a body once its Content-Length is sent, so "complete" is a
        // body that ended, or one whose announced length went out whole.
        let complete = !self.failed && (self.ended || r.expected.is_some_and(|n| self.sent >= n));
        let caller = r.scope.caller.borrow();
        let fill = r.scope.fill.get();
        tracing::info!(
            target: "mcdata::access",
            client = %line.client.map_or_else(|| "-".to_string(), |a| a.to_string()),
            caller = caller.as_deref().unwrap_or("-"),
            method = %line.method,
            target = line.target,
            protocol = ?line.version,
            status = r.status,
            bytes = self.sent,
            complete,
            ms = total.as_millis() as u64,
            ttfb_ms = r.ttfb.as_millis() as u64,
            cache = r.cache.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-"),
            ua = line.user_agent,
            request_id = %r.scope.id,
            fill = %fill.map_or_else(|| "-".to_string(), |f| f.to_string()),
            route = r.route,
            "request"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct_and_hex() {
        let (a, b) = (RequestId::next(), RequestId::next());
        assert_ne!(a, b);
        let v = a.header_value();
        assert_eq!(v.to_str().unwrap(), a.to_string());
        assert_eq!(v.len(), 16);
    }

    #[tokio::test]
    async fn notes_reach_the_scope_of_their_request_only() {
        let id = RequestId::next();
        let ((), scope) = scoped(Scope::new(id), async {
            assert_eq!(current_request(), Some(id));
            note_caller(|| "alice".into());
            note_fill(RequestId(7));
        })
        .await;
        assert_eq!(scope.caller.borrow().as_deref(), Some("alice"));
        assert_eq!(scope.fill.get(), Some(RequestId(7)));
        note_caller(|| unreachable!("outside a request nothing is evaluated"));
        assert_eq!(current_request(), None);
    }
}
