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
use super::sendfile::{self, SendfileIo, SendfileSlot};

/// Something that answers requests.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>>;
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
