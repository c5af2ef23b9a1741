//! The server loop: accept TCP connections, serve HTTP/1.1 on each with hyper, and stop
//! gracefully (in-flight requests finish) when asked. No client can hold the server: a
//! request head (or the next request on an idle keep-alive connection) must arrive within
//! [`Limits::header_timeout`], connections above [`Limits::max_connections`] get a 503 and
//! are closed without stalling the accept loop, and [`bind`] listens with the system's
//! largest backlog. A listener with [`ServerTls`] speaks HTTPS (see `http::server_tls`).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{watch, Semaphore};

use super::abort::{AbortFlag, AbortOnError, ResetOnAbort};
use super::access_log::{self, ClientAddr, Logged, RequestId};
use super::body::Body;
use super::error::ApiError;
use super::sendfile::{self, SendfileIo, SendfileSlot};
use super::server_tls::{ClientCertificate, ServerTls};
use crate::metrics::Metrics;

/// Something that answers requests.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Pin<Box<dyn Future<Output = Response<Logged>> + Send>>;

    /// The gauge of open client connections, if the handler keeps one.
    fn open_connections(&self) -> Option<prometheus::IntGauge> {
        None
    }
}

/// The answer of a router: the route name (a metrics label) and the outcome.
pub type Routed = (&'static str, Result<Response<Body>, ApiError>);

/// A server's routing; every [`Routes`] is a [`Handler`] that turns errors into JSON
/// responses, counts `mcdata_http_requests_total` and writes the `mcdata::access` log.
pub trait Routes: Send + Sync + 'static {
    fn metrics(&self) -> &Metrics;
    fn dispatch(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Pin<Box<dyn Future<Output = Routed> + Send>>;
}

/// The `method` label of `mcdata_http_requests_total`: the standard methods (RFC 9110
/// §9.3), any other as `other`, so that invented methods cannot add series without bound.
pub fn method_label(m: &http::Method) -> &'static str {
    use http::Method;
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::CONNECT, "CONNECT"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::TRACE, "TRACE"),
        (Method::PATCH, "PATCH"),
    ];
    KNOWN
        .iter()
        .find(|(k, _)| k == m)
        .map_or("other", |(_, label)| label)
}

impl<R: Routes> Handler for R {
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Pin<Box<dyn Future<Output = Response<Logged>> + Send>> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            let id = RequestId::next();
            let line = access_log::enabled().then(|| access_log::Line::of(&req));
            let method = req.method().clone();
            let me = self.clone();
            let ((route, result), scope) =
                access_log::scoped(access_log::Scope::new(id), self.dispatch(req)).await;
            let mut resp = result.unwrap_or_else(|e| {
                if e.status().is_server_error() {
                    tracing::warn!(%method, request_id = %id, error = %e, "request failed");
                } else {
                    tracing::debug!(%method, request_id = %id, error = %e, "request refused");
                }
                e.into_response()
            });
            resp.headers_mut().insert(X_REQUEST_ID, id.header_value());
            let status = resp.status();
            let m = me.metrics();
            m.requests
                .with_label_values(&[route, method_label(&method), status.as_str()])
                .inc();
            let ttfb = started.elapsed();
            let timers = m.route_timers(route);
            timers.time_to_first_byte.observe(ttfb.as_secs_f64());
            let record = access_log::Record {
                started,
                ttfb,
                route,
                status: status.as_u16(),
                cache: resp.headers().get("x-cache").cloned(),
                expected: access_log::expected_len(&method, &resp),
                scope,
                line,
                duration: timers.duration,
            };
            resp.map(|b| Logged::new(b, record))
        })
    }

    fn open_connections(&self) -> Option<prometheus::IntGauge> {
        Some(self.metrics().open_connections.clone())
    }
}

/// The response field carrying the request's id.
const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// A running server.
pub struct ServerHandle {
    addr: SocketAddr,
    /// Set to the grace of a shutdown.
    stop: watch::Sender<Option<Duration>>,
    task: tokio::task::JoinHandle<()>,
}

/// How long in-flight responses may take after a shutdown begins, unless told otherwise.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

impl ServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, let in-flight requests finish (up to [`DEFAULT_SHUTDOWN_GRACE`]),
    /// and wait.
    pub async fn shutdown(self) {
        self.shutdown_within(DEFAULT_SHUTDOWN_GRACE).await
    }

    /// Stop accepting at once (the port is closed), let in-flight responses finish for up
    /// to `grace` (idle keep-alive connections are closed), then stop.
    pub async fn shutdown_within(self, grace: Duration) {
        let _ = self.stop.send(Some(grace));
        let _ = self.task.await;
    }

    /// Wait until the server stops by itself (it does not, unless its task panics).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// What a client may hold of a server (nginx: `client_header_timeout`,
/// `keepalive_timeout`, `worker_connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest a client may take to send a request head: from the connection, or on
    /// a keep-alive connection from the end of the previous response (so it is also the
    /// idle keep-alive timeout). Then the connection is closed.
    pub header_timeout: Duration,
    /// Connections served at once; a connection above it gets `503` and is closed.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// Listen on `addr` with the largest backlog the system allows (`somaxconn`), so that a
/// burst of connections waits in the kernel instead of for a SYN retransmit.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let backlog = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(4096)
        .max(1024);
    socket.listen(backlog)
}

/// The answer to a connection above the cap: written once, then the connection closes.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Serve `handler` on `listener` with the default [`Limits`] until
/// [`ServerHandle::shutdown`].
pub fn spawn<H: Handler>(listener: TcpListener, handler: Arc<H>) -> std::io::Result<ServerHandle> {
    spawn_with(listener, handler, Limits::default(), None)
}

/// Serve `handler` on `listener` within `limits` until [`ServerHandle::shutdown`]: plain
/// HTTP/1.1 (file bodies sent with `sendfile`), or HTTPS with `tls`.
pub fn spawn_with<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    limits: Limits,
    tls: Option<Arc<ServerTls>>,
) -> std::io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(None::<Duration>);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let task = tokio::spawn(async move {
        let graceful = GracefulShutdown::new();
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stopped.changed() => break,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: log, breathe, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                tracing::warn!(
                    max = limits.max_connections,
                    "connection refused: too many connections"
                );
                tokio::spawn(async move {
                    let mut stream = stream;
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        let _ = stream.write_all(BUSY).await;
                        let _ = stream.shutdown().await;
                    })
                    .await;
                });
                continue;
            };
            // A failed body resets the connection (see http::abort).
            let abort = AbortFlag::default();
            let stream = ResetOnAbort::new(stream, abort.clone());
            let watcher = graceful.watcher();
            let open = handler.open_connections();
            let conn = Connection {
                handler: handler.clone(),
                limits,
                abort,
                peer,
                _open: OpenConnection::new(open),
            };
            match &tls {
                None => {
                    tokio::spawn(async move {
                        conn.serve_plain(stream, watcher).await;
                        drop(permit);
                    });
                }
                Some(tls) => {
                    let acceptor = tls.acceptor();
                    tokio::spawn(async move {
                        conn.serve_tls(acceptor, stream, watcher).await;
                        drop(permit);
                    });
                }
            }
        }
        drop(listener);
        let grace = stopped.borrow().unwrap_or(DEFAULT_SHUTDOWN_GRACE);
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                grace_s = grace.as_secs(),
                "responses still running at the end of the shutdown grace are cut"
            );
        }
    });
    Ok(ServerHandle { addr, stop, task })
}

/// One accepted connection.
struct Connection<H> {
    handler: Arc<H>,
    limits: Limits,
    abort: AbortFlag,
    peer: SocketAddr,
    _open: OpenConnection,
}

/// Counts a connection in `mcdata_open_connections` while it lives.
struct OpenConnection(Option<prometheus::IntGauge>);

impl OpenConnection {
    fn new(gauge: Option<prometheus::IntGauge>) -> Self {
        if let Some(g) = &gauge {
            g.inc();
        }
        OpenConnection(gauge)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        if let Some(g) = &self.0 {
            g.dec();
        }
    }
}

impl<H: Handler> Connection<H> {
    fn builder(&self) -> hyper::server::conn::http1::Builder {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout);
        builder
    }

    /// The service of this connection: every request gets `extensions` (its connection's
    /// sendfile slot, its client certificate) and every response body marks the connection
    /// when it fails.
    fn service(
        &self,
        slot: Option<SendfileSlot>,
        client_cert: Option<ClientCertificate>,
    ) -> impl hyper::service::Service<
        Request<Incoming>,
        Response = Response<AbortOnError<Logged>>,
        Error = Infallible,
        Future = impl Future<Output = Result<Response<AbortOnError<Logged>>, Infallible>> + Send,
    > + Clone {
        let h = self.handler.clone();
        let abort = self.abort.clone();
        let client = ClientAddr(self.peer);
        service_fn(move |mut req: Request<Incoming>| {
            let h = h.clone();
            // Only the access line reads it: no extension to allocate when it is off.
            if access_log::enabled() {
                req.extensions_mut().insert(client);
            }
            if let Some(slot) = &slot {
                req.extensions_mut().insert(slot.clone());
            }
            if let Some(cert) = &client_cert {
                req.extensions_mut().insert(cert.clone());
            }
            let abort = abort.clone();
            async move {
                let resp = h.handle(req).await;
                Ok::<_, Infallible>(resp.map(|b| AbortOnError::new(b, abort)))
            }
        })
    }

    /// Plain HTTP/1.1: file bodies of this connection's responses are sent with sendfile
    /// (they find the connection's slot in their request's extensions, see http::sendfile).
    async fn serve_plain(self, stream: ResetOnAbort, watcher: Watcher) {
        let slot = SendfileSlot::default();
        let svc = self.service(sendfile::SUPPORTED.then(|| slot.clone()), None);
        let mut builder = self.builder();
        sendfile::builder_options(&mut builder);
        let conn = builder.serve_connection(SendfileIo::new(stream, slot), svc);
        if let Err(e) = watcher.watch(conn).await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }

    /// HTTPS: the handshake must end within the header timeout; bodies are read from
    /// their files (no sendfile through TLS).
    async fn serve_tls(
        self,
        acceptor: tokio_rustls::TlsAcceptor,
        stream: ResetOnAbort,
        watcher: Watcher,
    ) {
        let handshake = tokio::time::timeout(self.limits.header_timeout, acceptor.accept(stream));
        let tls = match handshake.await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                return;
            }
        };
        let client_cert = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| ClientCertificate(Arc::new(c.clone().into_owned())));
        let svc = self.service(None, client_cert);
        let conn = self.builder().serve_connection(TokioIo::new(tls), svc);
        if let Err(e) = watcher.watch(conn).await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}
