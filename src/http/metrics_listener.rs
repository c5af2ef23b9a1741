//! `/metrics` on a listener of its own (`metrics-listen`), as operators keep statistics
//! off the data port; the data port then answers `/metrics` with 404.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::body::{self, Body};
use super::error::ApiError;
use super::server::{self, Routes, ServerHandle};
use crate::metrics::{self, Metrics};

struct MetricsOnly {
    metrics: Metrics,
}

/// The `/metrics` response of `m`.
pub fn render(m: &Metrics) -> Response<Body> {
    let mut resp = Response::new(body::full(m.render()));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    resp
}

impl Routes for MetricsOnly {
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn dispatch(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Pin<Box<dyn Future<Output = server::Routed> + Send>> {
        Box::pin(async move {
            let ok = matches!(*req.method(), Method::GET | Method::HEAD);
            match req.uri().path() {
                "/metrics" if ok => ("metrics", Ok(render(&self.metrics))),
                "/metrics" => (
                    "metrics",
                    Err(ApiError::method_not_allowed(
                        req.method(),
                        "/metrics",
                        &[Method::GET, Method::HEAD],
                    )),
                ),
                _ => (
                    "other",
                    Ok(body::json(
                        StatusCode::NOT_FOUND,
                        &serde_json::json!({"error": "not_found", "reason": "only /metrics is served here"}),
                    )),
                ),
            }
        })
    }
}

/// Serve `metrics` on `addr`.
pub fn spawn(addr: SocketAddr, metrics: Metrics) -> std::io::Result<ServerHandle> {
    let listener = server::bind(addr)?;
    tracing::info!(%addr, "metrics served on their own listener");
    server::spawn(listener, Arc::new(MetricsOnly { metrics }))
}
