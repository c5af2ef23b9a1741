//! A plain origin: an HTTP/1.1 server on hyper (not ours, no MCData behaviour at all),
//! scriptable per path, that records every request it receives and every response it
//! sends. It is what an RFC 9111 shared cache sits in front of in `http_cache.rs`.
//!
//! Each path is served by a handler (`PlainOrigin::on`), by a script (`script`: replies in
//! order, the last one repeating), or by one of the builders (`always`, `validating`,
//! `varying`). A reply lists its header lines in order, repeated names allowed; hyper
//! writes the lines of one name together at the place of its first line, so scripts that
//! want a known wire order keep lines of the same name adjacent (`sent()` records what
//! went out, in wire order). Unscripted paths get a plain 404.
//!
//! A partner is put in front of it with `crate::harness::partner_of_plain`, which makes it
//! the allowed peer "O" with the credential `PLAIN_CRED`.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// The agreement credential between a partner and the plain origin (system "O").
pub const PLAIN_CRED: &str = "plain-origin-cred-456";

/// One response the origin sends: status, header lines in order, body.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Add `Content-Length: <body len>` unless the headers already have one (never for
    /// 1xx, 204 and 304). On by default.
    pub content_length: bool,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            content_length: true,
            delay: Duration::ZERO,
        }
    }
    /// 200 with `body` and no header lines yet.
    pub fn ok(body: impl Into<Bytes>) -> Reply {
        Reply::new(200).body(body)
    }
    /// `status` with `body`.
    pub fn status(status: u16, body: impl Into<Bytes>) -> Reply {
        Reply::new(status).body(body)
    }
    /// 304 Not Modified with these header lines and no body.
    pub fn not_modified(headers: &[(&str, &str)]) -> Reply {
        Reply::new(304).headers(headers)
    }
    /// Append one header line (a repeated name adds another line).
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    pub fn headers(mut self, lines: &[(&str, &str)]) -> Reply {
        for (k, v) in lines {
            self.headers.push((k.to_string(), v.to_string()));
        }
        self
    }
    pub fn body(mut self, body: impl Into<Bytes>) -> Reply {
        self.body = body.into();
        self
    }
    pub fn without_content_length(mut self) -> Reply {
        self.content_length = false;
        self
    }
    pub fn delayed(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
    /// The first value of header `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request as the origin received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query, as in the request line.
    pub target: String,
    pub path: String,
    /// Every header line (names lower-case), lines of one name together.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Seen {
    /// The first value of `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn has(&self, name: &str) -> bool {
        self.header(name).is_some()
    }
    /// The values of `name` joined as one list field (`a, b`), or None.
    pub fn joined(&self, name: &str) -> Option<String> {
        let all = self.all(name);
        (!all.is_empty()).then(|| all.join(", "))
    }
    /// A conditional request: any of the RFC 9110 §13.1 precondition fields.
    pub fn is_conditional(&self) -> bool {
        [
            "if-none-match",
            "if-modified-since",
            "if-match",
            "if-unmodified-since",
            "if-range",
        ]
        .iter()
        .any(|h| self.has(h))
    }
}

/// A response as the origin sent it.
#[derive(Clone, Debug)]
pub struct Sent {
    pub method: String,
    pub target: String,
    pub status: u16,
    /// Header lines in wire order (names lower-case).
    pub headers: Vec<(String, String)>,
    /// Body bytes that went out (0 for HEAD, 304, 204).
    pub body_len: usize,
}

impl Sent {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

#[derive(Default)]
struct State {
    routes: Mutex<HashMap<String, Handler>>,
    seen: Mutex<Vec<Seen>>,
    sent: Mutex<Vec<Sent>>,
}

/// A running plain origin.
pub struct PlainOrigin {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl PlainOrigin {
    pub async fn start() -> PlainOrigin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| serve(st.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        PlainOrigin {
            base: format!("http://{addr}"),
            addr,
            state,
        }
    }

    /// The original URL of `path` (path and optional query) on this origin.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Serve `path` (without its query) with `handler`; returns its URL.
    pub fn on(
        &self,
        path: &str,
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> String {
        self.state
            .routes
            .lock()
            .unwrap()
            .insert(path.to_string(), Arc::new(handler));
        self.url(path)
    }

    /// Always answer `reply` on `path`.
    pub fn always(&self, path: &str, reply: Reply) -> String {
        self.on(path, move |_| reply.clone())
    }

    /// Answer the replies in order, one per request; the last one repeats.
    pub fn script(&self, path: &str, replies: Vec<Reply>) -> String {
        assert!(!replies.is_empty());
        let queue = Mutex::new(VecDeque::from(replies));
        self.on(path, move |_| {
            let mut q = queue.lock().unwrap();
            if q.len() > 1 {
                q.pop_front().unwrap()
            } else {
                q.front().unwrap().clone()
            }
        })
    }

    /// Answer `full`, or `304 Not Modified` with `not_modified` header lines when the
    /// request's validators match `full`'s (see `validating`).
    pub fn validating(&self, path: &str, full: Reply, not_modified: &[(&str, &str)]) -> String {
        self.on(path, validating(full, Reply::not_modified(not_modified)))
    }

    /// Choose the reply by the value of the request header `by` (exact match after
    /// trimming), `fallback` when it is absent or matches none.
    pub fn varying(
        &self,
        path: &str,
        by: &str,
        choices: Vec<(&str, Reply)>,
        fallback: Reply,
    ) -> String {
        self.on(path, varying(by, choices, fallback))
    }

    /// Every request received, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
    /// Requests received for `path` (without query).
    pub fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }
    /// The last request received.
    pub fn last(&self) -> Seen {
        self.seen()
            .last()
            .cloned()
            .expect("the origin got a request")
    }
    /// Number of requests received.
    pub fn requests(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }
    pub fn requests_to(&self, path: &str) -> usize {
        self.seen_at(path).len()
    }
    /// Every response sent, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.state.sent.lock().unwrap().clone()
    }
}

/// `full`, or `not_modified` when the request carries `If-None-Match` with a tag that
/// matches `full`'s `ETag` (weak comparison, or `*`), or, without `If-None-Match`,
/// `If-Modified-Since` not earlier than `full`'s `Last-Modified` (RFC 9110 §13.1.2-3).
pub fn validating(full: Reply, not_modified: Reply) -> impl Fn(&Seen) -> Reply + Send + Sync {
    move |req| {
        if req.method == "GET" || req.method == "HEAD" {
            if let Some(inm) = req.joined("if-none-match") {
                if let Some(etag) = full.get("etag") {
                    let weak = |t: &str| t.trim().trim_start_matches("W/").to_string();
                    if inm
                        .split(',')
                        .any(|t| t.trim() == "*" || weak(t) == weak(etag))
                    {
                        return not_modified.clone();
                    }
                }
                return full.clone();
            }
            if let (Some(ims), Some(lm)) =
                (req.header("if-modified-since"), full.get("last-modified"))
            {
                if let (Ok(ims), Ok(lm)) = (
                    httpdate::parse_http_date(ims),
                    httpdate::parse_http_date(lm),
                ) {
                    if lm <= ims {
                        return not_modified.clone();
                    }
                }
            }
        }
        full.clone()
    }
}

/// The reply chosen by the request header `by` (see `PlainOrigin::varying`).
pub fn varying(
    by: &str,
    choices: Vec<(&str, Reply)>,
    fallback: Reply,
) -> impl Fn(&Seen) -> Reply + Send + Sync {
    let by = by.to_string();
    let choices: Vec<(String, Reply)> = choices
        .into_iter()
        .map(|(k, r)| (k.to_string(), r))
        .collect();
    move |req| {
        let v = req.joined(&by);
        choices
            .iter()
            .find(|(k, _)| v.as_deref().map(str::trim) == Some(k.as_str()))
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| fallback.clone())
    }
}

/// An HTTP date (IMF-fixdate).
pub fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// Now as an HTTP date.
pub fn now_date() -> String {
    http_date(SystemTime::now())
}

/// `secs` seconds before now, as an HTTP date.
pub fn date_ago(secs: u64) -> String {
    http_date(SystemTime::now() - Duration::from_secs(secs))
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn serve(st: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        target: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into()),
        path: parts.uri.path().to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    st.seen.lock().unwrap().push(seen.clone());
    let handler = st.routes.lock().unwrap().get(&seen.path).cloned();
    let reply = match handler {
        Some(h) => h(&seen),
        None => Reply::status(404, "no script for this path").header("content-type", "text/plain"),
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let no_body = reply.status == 304 || reply.status == 204 || reply.status < 200;
    let mut b = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
    for (k, v) in &reply.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    if reply.content_length && !no_body && reply.get("content-length").is_none() {
        b = b.header("content-length", reply.body.len());
    }
    let body = if no_body {
        Bytes::new()
    } else {
        reply.body.clone()
    };
    let resp = b.body(Full::new(body.clone()).boxed()).unwrap();
    st.sent.lock().unwrap().push(Sent {
        method: seen.method.clone(),
        target: seen.target.clone(),
        status: reply.status,
        headers: resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body_len: if seen.method == "HEAD" { 0 } else { body.len() },
    });
    Ok(resp)
}

/// The origin itself, asked directly: 304 on a matching validator, the reply chosen by a
/// request header, scripts in order, and what it records.
#[tokio::test]
async fn plain_origin_validates_varies_scripts_and_records() {
    use crate::harness::get;
    let o = PlainOrigin::start().await;
    let lm = date_ago(3600);
    let v = o.validating(
        "/v",
        Reply::ok("full").headers(&[("etag", "\"t1\""), ("last-modified", &lm)]),
        &[("etag", "\"t1\""), ("x-refreshed", "1")],
    );
    let r = get(&v, &[]).await;
    assert_eq!((r.status.as_u16(), r.bytes().as_ref()), (200, &b"full"[..]));
    let r = get(&v, &[("if-none-match", "\"x\", W/\"t1\"")]).await;
    assert_eq!(r.status.as_u16(), 304);
    assert_eq!(r.header("x-refreshed"), "1");
    assert!(r.bytes().is_empty());
    assert_eq!(
        get(&v, &[("if-none-match", "\"x\"")]).await.status.as_u16(),
        200
    );
    assert_eq!(
        get(&v, &[("if-modified-since", &lm)]).await.status.as_u16(),
        304
    );
    let earlier = date_ago(7200);
    assert_eq!(
        get(&v, &[("if-modified-since", &earlier)])
            .await
            .status
            .as_u16(),
        200
    );

    let g = o.varying(
        "/g",
        "accept-language",
        vec![("en", Reply::ok("Hello")), ("fr", Reply::ok("Bonjour"))],
        Reply::ok("?"),
    );
    assert_eq!(
        get(&g, &[("accept-language", "fr")]).await.bytes().as_ref(),
        b"Bonjour"
    );
    assert_eq!(
        get(&g, &[("accept-language", "en")]).await.bytes().as_ref(),
        b"Hello"
    );
    assert_eq!(get(&g, &[]).await.bytes().as_ref(), b"?");

    let s = o.script("/s", vec![Reply::ok("one"), Reply::status(503, "two")]);
    assert_eq!(get(&s, &[]).await.bytes().as_ref(), b"one");
    for _ in 0..2 {
        let r = get(&format!("{s}?q=1"), &[("x-custom", "a")]).await;
        assert_eq!((r.status.as_u16(), r.bytes().as_ref()), (503, &b"two"[..]));
    }
    assert_eq!(get(&o.url("/none"), &[]).await.status.as_u16(), 404);

    assert_eq!(o.requests(), 12);
    assert_eq!(o.requests_to("/s"), 3);
    let last_s = o.seen_at("/s").pop().unwrap();
    assert_eq!(
        (last_s.method.as_str(), last_s.target.as_str()),
        ("GET", "/s?q=1")
    );
    assert_eq!(last_s.all("x-custom"), vec!["a"]);
    let sent = o.sent();
    assert_eq!(sent.len(), 12);
    assert_eq!((sent[1].status, sent[1].body_len), (304, 0));
    assert_eq!(sent[0].header("content-length"), Some("4"));
    assert_eq!(sent[1].header("content-length"), None);
}
