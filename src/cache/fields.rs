//! The header fields that cross the partner cache: which fields of a response are stored
//! and replayed (RFC 9111 §3.1), how a 304 updates them (§3.2, §4.3.4), which fields of a
//! client's request go upstream on a fill, and `Via` (RFC 9110 §7.6.3), all without
//! touching the network and without panicking on any bytes.

use http::{header, HeaderMap, HeaderName, HeaderValue};

use super::directives::{self, is_token, list_elements, CacheControl};

/// The hop-by-hop fields every message drops (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::TRAILER,
];

/// Fields specific to the proxy a cache talks through, never stored (RFC 9111 §3.1).
const PROXY_SPECIFIC: [&str; 3] = [
    "proxy-authenticate",
    "proxy-authentication-info",
    "proxy-authorization",
];

/// The fields a proxy removes before forwarding `headers` (RFC 9110 §7.6.1): `Connection`,
/// `Keep-Alive`, `Proxy-Connection`, `TE`, `Transfer-Encoding`, `Upgrade`, `Trailer`
/// (always listed, present or not), then every field named in `Connection`, deduplicated.
pub fn hop_by_hop(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut out: Vec<HeaderName> = HOP_BY_HOP.to_vec();
    for line in headers.get_all(header::CONNECTION) {
        for option in list_elements(line.as_bytes()) {
            if !is_token(option) {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(option) {
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
    }
    out
}

/// The response fields to store and replay, as (lower-case name, value) pairs in the order
/// the `HeaderMap` keeps them (names in order of first appearance, each name's lines in
/// order). See [`to_store_counted`].
pub fn to_store(resp: &HeaderMap, cc: &CacheControl) -> Vec<(String, String)> {
    to_store_counted(resp, cc).0
}

/// [`to_store`], and how many field lines were dropped because their value is not UTF-8
/// (obs-text that is not UTF-8 cannot be kept in a `String` without changing it).
/// Excluded (RFC 9111 §3.1): hop-by-hop fields and those `Connection` names; the fields
/// named by a qualified `no-cache="..."` (§5.2.2.4) or `private="..."` (§5.2.2.7) in `cc`;
/// `Proxy-Authenticate`, `Proxy-Authentication-Info`, `Proxy-Authorization`; `Age` (the
/// cache generates its own, §4) and `Content-Length` (set from the stored body). `Date` is
/// kept: the primary's `Date` is replayed.
pub fn to_store_counted(resp: &HeaderMap, cc: &CacheControl) -> (Vec<(String, String)>, usize) {
    let hop = hop_by_hop(resp);
    let excluded = cc.excluded_fields();
    let mut dropped = 0;
    let mut out = Vec::new();
    for (name, value) in resp {
        if !storable_field(name, &hop, &excluded) {
            continue;
        }
        match std::str::from_utf8(value.as_bytes()) {
            Ok(v) => out.push((name.as_str().to_string(), v.to_string())),
            Err(_) => dropped += 1,
        }
    }
    (out, dropped)
}

fn storable_field(name: &HeaderName, hop: &[HeaderName], excluded: &[String]) -> bool {
    let n = name.as_str();
    !(hop.contains(name)
        || PROXY_SPECIFIC.contains(&n)
        || excluded.iter().any(|e| e == n)
        || name == header::AGE
        || name == header::CONTENT_LENGTH)
}

/// The stored fields updated by a 304 (or another response used to freshen, RFC 9111
/// §3.2, §4.3.4): every field of `fresh` replaces all stored lines of the same name, at
/// the position of the first of them; fields new to the entry are appended in their order.
/// Not taken from `fresh`: what §3.1 excepts from storage (as [`to_store`], with `fresh`'s
/// own `Connection` and `Cache-Control`), `Content-Length` (§3.2), and `Content-Range`
/// (automatically processed, which §3.2 lets a cache omit; partial responses are never
/// stored). Finally, fields named by a qualified `no-cache`/`private` of the resulting
/// `Cache-Control` are removed, so the entry always agrees with its own directives.
///
/// Choosing which stored response a 304 applies to (matching validators, §4.3.4) is the
/// caller's.
pub fn merge_304(stored: &[(String, String)], fresh: &HeaderMap) -> Vec<(String, String)> {
    let mut update = to_store(fresh, &directives::parse(fresh));
    update.retain(|(n, _)| n != header::CONTENT_RANGE.as_str());
    let mut out: Vec<(String, String)> = Vec::with_capacity(stored.len() + update.len());
    let mut placed: Vec<String> = Vec::new();
    for (name, value) in stored {
        let lname = name.to_ascii_lowercase();
        if update.iter().any(|(n, _)| *n == lname) {
            if !placed.contains(&lname) {
                out.extend(update.iter().filter(|(u, _)| *u == lname).cloned());
                placed.push(lname);
            }
        } else {
            out.push((lname, value.clone()));
        }
    }
    for (name, value) in &update {
        if !placed.contains(name) {
            out.push((name.clone(), value.clone()));
        }
    }
    let cc = directives::parse(&cache_control_of(&out));
    let excluded = cc.excluded_fields();
    out.retain(|(n, _)| !excluded.contains(n));
    out
}

/// The `Cache-Control` lines of stored pairs as a `HeaderMap` (values that are not valid
/// field values are skipped).
fn cache_control_of(fields: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (n, v) in fields {
        if n == header::CACHE_CONTROL.as_str() {
            if let Ok(v) = HeaderValue::from_str(v) {
                map.append(header::CACHE_CONTROL, v);
            }
        }
    }
    map
}

/// The request fields that never go upstream on a fill, besides hop-by-hop ones and
/// every `Proxy-*` / `X-Mcdata-*` field.
const NOT_FORWARDED: [HeaderName; 13] = [
    header::HOST,
    header::AUTHORIZATION,
    header::COOKIE,
    header::EXPECT,
    header::CONTENT_LENGTH,
    header::VIA,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
    header::IF_RANGE,
    header::RANGE,
    header::PROXY_AUTHORIZATION,
];

/// The client request fields carried upstream on a fill, in order: every end-to-end
/// field (`Accept`, `Accept-Language`, `User-Agent`, `Cache-Control`, extensions ...) but
/// not hop-by-hop fields and those `Connection` names (RFC 9110 §7.6.1), `Host`,
/// `Authorization` (the caller adds the agreement credential), `Proxy-*`, `Cookie`,
/// `Expect`, `Content-Length`, `Via` (the caller appends its own, [`append_via`]), the
/// conditionals `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`,
/// `If-Range` and `Range` (a fill fetches the whole representation and the cache
/// evaluates those itself), and `X-Mcdata-*` (ours).
pub fn to_forward(client_req: &HeaderMap) -> HeaderMap {
    let hop = hop_by_hop(client_req);
    let mut out = HeaderMap::new();
    for (name, value) in client_req {
        let n = name.as_str();
        if hop.contains(name)
            || NOT_FORWARDED.contains(name)
            || n.starts_with("proxy-")
            || n.starts_with("x-mcdata-")
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// `existing` with `1.1 <pseudonym>` appended (RFC 9110 §7.6.3), or just that entry when
/// there is no (or an empty) `Via`. Pass every `Via` line combined with `, ` if the message
/// has several. Bytes of `existing` that are not UTF-8 are replaced (U+FFFD), which is
/// still a valid field value.
pub fn append_via(existing: Option<&HeaderValue>, pseudonym: &str) -> String {
    let own = format!("1.1 {pseudonym}");
    let Some(existing) = existing else {
        return own;
    };
    let prior = String::from_utf8_lossy(existing.as_bytes());
    let prior = prior.trim_matches(|c: char| c == ' ' || c == '\t' || c == ',');
    if prior.is_empty() {
        own
    } else {
        format!("{prior}, {own}")
    }
}

/// Whether a `Via` entry of `headers` was received by `pseudonym` (compared
/// case-insensitively): the message has been through us already (a loop).
pub fn via_names(headers: &HeaderMap, pseudonym: &str) -> bool {
    headers.get_all(header::VIA).iter().any(|line| {
        via_entries(line.as_bytes()).into_iter().any(|entry| {
            let mut parts = entry
                .split(|b| *b == b' ' || *b == b'\t')
                .filter(|p| !p.is_empty());
            let _protocol = parts.next();
            parts
                .next()
                .is_some_and(|by| by.eq_ignore_ascii_case(pseudonym.as_bytes()))
        })
    })
}

/// The entries of one `Via` line: split at commas outside comments (which nest and may
/// escape with `\`), each without its comment.
fn via_entries(line: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut depth = 0usize;
    let mut escaped = false;
    for &b in line {
        if depth > 0 {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'(' {
                depth += 1;
            } else if b == b')' {
                depth -= 1;
            }
        } else if b == b'(' {
            depth = 1;
        } else if b == b',' {
            out.push(std::mem::take(&mut current));
        } else {
            current.push(b);
        }
    }
    out.push(current);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        m
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn names(m: &HeaderMap) -> Vec<&str> {
        m.keys().map(|k| k.as_str()).collect()
    }

    #[test]
    fn rfc9110_7_6_1_hop_by_hop_fixed_and_connection_named() {
        let req = h(&[
            ("connection", b"close, X-Trace, keep-alive"),
            ("connection", b"foo"),
        ]);
        let hop: Vec<String> = hop_by_hop(&req).iter().map(|n| n.to_string()).collect();
        for n in [
            "connection",
            "keep-alive",
            "proxy-connection",
            "te",
            "transfer-encoding",
            "upgrade",
            "trailer",
            "close",
            "x-trace",
            "foo",
        ] {
            assert!(hop.contains(&n.to_string()), "{n}");
        }
        assert_eq!(hop.iter().filter(|n| *n == "keep-alive").count(), 1);
        // Garbage in Connection is ignored.
        let req = h(&[("connection", b"\xff, a b, \"q\"")]);
        assert_eq!(hop_by_hop(&req).len(), 7);
    }

    #[test]
    fn s3_1_to_store_drops_hop_by_hop_age_length_and_proxy_fields() {
        let resp = h(&[
            ("date", b"Thu, 01 Dec 1994 16:00:00 GMT"),
            ("content-type", b"text/plain"),
            ("connection", b"x-hop"),
            ("x-hop", b"1"),
            ("transfer-encoding", b"chunked"),
            ("keep-alive", b"timeout=5"),
            ("age", b"3"),
            ("content-length", b"10"),
            ("proxy-authenticate", b"Basic"),
            ("proxy-authentication-info", b"x"),
            ("etag", b"\"v1\""),
            ("x-custom", b"a"),
            ("x-custom", b"b"),
        ]);
        let stored = to_store(&resp, &directives::parse(&resp));
        assert_eq!(
            stored,
            pairs(&[
                ("date", "Thu, 01 Dec 1994 16:00:00 GMT"),
                ("content-type", "text/plain"),
                ("etag", "\"v1\""),
                ("x-custom", "a"),
                ("x-custom", "b"),
            ])
        );
    }

    #[test]
    fn s5_2_2_4_and_s5_2_2_7_to_store_drops_qualified_fields() {
        let resp = h(&[
            (
                "cache-control",
                b"max-age=60, private=\"X-User\", no-cache=\"set-cookie\"",
            ),
            ("x-user", b"alice"),
            ("set-cookie", b"a=b"),
            ("x-other", b"kept"),
        ]);
        let stored = to_store(&resp, &directives::parse(&resp));
        assert_eq!(
            stored,
            pairs(&[
                (
                    "cache-control",
                    "max-age=60, private=\"X-User\", no-cache=\"set-cookie\""
                ),
                ("x-other", "kept"),
            ])
        );
    }

    #[test]
    fn s3_1_to_store_keeps_utf8_obs_text_drops_other_bytes() {
        let resp = h(&[
            ("x-utf8", "café".as_bytes()),
            ("x-latin1", b"caf\xe9"),
            ("x-ok", b"1"),
        ]);
        let (stored, dropped) = to_store_counted(&resp, &CacheControl::default());
        assert_eq!(stored, pairs(&[("x-utf8", "café"), ("x-ok", "1")]));
        assert_eq!(dropped, 1);
    }

    #[test]
    fn s3_2_merge_304_replaces_all_lines_and_appends_new() {
        let stored = pairs(&[
            ("date", "old"),
            ("x-multi", "1"),
            ("content-type", "text/plain"),
            ("x-multi", "2"),
            ("etag", "\"v1\""),
        ]);
        let fresh = h(&[
            ("date", b"new"),
            ("x-multi", b"3"),
            ("cache-control", b"max-age=60"),
            ("etag", b"\"v1\""),
        ]);
        assert_eq!(
            merge_304(&stored, &fresh),
            pairs(&[
                ("date", "new"),
                ("x-multi", "3"),
                ("content-type", "text/plain"),
                ("etag", "\"v1\""),
                ("cache-control", "max-age=60"),
            ])
        );
    }

    #[test]
    fn s3_2_merge_304_never_takes_content_length_range_or_hop_by_hop() {
        let stored = pairs(&[("content-type", "text/plain"), ("x-a", "1")]);
        let fresh = h(&[
            ("content-length", b"0"),
            ("content-range", b"bytes 0-0/1"),
            ("connection", b"x-a"),
            ("x-a", b"2"),
            ("transfer-encoding", b"chunked"),
            ("age", b"9"),
            ("proxy-authenticate", b"Basic"),
            ("content-type", b"text/html"),
        ]);
        assert_eq!(
            merge_304(&stored, &fresh),
            pairs(&[("content-type", "text/html"), ("x-a", "1")])
        );
    }

    #[test]
    fn s3_2_merge_304_honours_new_qualified_directives() {
        let stored = pairs(&[("cache-control", "max-age=5"), ("x-user", "alice")]);
        // The 304's own private="x-user": neither its x-user nor the stored one survives.
        let fresh = h(&[
            ("cache-control", b"max-age=60, private=\"x-user\""),
            ("x-user", b"bob"),
        ]);
        assert_eq!(
            merge_304(&stored, &fresh),
            pairs(&[("cache-control", "max-age=60, private=\"x-user\"")])
        );
        // Stored directives still apply when the 304 has none.
        let stored = pairs(&[("cache-control", "no-cache=\"x-a\"")]);
        let fresh = h(&[("x-a", b"1"), ("x-b", b"2")]);
        assert_eq!(
            merge_304(&stored, &fresh),
            pairs(&[("cache-control", "no-cache=\"x-a\""), ("x-b", "2")])
        );
    }

    #[test]
    fn s3_2_merge_304_name_case_of_stored_pairs() {
        let stored = pairs(&[("ETag", "\"a\""), ("X-Keep", "1")]);
        let fresh = h(&[("etag", b"\"b\"")]);
        assert_eq!(
            merge_304(&stored, &fresh),
            pairs(&[("etag", "\"b\""), ("x-keep", "1")])
        );
    }

    #[test]
    fn rfc9110_7_6_1_to_forward_filters_and_keeps_order() {
        let req = h(&[
            ("accept", b"*/*"),
            ("host", b"primary.example"),
            ("authorization", b"Bearer user-token"),
            ("proxy-authorization", b"Basic x"),
            ("proxy-foo", b"1"),
            ("cookie", b"a=b"),
            ("expect", b"100-continue"),
            ("content-length", b"0"),
            ("via", b"1.1 other"),
            ("if-match", b"\"a\""),
            ("if-none-match", b"\"a\""),
            ("if-modified-since", b"x"),
            ("if-unmodified-since", b"x"),
            ("if-range", b"\"a\""),
            ("range", b"bytes=0-1"),
            ("x-mcdata-availability", b"1h"),
            ("connection", b"x-conn"),
            ("x-conn", b"1"),
            ("te", b"trailers"),
            ("upgrade", b"h2c"),
            ("accept-language", b"en"),
            ("user-agent", b"ua"),
            ("cache-control", b"no-cache"),
            ("x-custom", b"1"),
            ("x-custom", b"2"),
        ]);
        let out = to_forward(&req);
        assert_eq!(
            names(&out),
            vec![
                "accept",
                "accept-language",
                "user-agent",
                "cache-control",
                "x-custom"
            ]
        );
        let custom: Vec<_> = out.get_all("x-custom").iter().collect();
        assert_eq!(custom, vec!["1", "2"]);
    }

    #[test]
    fn rfc9110_7_6_3_append_via() {
        assert_eq!(append_via(None, "partner-a"), "1.1 partner-a");
        let v = HeaderValue::from_static("1.0 fred, 1.1 p.example (Apache/1.1)");
        assert_eq!(
            append_via(Some(&v), "partner-a"),
            "1.0 fred, 1.1 p.example (Apache/1.1), 1.1 partner-a"
        );
        let v = HeaderValue::from_static(" , ");
        assert_eq!(append_via(Some(&v), "p"), "1.1 p");
        let v = HeaderValue::from_bytes(b"1.1 a (\xff)").unwrap();
        let out = append_via(Some(&v), "p");
        assert!(HeaderValue::from_str(&out).is_ok());
        assert!(out.ends_with(", 1.1 p"));
    }

    #[test]
    fn rfc9110_7_6_3_via_names_received_by() {
        let req = h(&[
            (
                "via",
                b"1.0 fred, 1.1 p.example (comment, with 1.1 partner-a)",
            ),
            ("via", b"HTTP/1.1 Other:8080"),
        ]);
        assert!(!via_names(&req, "partner-a"));
        assert!(via_names(&req, "fred"));
        assert!(via_names(&req, "P.EXAMPLE"));
        assert!(via_names(&req, "other:8080"));
        assert!(!via_names(&req, "1.1"));
        let req = h(&[("via", b"1.1 x (nested (a, 1.1 y) \\) 1.1 z), 2 partner-a")]);
        assert!(via_names(&req, "partner-a"));
        assert!(!via_names(&req, "y"));
        assert!(!via_names(&req, "z"));
        assert!(!via_names(&HeaderMap::new(), "p"));
        let req = h(&[("via", b"\xff\xfe, (unterminated")]);
        assert!(!via_names(&req, "p"));
    }

    /// RFC 9110 §5.5 allows obs-text and odd bytes in field values: nothing panics on them.
    #[test]
    fn rfc9110_5_5_no_panic_on_arbitrary_bytes() {
        use crate::cache::{freshness, vary};
        use std::time::{Duration, SystemTime};
        const NAMES: [&str; 12] = [
            "cache-control",
            "pragma",
            "vary",
            "connection",
            "via",
            "age",
            "date",
            "expires",
            "last-modified",
            "etag",
            "accept",
            "x-a",
        ];
        const ALPHABET: &[u8] = b"\"\\,=() \t0123456789-*;aZ\x80\xff%";
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let t = freshness::Timing {
            request_time: SystemTime::UNIX_EPOCH,
            response_time: SystemTime::UNIX_EPOCH + Duration::from_secs(5),
        };
        for _ in 0..2000 {
            let mut m = HeaderMap::new();
            for _ in 0..(next() % 6) {
                let name = NAMES[(next() % NAMES.len() as u64) as usize];
                let len = (next() % 24) as usize;
                let value: Vec<u8> = (0..len)
                    .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                    .collect();
                if let Ok(v) = HeaderValue::from_bytes(&value) {
                    m.append(HeaderName::from_static(name), v);
                }
            }
            let cc = directives::parse(&m);
            let _ = directives::pragma_no_cache(&m);
            let _ = to_store_counted(&m, &cc);
            let _ = merge_304(&to_store(&m, &cc), &m);
            let _ = to_forward(&m);
            let _ = append_via(m.get(header::VIA), "p");
            let _ = via_names(&m, "p");
            let fields = vary::vary_fields(&m);
            if let vary::VaryFields::Fields(f) = &fields {
                let key = vary::secondary_key(f, &m);
                assert!(vary::matches(&fields, &key, &m));
            }
            let _ = freshness::corrected_initial_age(&m, &t);
            let l = freshness::freshness_lifetime(
                http::StatusCode::OK,
                &m,
                &cc,
                &freshness::Heuristic::default(),
                &t,
            );
            let _ = freshness::usable(l.duration(), Duration::from_secs(3), &cc, &cc, false);
            let _ = freshness::Policy::default().decide(
                &http::Method::GET,
                http::StatusCode::OK,
                &cc,
                &m,
                &t,
            );
        }
    }
}
