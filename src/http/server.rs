//! The server loop: accept TCP connections, serve HTTP/1.1 on each with hyper, and stop
//! gracefully (in-flight requests finish) when asked.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::body::Body;
use super::error::ApiError;
use super::sendfile::{self, SendfileIo, SendfileSlot};
use crate::metrics::Metrics;

/// Something that answers requests.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>>;
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
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            let method = req.method().clone();
            let path = req.uri().path().to_string();
            let me = self.clone();
            let (route, result) = self.dispatch(req).await;
            let resp = result.unwrap_or_else(|e| {
                if e.status().is_server_error() {
                    tracing::warn!(%method, path, error = %e, "request failed");
                } else {
                    tracing::debug!(%method, path, error = %e, "request refused");
                }
                e.into_response()
            });
            let status = resp.status();
            me.metrics()
                .requests
                .with_label_values(&[route, method_label(&method), status.as_str()])
                .inc();
            tracing::info!(
                target: "mcdata::access",
                %method,
                path,
                status = status.as_u16(),
                cache = resp.headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("-"),
                ms = started.elapsed().as_millis() as u64,
                "request"
            );
            resp
        })
    }
}

/// A running server.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, let in-flight requests finish (up to 10 s), and wait.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Wait until the server stops by itself (it does not, unless its task panics).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Serve `handler` on `listener` until [`ServerHandle::shutdown`].
pub fn spawn<H: Handler>(listener: TcpListener, handler: Arc<H>) -> std::io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let graceful = GracefulShutdown::new();
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stopped.changed() => break,
            };
            let (stream, _peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: log, breathe, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let h = handler.clone();
            // File bodies of this connection's responses are sent with sendfile: they find
            // the connection's slot in their request's extensions (see http::sendfile).
            let slot = SendfileSlot::default();
            let req_slot = slot.clone();
            let svc = service_fn(move |mut req: Request<Incoming>| {
                let h = h.clone();
                if sendfile::SUPPORTED {
                    req.extensions_mut().insert(req_slot.clone());
                }
                async move { Ok::<_, Infallible>(h.handle(req).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            sendfile::builder_options(&mut builder);
            let conn = builder.serve_connection(SendfileIo::new(stream, slot), svc);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
        drop(listener);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), graceful.shutdown()).await;
    });
    Ok(ServerHandle { addr, stop, task })
}
