//! One place that turns a stored representation into response headers: validators,
//! freshness (`Expires`, `Cache-Control: max-age`), `Repr-Digest`, and the decision
//! between 200, 206, 304, 412 and 416, for the primary's own files. (The partner replays
//! what the primary sent instead: `replay.rs`.)

use std::time::{Duration, SystemTime};

use base64::Engine;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};

use super::body::{self, Body};
use super::conditional::{self, Precondition, RangeOutcome, Validators};
/// `Content-Disposition` of a named file (RFC 6266, with `filename*` when needed).
pub use super::disposition::content_disposition;

/// What we know of a representation before sending it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Representation {
    /// Length in bytes; `None` while a chunked fill has not finished.
    pub len: Option<u64>,
    pub content_type: String,
    /// Full entity-tag, quotes included.
    pub etag: Option<String>,
    pub last_modified: Option<SystemTime>,
    /// When this copy stops being fresh.
    pub expires: Option<SystemTime>,
    pub sha256: Option<[u8; 32]>,
    pub file_name: Option<String>,
    /// This copy is not kept by us and must not be kept by the client either.
    pub no_store: bool,
}

/// The part of the body a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// No body (HEAD, or a status without one).
    None,
    /// The whole body.
    All,
    /// Bytes `start..end` (exclusive end).
    Part { start: u64, end: u64 },
}

/// A response decided but without its body yet.
pub struct Plan {
    pub response: http::response::Builder,
    pub span: Span,
}

/// Format a time as an HTTP-date.
pub fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// The sha-256 `Repr-Digest` value (RFC 9530).
pub fn repr_digest(sha: &[u8; 32]) -> String {
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(sha)
    )
}

/// The sha-256 of a `Repr-Digest` (RFC 9530) header, when it has one.
pub fn repr_digest_sha256(h: &HeaderMap) -> Option<[u8; 32]> {
    let v = h.get("repr-digest")?.to_str().ok()?;
    v.split(',').find_map(|item| {
        let (alg, val) = item.trim().split_once('=')?;
        if !alg.trim().eq_ignore_ascii_case("sha-256") {
            return None;
        }
        let b64 = val.trim().strip_prefix(':')?.strip_suffix(':')?;
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        raw.try_into().ok()
    })
}

impl Representation {
    fn validators(&self) -> Validators<'_> {
        Validators {
            etag: self.etag.as_deref(),
            last_modified: self.last_modified,
        }
    }

    /// Headers every response about this representation carries.
    fn common_headers(
        &self,
        b: http::response::Builder,
        now: SystemTime,
    ) -> http::response::Builder {
        let mut b = b;
        if let Some(e) = &self.etag {
            b = b.header(header::ETAG, e.as_str());
        }
        if let Some(t) = self.last_modified {
            b = b.header(header::LAST_MODIFIED, http_date(t));
        }
        if self.no_store {
            b = b.header(header::CACHE_CONTROL, "no-store");
        } else if let Some(exp) = self.expires {
            let left = exp.duration_since(now).unwrap_or(Duration::ZERO).as_secs();
            b = b
                .header(header::EXPIRES, http_date(exp))
                .header(header::CACHE_CONTROL, format!("max-age={left}"));
        }
        b
    }

    /// Decide the response to `method` with `req` headers.
    pub fn plan(&self, method: &Method, req: &HeaderMap) -> Result<Plan, Box<Response<Body>>> {
        let now = SystemTime::now();
        match conditional::evaluate_preconditions(method, req, self.validators()) {
            Precondition::Proceed => {}
            Precondition::NotModified => {
                let b =
                    self.common_headers(Response::builder().status(StatusCode::NOT_MODIFIED), now);
                return Err(Box::new(
                    b.body(body::empty()).unwrap_or_else(|_| internal()),
                ));
            }
            Precondition::Failed => {
                return Err(Box::new(precondition_failed()));
            }
        }
        // No Date here: hyper adds it to every response (formatted once a second).
        let mut b = Response::builder().header(header::CONTENT_TYPE, self.content_type.as_str());
        b = self.common_headers(b, now);
        if let Some(sha) = &self.sha256 {
            b = b.header("repr-digest", repr_digest(sha));
        }
        if let Some(name) = &self.file_name {
            b = b.header(header::CONTENT_DISPOSITION, content_disposition(name));
        }
        let is_head = method == Method::HEAD;
        let Some(len) = self.len else {
            // Length unknown (chunked fill): ranges are ignored, the body is sent whole.
            let span = if is_head { Span::None } else { Span::All };
            return Ok(Plan {
                response: b.status(StatusCode::OK),
                span,
            });
        };
        b = b.header(header::ACCEPT_RANGES, "bytes");
        let outcome = if method == Method::GET {
            conditional::evaluate_range(req, len, self.validators())
        } else {
            RangeOutcome::Full
        };
        match outcome {
            RangeOutcome::Full => {
                let span = if is_head { Span::None } else { Span::All };
                Ok(Plan {
                    response: b.status(StatusCode::OK).header(header::CONTENT_LENGTH, len),
                    span,
                })
            }
            RangeOutcome::Partial { start, end } => Ok(Plan {
                response: b
                    .status(StatusCode::PARTIAL_CONTENT)
                    .header(
                        header::CONTENT_RANGE,
                        conditional::content_range(start, end, len),
                    )
                    .header(header::CONTENT_LENGTH, end - start + 1),
                span: Span::Part {
                    start,
                    end: end + 1,
                },
            }),
            RangeOutcome::Unsatisfiable => Err(Box::new(range_not_satisfiable(len))),
        }
    }
}

/// 412, for a precondition that does not hold (primary files and partner copies alike).
pub fn precondition_failed() -> Response<Body> {
    body::json(
        StatusCode::PRECONDITION_FAILED,
        &serde_json::json!({"error": "precondition_failed", "reason": "a precondition in the request does not hold for this file"}),
    )
}

/// 416 with `Content-Range: bytes */<len>`, for a range beyond a body of `len` bytes.
pub fn range_not_satisfiable(len: u64) -> Response<Body> {
    let mut resp = body::json(
        StatusCode::RANGE_NOT_SATISFIABLE,
        &serde_json::json!({"error": "range_not_satisfiable", "reason": format!("the file has {len} bytes")}),
    );
    if let Ok(v) = HeaderValue::from_str(&conditional::unsatisfied_range(len)) {
        resp.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    resp
}

fn internal() -> Response<Body> {
    body::json(
        StatusCode::INTERNAL_SERVER_ERROR,
        &serde_json::json!({"error": "internal"}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep() -> Representation {
        Representation {
            len: Some(100),
            content_type: "text/plain".into(),
            etag: Some("\"abc\"".into()),
            last_modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            expires: Some(SystemTime::now() + Duration::from_secs(600)),
            sha256: Some([0; 32]),
            file_name: Some("a\"b.txt".into()),
            no_store: false,
        }
    }

    #[test]
    fn full_range_and_not_modified() {
        let r = rep();
        let mut h = HeaderMap::new();
        let p = r.plan(&Method::GET, &h).ok().unwrap();
        assert_eq!(p.span, Span::All);
        let resp = p.response.body(()).unwrap();
        assert_eq!(resp.headers()["content-length"], "100");
        assert!(resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("max-age=59"));
        assert_eq!(
            resp.headers()["content-disposition"],
            "attachment; filename=\"a_b.txt\"; filename*=UTF-8''a%22b.txt"
        );
        h.insert(header::RANGE, HeaderValue::from_static("bytes=10-19"));
        let p = r.plan(&Method::GET, &h).ok().unwrap();
        assert_eq!(p.span, Span::Part { start: 10, end: 20 });
        h.insert(header::RANGE, HeaderValue::from_static("bytes=200-"));
        assert_eq!(r.plan(&Method::GET, &h).err().unwrap().status(), 416);
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abc\""));
        assert_eq!(r.plan(&Method::GET, &h).err().unwrap().status(), 304);
        assert_eq!(
            r.plan(&Method::HEAD, &HeaderMap::new()).ok().unwrap().span,
            Span::None
        );
    }
}
