//! Replaying a response a cache holds (RFC 9111 §4): the primary's status and header
//! fields exactly as it sent them (in order, its `Date`, `Cache-Control`, `Expires`,
//! validators and everything else), plus what the cache adds: `Age` (§5.1, per response),
//! `Via` (RFC 9110 §7.6.3), `Content-Length` of the stored body, `Accept-Ranges` on a 200
//! of known length, and an `ETag` of the copy's own only when the primary sent no validator
//! at all. The fields that do not change between requests are formatted once per copy
//! ([`Replay::new`]); a plain request costs a clone and one `Age` value.
//!
//! [`Replay::plan`] decides, for one request, between the stored status, 206, 304, 412
//! and 416 (RFC 9110 §13, §14), only for a stored 2xx: conditionals and ranges are ignored
//! on any other status (RFC 9110 §13.2.1).

use std::time::SystemTime;

use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};

use super::body::{self, Body};
use super::conditional::{self, Precondition, RangeOutcome, Validators};
use super::representation::{precondition_failed, range_not_satisfiable, Plan, Span};

/// A stored response head, ready to be replayed.
#[derive(Debug, Clone)]
pub struct Replay {
    status: StatusCode,
    /// Stored fields (minus `Age`), our `Via`, `Content-Length`, `Accept-Ranges`.
    fixed: HeaderMap,
    /// Length of the body, when known.
    len: Option<u64>,
    /// The validators conditionals are evaluated against.
    etag: Option<String>,
    last_modified: Option<SystemTime>,
}

/// The fields a 304 carries from the stored response (RFC 9110 §15.4.5), besides ours.
const NOT_MODIFIED_FIELDS: [HeaderName; 7] = [
    header::CACHE_CONTROL,
    header::CONTENT_LOCATION,
    header::DATE,
    header::ETAG,
    header::EXPIRES,
    header::VARY,
    header::LAST_MODIFIED,
];

fn has_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

impl Replay {
    /// The head of a stored response: `status`, the stored `fields` (lower-case name,
    /// value; those that are not valid field lines are skipped), the body's `len` if known,
    /// `local_etag` (the copy's own ETag, used only when the primary sent neither `ETag`
    /// nor `Last-Modified`), and `via`, our `Via` entry (`1.1 <system id>`).
    pub fn new(
        status: u16,
        fields: &[(String, String)],
        len: Option<u64>,
        local_etag: Option<&str>,
        via: &str,
    ) -> Replay {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        // Room for what every response adds (Age, X-Cache, Cache-Status, X-Request-Id, a
        // Content-Range): a clone keeps the index this size, so adding them never rehashes.
        let mut fixed = HeaderMap::with_capacity(fields.len() + 12);
        let mut via_seen = Vec::new();
        for (name, value) in fields {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) else {
                continue;
            };
            if name == header::VIA {
                via_seen.push(value.to_str().unwrap_or_default().to_string());
                continue;
            }
            if name == header::AGE || name == header::CONTENT_LENGTH {
                continue;
            }
            fixed.append(name, value);
        }
        let etag = fixed
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let last_modified = fixed
            .get(header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| httpdate::parse_http_date(s).ok());
        let etag = match (etag, last_modified, local_etag) {
            (None, None, Some(local)) => {
                if let Ok(v) = HeaderValue::from_str(local) {
                    fixed.insert(header::ETAG, v);
                }
                Some(local.to_string())
            }
            (etag, _, _) => etag,
        };
        via_seen.push(via.to_string());
        if let Ok(v) = HeaderValue::from_str(&via_seen.join(", ")) {
            fixed.insert(header::VIA, v);
        }
        if let Some(len) = len.filter(|_| has_body(status)) {
            if status == StatusCode::OK && !fixed.contains_key(header::ACCEPT_RANGES) {
                fixed.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            }
            fixed.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        Replay {
            status,
            fixed,
            len,
            etag,
            last_modified,
        }
    }

    /// The stored status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stored fields as replayed (for tests and the HEAD update).
    pub fn fields(&self) -> &HeaderMap {
        &self.fixed
    }

    fn validators(&self) -> Validators<'_> {
        Validators {
            etag: self.etag.as_deref(),
            last_modified: self.last_modified,
        }
    }

    /// The response to `method` with request fields `req`, from a copy `age` seconds old.
    /// `Err` is a complete response without a body from the copy (304, 412, 416).
    pub fn plan(
        &self,
        method: &Method,
        req: &HeaderMap,
        age: u64,
    ) -> Result<Plan, Box<Response<Body>>> {
        let is_head = method == Method::HEAD;
        let whole = if is_head || !has_body(self.status) {
            Span::None
        } else {
            Span::All
        };
        let plain = ![
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
            header::IF_UNMODIFIED_SINCE,
            header::RANGE,
        ]
        .iter()
        .any(|h| req.contains_key(h));
        // Conditionals and ranges apply to a 2xx only (RFC 9110 §13.2.1, §14.2).
        if plain || !self.status.is_success() {
            return Ok(Plan {
                response: self.builder(self.status, age, None),
                span: whole,
            });
        }
        match conditional::evaluate_preconditions(method, req, self.validators()) {
            Precondition::Proceed => {}
            Precondition::NotModified => {
                let mut b = Response::builder().status(StatusCode::NOT_MODIFIED);
                if let Some(h) = b.headers_mut() {
                    for name in NOT_MODIFIED_FIELDS {
                        for v in self.fixed.get_all(&name) {
                            h.append(name.clone(), v.clone());
                        }
                    }
                    if let Some(v) = self.fixed.get(header::VIA) {
                        h.insert(header::VIA, v.clone());
                    }
                    h.insert(header::AGE, HeaderValue::from(age));
                }
                return Err(Box::new(
                    b.body(body::empty()).unwrap_or_else(|_| internal()),
                ));
            }
            Precondition::Failed => {
                return Err(Box::new(precondition_failed()));
            }
        }
        let (Some(len), true) = (self.len, self.status == StatusCode::OK && !is_head) else {
            return Ok(Plan {
                response: self.builder(self.status, age, None),
                span: whole,
            });
        };
        match conditional::evaluate_range(req, len, self.validators()) {
            RangeOutcome::Full => Ok(Plan {
                response: self.builder(self.status, age, None),
                span: whole,
            }),
            RangeOutcome::Partial { start, end } => Ok(Plan {
                response: self.builder(
                    StatusCode::PARTIAL_CONTENT,
                    age,
                    Some((conditional::content_range(start, end, len), end - start + 1)),
                ),
                span: Span::Part {
                    start,
                    end: end + 1,
                },
            }),
            RangeOutcome::Unsatisfiable => Err(Box::new(range_not_satisfiable(len))),
        }
    }

    /// The stored fields with `status`, `Age`, and for a 206 its `Content-Range` and length.
    fn builder(
        &self,
        status: StatusCode,
        age: u64,
        part: Option<(String, u64)>,
    ) -> http::response::Builder {
        let mut b = Response::builder().status(status);
        if let Some(h) = b.headers_mut() {
            *h = self.fixed.clone();
            h.insert(header::AGE, HeaderValue::from(age));
            if let Some((range, len)) = part {
                if let Ok(v) = HeaderValue::from_str(&range) {
                    h.insert(header::CONTENT_RANGE, v);
                }
                h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
        }
        b
    }
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

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn lines(b: http::response::Builder) -> Vec<(String, String)> {
        let r = b.body(()).unwrap();
        r.headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect()
    }

    #[test]
    fn rfc9111_4_stored_fields_in_order_with_ours_added() {
        let r = Replay::new(
            200,
            &fields(&[
                ("date", "Tue, 01 Dec 2026 10:00:00 GMT"),
                ("x-a", "1"),
                ("x-a", "2"),
                ("via", "1.0 up"),
                ("age", "99"),
                ("etag", "\"e\""),
            ]),
            Some(10),
            Some("\"local\""),
            "1.1 P",
        );
        let p = r.plan(&Method::GET, &HeaderMap::new(), 7).ok().unwrap();
        assert_eq!(p.span, Span::All);
        assert_eq!(
            lines(p.response),
            fields(&[
                ("date", "Tue, 01 Dec 2026 10:00:00 GMT"),
                ("x-a", "1"),
                ("x-a", "2"),
                ("etag", "\"e\""),
                ("via", "1.0 up, 1.1 P"),
                ("accept-ranges", "bytes"),
                ("content-length", "10"),
                ("age", "7"),
            ])
        );
    }

    #[test]
    fn rfc9110_13_2_1_conditionals_and_ranges_only_on_2xx() {
        let r = Replay::new(404, &fields(&[("etag", "\"e\"")]), Some(5), None, "1.1 P");
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"e\""));
        h.insert(header::RANGE, HeaderValue::from_static("bytes=0-1"));
        let p = r.plan(&Method::GET, &h, 0).ok().unwrap();
        assert_eq!(p.span, Span::All);
        assert_eq!(p.response.body(()).unwrap().status(), 404);
    }

    #[test]
    fn rfc9110_15_4_5_not_modified_carries_the_validators_and_cache_fields() {
        let r = Replay::new(
            200,
            &fields(&[
                ("etag", "\"e\""),
                ("cache-control", "max-age=60"),
                ("content-type", "text/plain"),
            ]),
            Some(5),
            None,
            "1.1 P",
        );
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"e\""));
        let resp = r.plan(&Method::GET, &h, 3).err().unwrap();
        assert_eq!(resp.status(), 304);
        assert_eq!(resp.headers()["etag"], "\"e\"");
        assert_eq!(resp.headers()["cache-control"], "max-age=60");
        assert_eq!(resp.headers()["age"], "3");
        assert_eq!(resp.headers()["via"], "1.1 P");
        assert!(resp.headers().get("content-type").is_none());
    }

    #[test]
    fn rfc9110_14_ranges_of_a_stored_200() {
        let r = Replay::new(200, &[], Some(100), Some("\"l\""), "1.1 P");
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_static("bytes=10-19"));
        let p = r.plan(&Method::GET, &h, 0).ok().unwrap();
        assert_eq!(p.span, Span::Part { start: 10, end: 20 });
        let resp = p.response.body(()).unwrap();
        assert_eq!(resp.status(), 206);
        assert_eq!(resp.headers()["content-range"], "bytes 10-19/100");
        assert_eq!(resp.headers()["content-length"], "10");
        // The local ETag stands in when the primary sent no validator.
        assert_eq!(resp.headers()["etag"], "\"l\"");
        h.insert(header::RANGE, HeaderValue::from_static("bytes=200-"));
        assert_eq!(r.plan(&Method::GET, &h, 0).err().unwrap().status(), 416);
        let p = r.plan(&Method::HEAD, &HeaderMap::new(), 0).ok().unwrap();
        assert_eq!(p.span, Span::None);
    }

    #[test]
    fn no_body_statuses_and_unknown_length() {
        let r = Replay::new(204, &[], Some(0), None, "1.1 P");
        let p = r.plan(&Method::GET, &HeaderMap::new(), 0).ok().unwrap();
        assert_eq!(p.span, Span::None);
        assert!(p
            .response
            .body(())
            .unwrap()
            .headers()
            .get("content-length")
            .is_none());
        let r = Replay::new(200, &[], None, None, "1.1 P");
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_static("bytes=0-1"));
        let p = r.plan(&Method::GET, &h, 0).ok().unwrap();
        assert_eq!(p.span, Span::All, "length unknown: ranges ignored");
    }
}
