//! A scriptable origin: a plain HTTP/1.1 server (not ours) that serves files slowly, with
//! chosen headers, or breaks off mid-body; it counts the requests it gets.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{combinators::BoxBody, BodyExt, StreamBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

pub const ORIGIN_CRED: &str = "origin-cred-123";

/// How the origin serves one path.
#[derive(Clone)]
pub struct Script {
    pub body: Bytes,
    pub headers: Vec<(String, String)>,
    pub chunk: usize,
    pub delay: Duration,
    pub header_delay: Duration,
    /// Break the connection after this many body bytes.
    pub break_after: Option<usize>,
    pub content_length: bool,
}

impl Script {
    pub fn new(body: Vec<u8>) -> Self {
        Script {
            body: body.into(),
            headers: vec![("content-type".into(), "application/octet-stream".into())],
            chunk: 64 * 1024,
            delay: Duration::ZERO,
            header_delay: Duration::ZERO,
            break_after: None,
            content_length: true,
        }
    }
    /// With explicit freshness (`Cache-Control: max-age=3600`): a partner keeps only what
    /// the primary lets it keep (RFC 9111 §3), and a response without any freshness
    /// information is not kept.
    pub fn cacheable(self) -> Self {
        self.header("cache-control", "max-age=3600")
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

#[derive(Default)]
struct State {
    scripts: Mutex<HashMap<String, Script>>,
    requests: AtomicUsize,
    last_auth: Mutex<Option<String>>,
    finished: Mutex<Vec<Instant>>,
}

/// A running origin.
pub struct Origin {
    pub base: String,
    state: Arc<State>,
}

impl Origin {
    pub async fn start() -> Origin {
        Self::start_with(None).await
    }

    /// An origin speaking https with `tls` (see `crate::tls`).
    pub async fn start_tls(tls: tokio_rustls::TlsAcceptor) -> Origin {
        Self::start_with(Some(tls)).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Origin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{}", listener.local_addr().unwrap());
        let state = Arc::new(State::default());
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (st, tls) = (st.clone(), tls.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| serve(st.clone(), req));
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                        Some(acceptor) => {
                            // A client that refuses our certificate ends here.
                            let Ok(stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                });
            }
        });
        Origin { base, state }
    }

    pub fn script(&self, path: &str, s: Script) -> String {
        self.state
            .scripts
            .lock()
            .unwrap()
            .insert(path.to_string(), s);
        format!("{}{}", self.base, path)
    }

    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    pub fn last_auth(&self) -> Option<String> {
        self.state.last_auth.lock().unwrap().clone()
    }

    /// When bodies finished sending, in order.
    pub fn finished(&self) -> Vec<Instant> {
        self.state.finished.lock().unwrap().clone()
    }
}

type Body = BoxBody<Bytes, std::io::Error>;

async fn serve(st: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    st.requests.fetch_add(1, Ordering::SeqCst);
    *st.last_auth.lock().unwrap() = req
        .headers()
        .get("authorization")
        .map(|v| v.to_str().unwrap_or("").to_string());
    let script = st.scripts.lock().unwrap().get(req.uri().path()).cloned();
    let Some(s) = script else {
        let mut r = Response::new(
            http_body_util::Full::new(Bytes::from_static(b"not here"))
                .map_err(|e| match e {})
                .boxed(),
        );
        *r.status_mut() = http::StatusCode::NOT_FOUND;
        return Ok(r);
    };
    tokio::time::sleep(s.header_delay).await;
    let mut b = Response::builder();
    for (k, v) in &s.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    if s.content_length {
        b = b.header("content-length", s.body.len());
    }
    let stream = futures_util::stream::unfold((0usize, s, st), |(pos, s, st)| async move {
        if let Some(limit) = s.break_after {
            if pos >= limit {
                return Some((
                    Err(std::io::Error::other("origin breaks off")),
                    (usize::MAX, s, st),
                ));
            }
        }
        if pos >= s.body.len() {
            return None;
        }
        if !s.delay.is_zero() && pos > 0 {
            tokio::time::sleep(s.delay).await;
        }
        let mut end = (pos + s.chunk).min(s.body.len());
        if let Some(limit) = s.break_after {
            end = end.min(limit);
        }
        let chunk = s.body.slice(pos..end);
        if end == s.body.len() {
            // hyper stops polling once Content-Length bytes went out: the last chunk is the end.
            st.finished.lock().unwrap().push(Instant::now());
        }
        Some((Ok(Frame::data(chunk)), (end, s, st)))
    });
    let body = StreamBody::new(stream);
    Ok(b.body(BodyExt::boxed(body)).unwrap())
}
