//! Test helpers: a tiny hyper server on 127.0.0.1:0 answering with a closure, and a raw
//! TCP server that writes hand-made (possibly broken) HTTP responses.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::http::body::{self, Body};

/// A response under construction.
pub struct Reply {
    resp: Response<Body>,
}

impl Reply {
    pub fn body(status: u16, b: Body) -> Reply {
        let mut resp = Response::new(b);
        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
        Reply { resp }
    }

    pub fn bytes(status: u16, data: impl Into<Bytes>) -> Reply {
        Reply::body(status, body::full(data.into()))
    }

    pub fn json(status: u16, text: &str) -> Reply {
        Reply::bytes(status, text.to_string()).header("content-type", "application/json")
    }

    pub fn header(mut self, k: &'static str, v: &str) -> Reply {
        self.resp
            .headers_mut()
            .insert(k, http::HeaderValue::from_str(v).unwrap());
        self
    }
}

/// Serve `handler` on a fresh port; returns `http://127.0.0.1:PORT`.
pub async fn serve<F, Fut>(handler: F) -> String
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let fut = handler(req);
                    async move { Ok::<_, Infallible>(fut.await.resp) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

/// For every connection: read the request head, write `parts` 20 ms apart, close. A part
/// `__stall__` keeps the connection open and silent for 10 s instead.
pub async fn raw_server(parts: Vec<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let parts = parts.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                for p in parts {
                    if p == b"__stall__" {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                        return;
                    }
                    if tcp.write_all(&p).await.is_err() {
                        return;
                    }
                    let _ = tcp.flush().await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let _ = tcp.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}
