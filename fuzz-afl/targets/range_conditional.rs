//! Range, conditional-request and cache-directive parsing, fed with header sections.
//!
//! Input: a first line `METHOD LEN STATUS` (e.g. `GET 1000 200`), then the stored
//! response's header lines, a blank line, and the request's header lines (`name: value`,
//! lines that are not valid fields are skipped). It runs the primary's
//! `Representation::plan` and the partner's `Replay::plan` (preconditions and `Range`
//! against a body of LEN bytes), `Cache-Control` / `Pragma` parsing, `Vary` keys and the
//! partner's `Policy::decide`. Nothing may panic, and:
//! * a 206 span lies within the body (`start <= end < LEN`), never for an empty body, and
//!   only when the request has a `Range`; 304 only for GET/HEAD;
//! * every planned response builds (its header values are valid);
//! * delta-seconds never exceed 2^31, excluded field names are lower-case tokens, sorted;
//! * a request matches the `Vary` key computed from itself;
//! * a kept copy's lifetime is within `max_ttl` and it is kept for a non-zero time.

use std::time::{Duration, SystemTime};

use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use mcdata::cache::directives::{self, CacheControl, DELTA_SECONDS_MAX};
use mcdata::cache::freshness::{usable, Decision, Policy, Timing};
use mcdata::cache::vary::{matches, secondary_key, vary_fields, VaryFields};
use mcdata::http::conditional::{evaluate_preconditions, evaluate_range, RangeOutcome, Validators};
use mcdata::http::replay::Replay;
use mcdata::http::representation::{Representation, Span};

fn fields(lines: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in lines.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = HeaderName::from_bytes(&line[..colon]);
        let value = HeaderValue::from_bytes(directives::trim_ows(&line[colon + 1..]));
        if let (Ok(name), Ok(value)) = (name, value) {
            map.append(name, value);
        }
    }
    map
}

fn check_span(span: Span, len: u64, req: &HeaderMap) {
    if let Span::Part { start, end } = span {
        assert!(start < end && end <= len, "span {start}..{end} of {len}");
        assert!(req.contains_key(header::RANGE), "206 without Range");
    }
}

fn check_cc(cc: &CacheControl) {
    for n in [
        cc.max_age,
        cc.s_maxage,
        cc.min_fresh,
        cc.max_stale.flatten(),
    ] {
        assert!(n.is_none_or(|n| n <= DELTA_SECONDS_MAX), "{cc:?}");
    }
    let names = cc.excluded_fields();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| directives::is_token(n.as_bytes()) && *n == n.to_ascii_lowercase()),
        "{names:?}"
    );
}

fn main() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let timing = Timing {
        request_time: t0,
        response_time: t0 + Duration::from_secs(1),
    };
    let policy = Policy::default();

    afl::fuzz!(|data: &[u8]| {
        let (first, rest) =
            data.split_at(data.iter().position(|&b| b == b'\n').unwrap_or(data.len()));
        let mut words = first.split(|&b| b == b' ');
        let method = Method::from_bytes(words.next().unwrap_or(b"GET")).unwrap_or(Method::GET);
        let mut number = || {
            std::str::from_utf8(words.next().unwrap_or(b""))
                .ok()
                .and_then(|w| w.parse::<u64>().ok())
        };
        let len = number().unwrap_or(1000);
        let status = number().unwrap_or(200);
        let (resp, req) = match rest.windows(2).position(|w| w == b"\n\n") {
            Some(i) => (fields(&rest[..i]), fields(&rest[i + 2..])),
            None => (fields(rest), HeaderMap::new()),
        };

        // RFC 9110 conditionals and ranges, directly.
        let etag = resp
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let last_modified = resp
            .get(header::LAST_MODIFIED)
            .and_then(mcdata::cache::freshness::parse_http_date);
        let v = Validators {
            etag: etag.as_deref(),
            last_modified,
        };
        let pre = evaluate_preconditions(&method, &req, v);
        if pre == mcdata::http::conditional::Precondition::NotModified {
            assert!(
                method == Method::GET || method == Method::HEAD,
                "304 for {method}"
            );
        }
        match evaluate_range(&req, len, v) {
            RangeOutcome::Partial { start, end } => {
                assert!(start <= end && end < len, "{start}-{end} of {len}");
                assert!(req.contains_key(header::RANGE), "206 without Range");
            }
            RangeOutcome::Unsatisfiable => {
                assert!(req.contains_key(header::RANGE), "416 without Range")
            }
            RangeOutcome::Full => {}
        }

        // The primary's own files.
        let repr = Representation {
            len: Some(len),
            content_type: "application/octet-stream".into(),
            etag: etag.clone(),
            last_modified,
            expires: Some(t0),
            sha256: Some([7; 32]),
            file_name: resp
                .get("x-file-name")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            no_store: false,
        };
        if let Ok(plan) = repr.plan(&method, &req) {
            check_span(plan.span, len, &req);
            assert!(
                plan.response.body(()).is_ok(),
                "a planned response does not build"
            );
        }

        // The partner's stored copies.
        let stored: Vec<(String, String)> = resp
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let replay = Replay::new(
            u16::try_from(status).unwrap_or(200),
            &stored,
            Some(len),
            Some("\"local\""),
            "1.1 B",
        );
        if let Ok(plan) = replay.plan(&method, &req, 5) {
            check_span(plan.span, len, &req);
            assert!(
                plan.response.body(()).is_ok(),
                "a replayed response does not build"
            );
        }

        // Cache-Control, Pragma, Vary and the partner's caching decision.
        let req_cc = directives::parse(&req);
        let resp_cc = directives::parse(&resp);
        check_cc(&req_cc);
        check_cc(&resp_cc);
        for line in req.get_all(header::CACHE_CONTROL) {
            let elements = directives::list_elements(line.as_bytes());
            assert!(elements
                .iter()
                .all(|e| !e.is_empty() && directives::trim_ows(e) == *e));
        }
        let pragma = directives::pragma_no_cache(&req);
        if let VaryFields::Fields(names) = vary_fields(&resp) {
            let key = secondary_key(&names, &req);
            assert_eq!(key.lines().count(), names.len(), "{key:?}");
            assert!(matches(&VaryFields::Fields(names), &key, &req), "{key:?}");
        }
        let status =
            StatusCode::from_u16(u16::try_from(status).unwrap_or(200)).unwrap_or(StatusCode::OK);
        if let Decision::Keep {
            lifetime,
            initial_age,
            keep_for,
        } = policy.decide(&method, status, &req_cc, &resp, &timing)
        {
            assert!(
                lifetime <= policy.max_ttl && !keep_for.is_zero(),
                "{lifetime:?} {keep_for:?}"
            );
            let _ = usable(lifetime, initial_age, &resp_cc, &req_cc, pragma);
        }
    });
}
