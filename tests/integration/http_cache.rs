//! The partner as an RFC 9111 shared cache (and an RFC 9110 intermediary) in front of a
//! plain origin (`crate::plain_origin`): what it stores, replays, revalidates and forwards.
//! Each test names the section it checks. "Hit" always means the origin's request count did
//! not change; the `X-Cache` values are those of docs/content-server.md (`HIT`, `MISS`,
//! `PASS` = streamed through, not kept).

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;
use crate::plain_origin::{date_ago, http_date, now_date, PlainOrigin, Reply, PLAIN_CRED};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

async fn partner(o: &PlainOrigin) -> System {
    partner_of_plain(o, |_| {}).await
}

/// Wait until no fill is running, so that a copy a MISS made is published.
async fn settle(p: &System) {
    eventually(Duration::from_secs(3), || {
        p.metric("mcdata_fills_in_flight") == 0.0
    })
    .await;
}

/// GET `original` through the partner, then let its fill finish.
async fn fetch(p: &System, original: &str, headers: &[(&str, &str)]) -> Resp {
    let r = get(&p.via(original), headers).await;
    settle(p).await;
    r
}

/// Every value of `name` in a response.
fn all<'a>(r: &'a Resp, name: &str) -> Vec<&'a str> {
    r.headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

/// The `Age` of a response, which must be a non-negative integer (RFC 9111 §5.1).
fn age(r: &Resp) -> u64 {
    let a = all(r, "age");
    assert_eq!(a.len(), 1, "exactly one Age field: {a:?}");
    a[0].trim()
        .parse()
        .unwrap_or_else(|_| panic!("Age is delta-seconds: {:?}", a[0]))
}

/// The entries of a `Via` field value, each as `<protocol> <received-by>` with comments
/// and extra whitespace removed (RFC 9110 §7.6.3).
fn via_entries(value: &str) -> Vec<String> {
    let mut no_comments = String::new();
    let mut depth = 0;
    for c in value.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => no_comments.push(c),
            _ => {}
        }
    }
    no_comments
        .split(',')
        .map(|e| e.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .filter(|e| !e.is_empty())
        .collect()
}

fn via_of(lines: &[&str]) -> Vec<String> {
    via_entries(&lines.join(", "))
}

/// The revalidated response came from the stored copy, not from a new fill or a pass.
fn assert_served_from_copy(r: &Resp) {
    let x = r.header("x-cache");
    assert!(
        !x.is_empty() && x != "MISS" && x != "PASS",
        "a validated copy is served from the cache: X-Cache {x:?}"
    );
}

/// A response read from the raw bytes on the wire, header lines in their order.
struct Wire {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Wire {
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn header(&self, name: &str) -> &str {
        self.all(name).first().copied().unwrap_or("")
    }
    /// The lines whose names are among `names`, in wire order.
    fn lines_named(&self, names: &[String]) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|(k, _)| names.contains(k))
            .cloned()
            .collect()
    }
}

/// GET `original` through the partner on a fresh connection, reading the response as
/// bytes so that the order and repetition of header lines are exactly what was sent.
async fn wire_get(p: &System, original: &str, headers: &[(&str, &str)]) -> Wire {
    let addr = p.base().trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut req = format!("GET /{original} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw))
        .await
        .expect("the partner answers and closes")
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of the header section");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("name: value");
            (k.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let eol = pos + rest[pos..].windows(2).position(|w| w == b"\r\n").unwrap();
            let size_line = std::str::from_utf8(&rest[pos..eol]).unwrap();
            let size =
                usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16).unwrap();
            pos = eol + 2;
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[pos..pos + size]);
            pos += size + 2;
        }
        out
    } else {
        match headers.iter().find(|(k, _)| k == "content-length") {
            Some((_, n)) => rest[..n.parse::<usize>().unwrap()].to_vec(),
            None => rest.to_vec(),
        }
    };
    Wire {
        status,
        headers,
        body,
    }
}

// ---------------------------------------------------------------------------------------
// Storing and replaying (RFC 9111 §3, §3.1, §5.1; RFC 9110 §7.6.3)
// ---------------------------------------------------------------------------------------

/// RFC 9111 §3.1 (and §4: a response from cache carries the stored header fields): every
/// end-to-end field the origin sent comes back with the same values, as many lines, in the
/// same relative order, on the MISS and on the HIT; `Connection`, the fields it names and
/// `Keep-Alive` are not passed on (RFC 9110 §7.6.1). `X-Cache` and `Via: 1.1 P`
/// (RFC 9110 §7.6.3) are added.
#[tokio::test]
async fn rfc9111_3_1_all_end_to_end_fields_replayed_in_order_hop_by_hop_dropped() {
    let o = PlainOrigin::start().await;
    let body = data(4096, 21);
    let date = now_date();
    let last_modified = date_ago(3600);
    let expires = http_date(SystemTime::now() + Duration::from_secs(600));
    let url = o.always(
        "/replay",
        Reply::ok(body.clone()).headers(&[
            ("date", &date),
            ("server", "plain-origin/1.0"),
            ("content-type", "text/plain; charset=utf-8"),
            ("content-language", "en-GB"),
            ("content-encoding", "gzip"),
            ("link", "</style.css>; rel=preload; as=style"),
            ("x-custom", "one"),
            ("x-custom", "two"),
            ("cache-control", "public, max-age=600"),
            ("expires", &expires),
            ("last-modified", &last_modified),
            ("etag", "\"replay-1\""),
            ("content-disposition", "attachment; filename=\"report.txt\""),
            ("connection", "keep-alive, x-hop-secret"),
            ("keep-alive", "timeout=30"),
            ("x-hop-secret", "do-not-forward"),
        ]),
    );
    let p = partner(&o).await;

    let miss = wire_get(&p, &url, &[]).await;
    settle(&p).await;
    let sent = o.sent();
    assert_eq!(sent.len(), 1);
    let hop_by_hop = ["connection", "keep-alive", "x-hop-secret"];
    let expected: Vec<(String, String)> = sent[0]
        .headers
        .iter()
        .filter(|(k, _)| !hop_by_hop.contains(&k.as_str()))
        .cloned()
        .collect();
    assert_eq!(expected.len(), 14, "{expected:?}");
    let names: Vec<String> = expected.iter().map(|(k, _)| k.clone()).collect();

    let hit = wire_get(&p, &url, &[]).await;
    assert_eq!(o.requests(), 1, "the second request is a hit");
    for (what, r) in [("MISS", &miss), ("HIT", &hit)] {
        assert_eq!(r.status, 200, "{what}");
        assert_eq!(r.body, body, "{what}: body");
        assert_eq!(
            r.lines_named(&names),
            expected,
            "{what}: the origin's fields, same values, same lines, same order"
        );
        assert_eq!(r.header("x-cache"), what);
        assert!(
            r.all("x-hop-secret").is_empty(),
            "{what}: field named in Connection"
        );
        assert!(r.all("keep-alive").is_empty(), "{what}: Keep-Alive");
        for c in r.all("connection") {
            assert!(
                !c.to_ascii_lowercase().contains("x-hop-secret"),
                "{what}: the origin's Connection is not replayed: {c}"
            );
        }
        assert_eq!(
            via_entries(&r.all("via").join(", ")),
            vec!["1.1 P".to_string()],
            "{what}: Via names the partner"
        );
    }
    let age: u64 = hit.header("age").parse().expect("Age on a hit");
    assert!(age <= 2, "Age {age}");
}

/// RFC 9111 §5.1, §4.2.3: a hit carries `Age`, an integer that grows with the time the copy
/// has been held.
#[tokio::test]
async fn rfc9111_5_1_age_on_hits_is_delta_seconds_and_grows() {
    let o = PlainOrigin::start().await;
    let url = o.always(
        "/age",
        Reply::ok(data(2000, 22))
            .headers(&[("date", &now_date()), ("cache-control", "max-age=600")]),
    );
    let p = partner(&o).await;
    assert_eq!(fetch(&p, &url, &[]).await.header("x-cache"), "MISS");
    let h1 = get(&p.via(&url), &[]).await;
    assert_eq!(h1.header("x-cache"), "HIT");
    let a1 = age(&h1);
    assert!(a1 <= 2, "a fresh copy: Age {a1}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let h2 = get(&p.via(&url), &[]).await;
    assert_eq!(h2.header("x-cache"), "HIT");
    let a2 = age(&h2);
    assert!(a2 > a1 && a2 <= a1 + 3, "Age grows: {a1} then {a2}");
    assert_eq!(o.requests(), 1);
}

// ---------------------------------------------------------------------------------------
// Statuses (RFC 9110 §15, RFC 9111 §3)
// ---------------------------------------------------------------------------------------

/// RFC 9110 §15 / RFC 9111 §3: an intermediary passes the origin's status, header fields
/// and body on: 404, 410, 301 with its Location, 500, 503 with Retry-After (not a 502 or
/// a JSON body of ours).
#[tokio::test]
async fn rfc9110_15_error_and_redirect_statuses_passed_through_with_origin_body() {
    let o = PlainOrigin::start().await;
    let elsewhere = o.url("/new-place");
    /// Status, path, extra header lines, body.
    type Case<'a> = (u16, &'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            404,
            "/s404",
            vec![("x-origin", "o404")],
            "<h1>no such file here</h1>",
        ),
        (
            410,
            "/s410",
            vec![("x-origin", "o410")],
            "this file is gone for good",
        ),
        (
            301,
            "/s301",
            vec![("location", elsewhere.as_str()), ("x-origin", "o301")],
            "moved to /new-place",
        ),
        (500, "/s500", vec![("x-origin", "o500")], "origin exploded"),
        (
            503,
            "/s503",
            vec![("retry-after", "120"), ("x-origin", "o503")],
            "overloaded, try later",
        ),
    ];
    let p = partner(&o).await;
    for (status, path, headers, text) in &cases {
        let url = o.always(
            path,
            Reply::status(*status, text.to_string())
                .header("content-type", "text/html; charset=utf-8")
                .headers(headers),
        );
        let r = fetch(&p, &url, &[]).await;
        assert_eq!(r.status.as_u16(), *status, "{path}");
        assert_eq!(
            r.bytes().as_ref(),
            text.as_bytes(),
            "{path}: the origin's body"
        );
        assert_eq!(
            r.header("content-type"),
            "text/html; charset=utf-8",
            "{path}"
        );
        assert_eq!(r.header("content-length"), text.len().to_string(), "{path}");
        for (k, v) in headers {
            assert_eq!(all(&r, k), vec![*v], "{path}: {k}");
        }
    }
    assert_eq!(o.requests(), cases.len());
}

/// RFC 9111 §3 (a 404 is cacheable, RFC 9110 §15.5.5) with explicit freshness: stored and
/// served again without the origin; a purge from the owner drops it like any copy.
#[tokio::test]
async fn rfc9111_3_404_with_max_age_is_cached_and_dropped_by_purge() {
    let o = PlainOrigin::start().await;
    let text = "<h1>not here</h1>";
    let url = o.always(
        "/nf",
        Reply::status(404, text)
            .header("content-type", "text/html")
            .header("cache-control", "max-age=60"),
    );
    let p = partner(&o).await;
    let first = fetch(&p, &url, &[]).await;
    assert_eq!(first.status, StatusCode::NOT_FOUND);
    assert_eq!(first.bytes().as_ref(), text.as_bytes());
    let second = get(&p.via(&url), &[]).await;
    assert_eq!(second.status, StatusCode::NOT_FOUND);
    assert_eq!(second.bytes().as_ref(), text.as_bytes());
    assert_eq!(second.header("content-type"), "text/html");
    assert_eq!(second.header("cache-control"), "max-age=60");
    assert_eq!(second.header("x-cache"), "HIT");
    assert_eq!(o.requests(), 1, "the stored 404 answered");

    let purge = request(
        Method::DELETE,
        &p.via(&url),
        &[("authorization", &format!("Bearer {PLAIN_CRED}"))],
        Bytes::new(),
    )
    .await;
    assert_eq!(purge.status, StatusCode::OK);
    assert_eq!(purge.json()["purged"], true);
    let third = fetch(&p, &url, &[]).await;
    assert_eq!(third.status, StatusCode::NOT_FOUND);
    assert_eq!(o.requests(), 2, "after the purge the origin is asked again");
}

/// RFC 9111 §3 and §4.2.2: a 500 is not heuristically cacheable; without explicit
/// freshness it is not stored.
#[tokio::test]
async fn rfc9111_3_500_without_freshness_is_not_cached() {
    let o = PlainOrigin::start().await;
    let url = o.always(
        "/boom",
        Reply::status(500, "internal trouble")
            .header("content-type", "text/plain")
            .header("last-modified", &date_ago(10 * 86400)),
    );
    let p = partner(&o).await;
    for n in 1..=2 {
        let r = fetch(&p, &url, &[]).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.bytes().as_ref(), b"internal trouble");
        assert_eq!(o.requests(), n);
    }
}

// ---------------------------------------------------------------------------------------
// Freshness without explicit expiry (RFC 9111 §4.2.2)
// ---------------------------------------------------------------------------------------

/// RFC 9111 §4.2.2: a 200 with only `Last-Modified` (10 days before `Date`) gets a
/// heuristic lifetime and is served from the cache.
#[tokio::test]
async fn rfc9111_4_2_2_heuristic_freshness_from_last_modified_is_kept() {
    let o = PlainOrigin::start().await;
    let body = data(3000, 23);
    let url = o.always(
        "/heur",
        Reply::ok(body.clone()).headers(&[
            ("date", &now_date()),
            ("last-modified", &date_ago(10 * 86400)),
            ("content-type", "application/octet-stream"),
        ]),
    );
    let p = partner(&o).await;
    let r1 = fetch(&p, &url, &[]).await;
    assert_eq!(r1.header("x-cache"), "MISS");
    let r2 = get(&p.via(&url), &[]).await;
    assert_eq!(r2.header("x-cache"), "HIT");
    assert_eq!(r2.bytes().as_ref(), body.as_slice());
    assert_eq!(o.requests(), 1);
}

/// RFC 9111 §4.2.2 / §3: no `Cache-Control`, no `Expires`, no `Last-Modified` (nothing to
/// base a heuristic on, no `public`): not kept, every request goes to the origin, and
/// `X-Cache: PASS` says so.
#[tokio::test]
async fn rfc9111_4_2_2_no_freshness_and_no_last_modified_is_not_kept() {
    let o = PlainOrigin::start().await;
    let body = data(3000, 24);
    let url = o.always(
        "/nofresh",
        Reply::ok(body.clone()).headers(&[
            ("date", &now_date()),
            ("content-type", "application/octet-stream"),
        ]),
    );
    let p = partner(&o).await;
    for n in 1..=2 {
        let r = fetch(&p, &url, &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.bytes().as_ref(), body.as_slice());
        assert_eq!(r.header("x-cache"), "PASS", "request {n}");
        assert_eq!(o.requests(), n);
    }
}

// ---------------------------------------------------------------------------------------
// Validation (RFC 9111 §4.3)
// ---------------------------------------------------------------------------------------

/// RFC 9111 §4.3.1, §4.3.3, §4.3.4 (with §3.2): a stale copy with an `ETag` is validated
/// with `If-None-Match`; the origin's 304 (no body) freshens it: the client gets 200 with
/// the stored body and the 304's updated fields, and the next request is a hit.
#[tokio::test]
async fn rfc9111_4_3_stale_copy_revalidated_with_if_none_match_and_304_freshens_it() {
    let o = PlainOrigin::start().await;
    let body = data(3000, 25);
    let url = o.validating(
        "/etag",
        Reply::ok(body.clone()).headers(&[
            ("content-type", "application/octet-stream"),
            ("etag", "\"v1\""),
            ("cache-control", "max-age=1"),
        ]),
        &[
            ("etag", "\"v1\""),
            ("cache-control", "max-age=60"),
            ("x-refreshed", "1"),
        ],
    );
    let p = partner(&o).await;
    let r1 = fetch(&p, &url, &[]).await;
    assert_eq!(r1.header("x-cache"), "MISS");
    assert!(!o.seen()[0].is_conditional(), "a fill is unconditional");
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let r2 = fetch(&p, &url, &[]).await;
    assert_eq!(o.requests(), 2, "the stale copy is validated");
    let seen = &o.seen()[1];
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.header("if-none-match"), Some("\"v1\""));
    let sent = &o.sent()[1];
    assert_eq!(
        (sent.status, sent.body_len),
        (304, 0),
        "no body the second time"
    );
    assert_eq!(r2.status, StatusCode::OK);
    assert_eq!(r2.bytes().as_ref(), body.as_slice(), "the stored body");
    assert_eq!(r2.header("x-refreshed"), "1", "field from the 304");
    assert_eq!(
        r2.header("cache-control"),
        "max-age=60",
        "updated by the 304"
    );
    assert_eq!(r2.header("etag"), "\"v1\"");
    assert_eq!(r2.header("content-type"), "application/octet-stream");
    assert_served_from_copy(&r2);

    let r3 = get(&p.via(&url), &[]).await;
    assert_eq!(r3.header("x-cache"), "HIT");
    assert_eq!(r3.bytes().as_ref(), body.as_slice());
    assert_eq!(r3.header("x-refreshed"), "1");
    assert_eq!(r3.header("cache-control"), "max-age=60");
    assert_eq!(o.requests(), 2, "freshened by the 304: a hit");
}

/// RFC 9111 §4.3.1: a stale copy with only `Last-Modified` is validated with
/// `If-Modified-Since: <that Last-Modified>`, and the 304 freshens it.
#[tokio::test]
async fn rfc9111_4_3_1_stale_copy_revalidated_with_if_modified_since() {
    let o = PlainOrigin::start().await;
    let body = data(3000, 26);
    let lm = date_ago(2 * 86400);
    let url = o.validating(
        "/lm",
        Reply::ok(body.clone()).headers(&[
            ("content-type", "application/octet-stream"),
            ("last-modified", &lm),
            ("cache-control", "max-age=1"),
        ]),
        &[("cache-control", "max-age=60"), ("x-refreshed", "1")],
    );
    let p = partner(&o).await;
    assert_eq!(fetch(&p, &url, &[]).await.header("x-cache"), "MISS");
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let r2 = fetch(&p, &url, &[]).await;
    assert_eq!(o.requests(), 2);
    let seen = &o.seen()[1];
    assert_eq!(seen.header("if-modified-since"), Some(lm.as_str()));
    assert!(!seen.has("if-none-match"), "no ETag was stored to send");
    assert_eq!((o.sent()[1].status, o.sent()[1].body_len), (304, 0));
    assert_eq!(r2.status, StatusCode::OK);
    assert_eq!(r2.bytes().as_ref(), body.as_slice());
    assert_eq!(r2.header("x-refreshed"), "1");
    assert_eq!(r2.header("cache-control"), "max-age=60");
    assert_eq!(r2.header("last-modified"), lm);
    assert_served_from_copy(&r2);

    let r3 = get(&p.via(&url), &[]).await;
    assert_eq!(r3.header("x-cache"), "HIT");
    assert_eq!(r3.header("x-refreshed"), "1");
    assert_eq!(o.requests(), 2);
}

/// RFC 9111 §4.3.3: a full 200 answer to the validation request replaces the stored copy.
#[tokio::test]
async fn rfc9111_4_3_3_full_200_to_revalidation_replaces_the_copy() {
    let o = PlainOrigin::start().await;
    let (old, new) = (data(3000, 27), data(2500, 28));
    let url = o.script(
        "/replace",
        vec![
            Reply::ok(old.clone()).headers(&[("etag", "\"v1\""), ("cache-control", "max-age=1")]),
            Reply::ok(new.clone()).headers(&[("etag", "\"v2\""), ("cache-control", "max-age=60")]),
        ],
    );
    let p = partner(&o).await;
    assert_eq!(fetch(&p, &url, &[]).await.bytes().as_ref(), old.as_slice());
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let r2 = fetch(&p, &url, &[]).await;
    assert_eq!(o.requests(), 2);
    assert_eq!(o.seen()[1].header("if-none-match"), Some("\"v1\""));
    assert_eq!(r2.status, StatusCode::OK);
    assert_eq!(
        r2.bytes().as_ref(),
        new.as_slice(),
        "the new representation"
    );
    assert_eq!(r2.header("etag"), "\"v2\"");

    let r3 = get(&p.via(&url), &[]).await;
    assert_eq!(r3.header("x-cache"), "HIT");
    assert_eq!(r3.bytes().as_ref(), new.as_slice());
    assert_eq!(r3.header("etag"), "\"v2\"");
    assert_eq!(r3.header("content-length"), "2500");
    assert_eq!(o.requests(), 2, "the replacement is stored");
}

// ---------------------------------------------------------------------------------------
// Request directives (RFC 9111 §5.2.1)
// ---------------------------------------------------------------------------------------

/// A fresh copy (max-age=60, ETag "c1") is filled, then a request with `request_cc` must
/// make the partner validate it (If-None-Match: "c1"); the 304 keeps it, and the next
/// plain request is a hit.
async fn request_directive_forces_validation(request_cc: &str) {
    let o = PlainOrigin::start().await;
    let body = data(3000, 29);
    let url = o.validating(
        "/fresh",
        Reply::ok(body.clone()).headers(&[("etag", "\"c1\""), ("cache-control", "max-age=60")]),
        &[("etag", "\"c1\""), ("cache-control", "max-age=60")],
    );
    let p = partner(&o).await;
    assert_eq!(fetch(&p, &url, &[]).await.header("x-cache"), "MISS");
    assert_eq!(get(&p.via(&url), &[]).await.header("x-cache"), "HIT");
    assert_eq!(o.requests(), 1);

    let r = fetch(&p, &url, &[("cache-control", request_cc)]).await;
    assert_eq!(o.requests(), 2, "{request_cc}: the origin is asked");
    assert_eq!(
        o.seen()[1].header("if-none-match"),
        Some("\"c1\""),
        "{request_cc}: a conditional request"
    );
    assert_eq!(o.sent()[1].status, 304);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes().as_ref(), body.as_slice());
    assert_served_from_copy(&r);

    let r = get(&p.via(&url), &[]).await;
    assert_eq!(r.header("x-cache"), "HIT");
    assert_eq!(o.requests(), 2, "{request_cc}: the copy is still fresh");
}

/// RFC 9111 §5.2.1.4: request `no-cache` means: do not use a copy without validating it.
#[tokio::test]
async fn rfc9111_5_2_1_4_request_no_cache_forces_revalidation() {
    request_directive_forces_validation("no-cache").await;
}

/// RFC 9111 §5.2.1.1: request `max-age=0`: the copy is older than the client accepts.
#[tokio::test]
async fn rfc9111_5_2_1_1_request_max_age_0_forces_revalidation() {
    request_directive_forces_validation("max-age=0").await;
}

/// RFC 9111 §5.2.1.3: request `min-fresh=3600` on a copy with max-age=60.
#[tokio::test]
async fn rfc9111_5_2_1_3_request_min_fresh_beyond_lifetime_forces_revalidation() {
    request_directive_forces_validation("min-fresh=3600").await;
}

/// RFC 9111 §5.2.1.7: `only-if-cached` without a stored copy is 504, and the origin is not
/// contacted.
#[tokio::test]
async fn rfc9111_5_2_1_7_only_if_cached_without_copy_is_504() {
    let o = PlainOrigin::start().await;
    let url = o.always(
        "/absent",
        Reply::ok(data(1000, 30)).header("cache-control", "max-age=60"),
    );
    let p = partner(&o).await;
    let r = fetch(&p, &url, &[("cache-control", "only-if-cached")]).await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(o.requests(), 0);
}

/// RFC 9111 §5.2.1.7: `only-if-cached` with a fresh stored copy is served from it.
#[tokio::test]
async fn rfc9111_5_2_1_7_only_if_cached_with_copy_is_served_from_it() {
    let o = PlainOrigin::start().await;
    let body = data(1000, 31);
    let url = o.always(
        "/present",
        Reply::ok(body.clone()).header("cache-control", "max-age=60"),
    );
    let p = partner(&o).await;
    assert_eq!(fetch(&p, &url, &[]).await.header("x-cache"), "MISS");
    let r = get(&p.via(&url), &[("cache-control", "only-if-cached")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes().as_ref(), body.as_slice());
    assert_eq!(r.header("x-cache"), "HIT");
    assert_eq!(o.requests(), 1);
}

/// RFC 9111 §5.2.1.2 and §4.2.4: `max-stale` lets a stale copy be served without the
/// origin; a plain request still validates it.
#[tokio::test]
async fn rfc9111_5_2_1_2_max_stale_serves_stale_copy_without_origin() {
    let o = PlainOrigin::start().await;
    let body = data(3000, 32);
    let url = o.validating(
        "/stale",
        Reply::ok(body.clone()).headers(&[
            ("date", &now_date()),
            ("etag", "\"s1\""),
            ("cache-control", "max-age=1"),
        ]),
        &[("etag", "\"s1\""), ("cache-control", "max-age=1")],
    );
    let p = partner(&o).await;
    assert_eq!(fetch(&p, &url, &[]).await.header("x-cache"), "MISS");
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let r = get(&p.via(&url), &[("cache-control", "max-stale=600")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes().as_ref(), body.as_slice());
    assert_eq!(r.header("x-cache"), "HIT");
    assert!(age(&r) >= 2, "the stale copy's Age shows it");
    assert_eq!(o.requests(), 1, "max-stale: served stale");

    let r = fetch(&p, &url, &[]).await;
    assert_eq!(r.bytes().as_ref(), body.as_slice());
    assert_eq!(
        o.requests(),
        2,
        "without max-stale the stale copy is validated"
    );
    assert_eq!(o.seen()[1].header("if-none-match"), Some("\"s1\""));
}

/// RFC 9111 §5.2.1.5: a request with `no-store`: its response is not stored.
#[tokio::test]
async fn rfc9111_5_2_1_5_request_no_store_response_not_stored() {
    let o = PlainOrigin::start().await;
    let body = data(3000, 33);
    let url = o.always(
        "/rns",
        Reply::ok(body.clone()).header("cache-control", "max-age=60"),
    );
    let p = partner(&o).await;
    let r = fetch(&p, &url, &[("cache-control", "no-store")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes().as_ref(), body.as_slice());
    assert_ne!(r.header("x-cache"), "HIT");
    assert_eq!(o.requests(), 1);

    let r = fetch(&p, &url, &[]).await;
    assert_eq!(r.header("x-cache"), "MISS", "nothing was stored");
    assert_eq!(o.requests(), 2);
    let r = get(&p.via(&url), &[]).await;
    assert_eq!(r.header("x-cache"), "HIT", "a plain request stores it");
    assert_eq!(o.requests(), 2);
}

// ---------------------------------------------------------------------------------------
// Response directives (RFC 9111 §5.2.2, §5.2.3)
// ---------------------------------------------------------------------------------------

/// RFC 9111 §5.2.2.5: response `no-store` (even with max-age and an ETag) is not stored;
/// the second request is a plain fetch, not a validation, and the field reaches the
/// client as sent.
#[tokio::test]
async fn rfc9111_5_2_2_5_response_no_store_not_stored() {
    let o = PlainOrigin::start().await;
    let body = data(3000, 34);
    let url = o.validating(
        "/ns",
        Reply::ok(body.clone()).headers(&[
            ("etag", "\"ns1\""),
            ("cache-control", "no-store, max-age=60"),
        ]),
        &[("etag", "\"ns1\"")],
    );
    let p = partner(&o).await;
    for n in 1..=2 {
        let r = fetch(&p, &url, &[]).await;
        assert_eq!(r.bytes().as_ref(), body.as_slice());
        assert_eq!(r.header("x-cache"), "PASS");
        assert_eq!(r.header("cache-control"), "no-store, max-age=60");
        assert_eq!(o.requests(), n);
    }
    assert!(!o.seen()[1].is_conditional(), "nothing stored to validate");
}

/// RFC 9111 §5.2.2.7: response `private` is not stored by a shared cache, and reaches the
/// client as sent (a private cache may still keep it).
#[tokio::test]
async fn rfc9111_5_2_2_7_response_private_not_stored() {
    let o = PlainOrigin::start().await;
    let body = data(3000, 35);
    let url = o.always(
        "/priv",
        Reply::ok(body.clone())
            .headers(&[("etag", "\"p1\""), ("cache-control", "private, max-age=60")]),
    );
    let p = partner(&o).await;
    for n in 1..=2 {
        let r = fetch(&p, &url, &[]).await;
        assert_eq!(r.bytes().as_ref(), body.as_slice());
        assert_eq!(r.header("x-cache"), "PASS");
        assert_eq!(r.header("cache-control"), "private, max-age=60");
        assert_eq!(o.requests(), n);
    }
    assert!(!o.seen()[1].is_conditional());
}

/// RFC 9111 §5.2.2.4: response `no-cache` may be stored but is validated before every use.
#[tokio::test]
async fn rfc9111_5_2_2_4_response_no_cache_stored_and_validated_every_time() {
    let o = PlainOrigin::start().await;
    let body = data(3000, 36);
    let url = o.validating(
        "/nc",
        Reply::ok(body.clone()).headers(&[("etag", "\"n1\""), ("cache-control", "no-cache")]),
        &[("etag", "\"n1\""), ("cache-control", "no-cache")],
    );
    let p = partner(&o).await;
    let r = fetch(&p, &url, &[]).await;
    assert_eq!(r.header("x-cache"), "MISS");
    assert_eq!(r.header("cache-control"), "no-cache");
    for n in 2..=3 {
        let r = fetch(&p, &url, &[]).await;
        assert_eq!(o.requests(), n);
        assert_eq!(o.seen()[n - 1].header("if-none-match"), Some("\"n1\""));
        assert_eq!((o.sent()[n - 1].status, o.sent()[n - 1].body_len), (304, 0));
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.bytes().as_ref(), body.as_slice(), "from the stored copy");
        assert_eq!(r.header("cache-control"), "no-cache");
        assert_served_from_copy(&r);
    }
}

/// RFC 9111 §5.2.2.10: `s-maxage` overrides `max-age` for a shared cache, both ways.
#[tokio::test]
async fn rfc9111_5_2_2_10_s_maxage_overrides_max_age() {
    let o = PlainOrigin::start().await;
    let (ba, bb) = (data(2000, 37), data(2000, 38));
    let longer = o.always(
        "/s-long",
        Reply::ok(ba.clone()).header("cache-control", "max-age=1, s-maxage=60"),
    );
    let shorter = o.validating(
        "/s-short",
        Reply::ok(bb.clone()).headers(&[
            ("etag", "\"ss\""),
            ("cache-control", "max-age=60, s-maxage=1"),
        ]),
        &[
            ("etag", "\"ss\""),
            ("cache-control", "max-age=60, s-maxage=1"),
        ],
    );
    let p = partner(&o).await;
    fetch(&p, &longer, &[]).await;
    fetch(&p, &shorter, &[]).await;
    assert_eq!(o.requests(), 2);
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let r = get(&p.via(&longer), &[]).await;
    assert_eq!(r.header("x-cache"), "HIT", "s-maxage=60 beats max-age=1");
    assert_eq!(r.bytes().as_ref(), ba.as_slice());
    assert_eq!(o.requests_to("/s-long"), 1);

    let r = fetch(&p, &shorter, &[]).await;
    assert_eq!(r.bytes().as_ref(), bb.as_slice());
    assert_eq!(o.requests_to("/s-short"), 2, "s-maxage=1 beats max-age=60");
    assert_eq!(
        o.seen_at("/s-short")[1].header("if-none-match"),
        Some("\"ss\"")
    );
}

/// RFC 9111 §5.2.2.2: `must-revalidate`: once stale, the copy is not served without
/// validation, even to a request that allows `max-stale`.
#[tokio::test]
async fn rfc9111_5_2_2_2_must_revalidate_ignores_request_max_stale() {
    let o = PlainOrigin::start().await;
    let body = data(3000, 39);
    let url = o.validating(
        "/mr",
        Reply::ok(body.clone()).headers(&[
            ("etag", "\"mr1\""),
            ("cache-control", "max-age=1, must-revalidate"),
        ]),
        &[
            ("etag", "\"mr1\""),
            ("cache-control", "max-age=1, must-revalidate"),
        ],
    );
    let p = partner(&o).await;
    assert_eq!(fetch(&p, &url, &[]).await.header("x-cache"), "MISS");
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let r = fetch(&p, &url, &[("cache-control", "max-stale=600")]).await;
    assert_eq!(o.requests(), 2, "must-revalidate beats max-stale");
    assert_eq!(o.seen()[1].header("if-none-match"), Some("\"mr1\""));
    assert_eq!(o.sent()[1].status, 304);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes().as_ref(), body.as_slice());
}

/// RFC 9111 §5.2.2.9, §3, §4.2.2: `public` alone makes the response storable, with a
/// heuristic lifetime, even without `Last-Modified`.
#[tokio::test]
async fn rfc9111_5_2_2_9_public_without_other_freshness_is_stored() {
    let o = PlainOrigin::start().await;
    let body = data(3000, 40);
    let url = o.always(
        "/pub",
        Reply::ok(body.clone()).headers(&[("date", &now_date()), ("cache-control", "public")]),
    );
    let p = partner(&o).await;
    assert_eq!(fetch(&p, &url, &[]).await.header("x-cache"), "MISS");
    let r = get(&p.via(&url), &[]).await;
    assert_eq!(r.header("x-cache"), "HIT");
    assert_eq!(r.bytes().as_ref(), body.as_slice());
    assert_eq!(r.header("cache-control"), "public");
    assert_eq!(o.requests(), 1);
}

/// RFC 9111 §5.2.3: unknown directives are ignored: `foo=bar, max-age=60` is cached for
/// 60 s, and the field reaches the client as sent.
#[tokio::test]
async fn rfc9111_5_2_3_unknown_directive_ignored() {
    let o = PlainOrigin::start().await;
    let body = data(3000, 41);
    let url = o.always(
        "/ext",
        Reply::ok(body.clone()).header("cache-control", "foo=bar, max-age=60"),
    );
    let p = partner(&o).await;
    let r1 = fetch(&p, &url, &[]).await;
    assert_eq!(r1.header("x-cache"), "MISS");
    assert_eq!(r1.header("cache-control"), "foo=bar, max-age=60");
    let r2 = get(&p.via(&url), &[]).await;
    assert_eq!(r2.header("x-cache"), "HIT");
    assert_eq!(r2.header("cache-control"), "foo=bar, max-age=60");
    assert_eq!(r2.bytes().as_ref(), body.as_slice());
    assert_eq!(o.requests(), 1);
}

// ---------------------------------------------------------------------------------------
// Vary (RFC 9111 §4.1)
// ---------------------------------------------------------------------------------------

/// RFC 9111 §4.1: `Vary: Accept-Language`: one stored response per language, each served
/// only to requests with that language; the origin sees the client's Accept-Language.
#[tokio::test]
async fn rfc9111_4_1_vary_accept_language_one_copy_per_language() {
    let o = PlainOrigin::start().await;
    let reply = |text: &'static str, lang: &str| {
        Reply::ok(text).headers(&[
            ("content-type", "text/plain"),
            ("content-language", lang),
            ("vary", "Accept-Language"),
            ("cache-control", "max-age=60"),
        ])
    };
    let url = o.varying(
        "/greeting",
        "accept-language",
        vec![("en", reply("Hello", "en")), ("fr", reply("Bonjour", "fr"))],
        reply("Hi?", "und"),
    );
    let p = partner(&o).await;

    let en = fetch(&p, &url, &[("accept-language", "en")]).await;
    assert_eq!(en.bytes().as_ref(), b"Hello");
    assert_eq!(en.header("vary"), "Accept-Language");
    assert_eq!(o.seen()[0].header("accept-language"), Some("en"));

    let fr = fetch(&p, &url, &[("accept-language", "fr")]).await;
    assert_eq!(fr.bytes().as_ref(), b"Bonjour", "not the en copy");
    assert_eq!(fr.header("content-language"), "fr");
    assert_ne!(fr.header("x-cache"), "HIT");
    assert_eq!(o.requests(), 2);
    assert_eq!(o.seen()[1].header("accept-language"), Some("fr"));

    let en = get(&p.via(&url), &[("accept-language", "en")]).await;
    assert_eq!(en.header("x-cache"), "HIT");
    assert_eq!(en.bytes().as_ref(), b"Hello");
    assert_eq!(en.header("content-language"), "en");
    let fr = get(&p.via(&url), &[("accept-language", "fr")]).await;
    assert_eq!(fr.header("x-cache"), "HIT");
    assert_eq!(fr.bytes().as_ref(), b"Bonjour");
    assert_eq!(o.requests(), 2, "both variants are stored");
}

/// RFC 9111 §4.1: `Vary: *` always fails to match: never served from the cache.
#[tokio::test]
async fn rfc9111_4_1_vary_star_never_served_from_cache() {
    let o = PlainOrigin::start().await;
    let body = data(2000, 42);
    let url = o.always(
        "/star",
        Reply::ok(body.clone()).headers(&[("vary", "*"), ("cache-control", "max-age=60")]),
    );
    let p = partner(&o).await;
    for n in 1..=3 {
        let r = fetch(&p, &url, &[]).await;
        assert_eq!(r.bytes().as_ref(), body.as_slice());
        assert_eq!(r.header("vary"), "*");
        assert_ne!(r.header("x-cache"), "HIT");
        assert_eq!(o.requests(), n);
    }
}

// ---------------------------------------------------------------------------------------
// Forwarding (RFC 9110 §7.6, §11.6.2, §11.7.2)
// ---------------------------------------------------------------------------------------

/// RFC 9110 §7.6: the fill carries the client's end-to-end fields (Accept,
/// Accept-Language, User-Agent, X-Custom) and a `Via` with the partner appended to the
/// client's (§7.6.3); not the hop-by-hop ones (§7.6.1: Connection and the fields it names),
/// not the client's credentials (its user token in Authorization, Proxy-Authorization
/// §11.7.2, Cookie) but the partner's own agreement credential.
#[tokio::test]
async fn rfc9110_7_6_fill_forwards_end_to_end_fields_not_hop_by_hop_or_credentials() {
    let o = PlainOrigin::start().await;
    let body = data(2000, 43);
    let url = o.always(
        "/fwd",
        Reply::ok(body.clone()).header("cache-control", "max-age=60"),
    );
    let p = partner_of_plain(&o, |c| c.users.push(user("u1", "user-token-1234"))).await;
    let r = fetch(
        &p,
        &url,
        &[
            ("accept", "text/plain, application/octet-stream;q=0.5"),
            ("accept-language", "de-CH, de;q=0.8"),
            ("user-agent", "field-terminal/2.1"),
            ("x-custom", "abc"),
            ("via", "1.0 edge"),
            ("authorization", "Bearer user-token-1234"),
            ("cookie", "session=s3cr3t"),
            ("proxy-authorization", "Basic cHJveHk6cGFzcw=="),
            ("connection", "x-secret-hop"),
            ("x-secret-hop", "only-for-the-partner"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes().as_ref(), body.as_slice());
    assert_eq!(o.requests(), 1);
    let seen = o.last();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.target, "/fwd");
    assert_eq!(
        seen.all("accept"),
        vec!["text/plain, application/octet-stream;q=0.5"]
    );
    assert_eq!(seen.all("accept-language"), vec!["de-CH, de;q=0.8"]);
    assert_eq!(seen.all("user-agent"), vec!["field-terminal/2.1"]);
    assert_eq!(seen.all("x-custom"), vec!["abc"]);
    assert_eq!(
        via_of(&seen.all("via")),
        vec!["1.0 edge".to_string(), "1.1 P".to_string()],
        "the partner appends itself to Via"
    );
    assert_eq!(
        seen.all("authorization"),
        vec![format!("Bearer {PLAIN_CRED}")],
        "the agreement credential, never the client's token"
    );
    assert!(!seen.has("cookie"), "{:?}", seen.headers);
    assert!(!seen.has("proxy-authorization"), "{:?}", seen.headers);
    assert!(!seen.has("x-secret-hop"), "{:?}", seen.headers);
    for c in seen.all("connection") {
        assert!(!c.to_ascii_lowercase().contains("x-secret-hop"), "{c}");
    }
}

/// RFC 9111 §4 / §3.4: a fill fetches the whole representation to store it: the client's
/// `Range` and its own validators (`If-None-Match`) are answered by the partner, not sent
/// on; the fill is stored.
#[tokio::test]
async fn rfc9111_4_fill_does_not_forward_client_range_or_validators() {
    let o = PlainOrigin::start().await;
    let body = data(3000, 44);
    let url = o.always(
        "/whole",
        Reply::ok(body.clone()).headers(&[("etag", "\"w1\""), ("cache-control", "max-age=60")]),
    );
    let p = partner(&o).await;
    let r = fetch(
        &p,
        &url,
        &[("range", "bytes=0-9"), ("if-none-match", "\"other\"")],
    )
    .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header("content-range"), "bytes 0-9/3000");
    assert_eq!(r.bytes().as_ref(), &body[..10]);
    assert_eq!(o.requests(), 1);
    let seen = o.last();
    for h in [
        "range",
        "if-range",
        "if-none-match",
        "if-modified-since",
        "if-match",
        "if-unmodified-since",
    ] {
        assert!(!seen.has(h), "{h} sent on a fill: {:?}", seen.headers);
    }
    assert_eq!((o.sent()[0].status, o.sent()[0].body_len), (200, 3000));

    let r = get(&p.via(&url), &[]).await;
    assert_eq!(r.header("x-cache"), "HIT");
    assert_eq!(r.bytes().as_ref(), body.as_slice());
    assert_eq!(o.requests(), 1);
}

// ---------------------------------------------------------------------------------------
// HEAD (RFC 9110 §9.3.2)
// ---------------------------------------------------------------------------------------

/// RFC 9110 §9.3.2 (and RFC 9111 §4): a HEAD on a miss is forwarded as HEAD (no body is
/// fetched) with the origin's header fields; a later GET is an ordinary fill, then a hit.
#[tokio::test]
async fn rfc9110_9_3_2_head_on_miss_forwarded_as_head_then_get_fills() {
    let o = PlainOrigin::start().await;
    let body = data(3000, 45);
    let url = o.always(
        "/head",
        Reply::ok(body.clone()).headers(&[
            ("content-type", "application/pdf"),
            ("x-foo", "bar"),
            ("cache-control", "max-age=60"),
        ]),
    );
    let p = partner(&o).await;
    let h = request(Method::HEAD, &p.via(&url), &[], Bytes::new()).await;
    settle(&p).await;
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.header("content-length"), "3000");
    assert_eq!(h.header("content-type"), "application/pdf");
    assert_eq!(h.header("x-foo"), "bar");
    assert!(h.bytes().is_empty());
    let methods = |o: &PlainOrigin| {
        o.seen()
            .iter()
            .map(|s| s.method.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(methods(&o), vec!["HEAD"], "forwarded as HEAD, no GET");

    let g = fetch(&p, &url, &[]).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.bytes().as_ref(), body.as_slice());
    assert_eq!(g.header("x-foo"), "bar");
    assert_eq!(methods(&o), vec!["HEAD", "GET"]);

    let g = get(&p.via(&url), &[]).await;
    assert_eq!(g.header("x-cache"), "HIT");
    assert_eq!(g.bytes().as_ref(), body.as_slice());
    assert_eq!(o.requests(), 2);
}

// ---------------------------------------------------------------------------------------
// Added with the implementation
// ---------------------------------------------------------------------------------------

/// RFC 9111 §4.3 (and §4: one fill per key): twenty clients that find the same stale copy
/// cost the primary one conditional request, answered once with a 304 for all of them;
/// `mcdata_cache_revalidations_total` and `X-Cache: REVALIDATED` say so.
#[tokio::test]
async fn rfc9111_4_3_a_herd_on_a_stale_copy_costs_one_conditional_request() {
    let o = PlainOrigin::start().await;
    let body = data(50_000, 51);
    let full =
        Reply::ok(body.clone()).headers(&[("etag", "\"h1\""), ("cache-control", "max-age=1")]);
    let not_modified = Reply::not_modified(&[("etag", "\"h1\""), ("cache-control", "max-age=60")])
        .delayed(Duration::from_millis(300));
    let url = o.on("/herd", crate::plain_origin::validating(full, not_modified));
    let p = partner(&o).await;
    assert_eq!(fetch(&p, &url, &[]).await.header("x-cache"), "MISS");
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let mut tasks = Vec::new();
    for _ in 0..20 {
        let target = p.via(&url);
        tasks.push(tokio::spawn(async move { get(&target, &[]).await }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.bytes().as_ref(), body.as_slice());
        assert_eq!(r.header("x-cache"), "REVALIDATED");
    }
    assert_eq!(o.requests(), 2, "one fill, one conditional request");
    assert!(o.seen()[1].is_conditional());
    assert_eq!(
        p.metric("mcdata_cache_revalidations_total{result=\"not_modified\"}"),
        1.0
    );
    assert_eq!(
        p.metric("mcdata_cache_requests_total{result=\"revalidated\"}"),
        20.0
    );
    assert_eq!(get(&p.via(&url), &[]).await.header("x-cache"), "HIT");
}

/// RFC 9111 §5.2.2.4 (and §3.1): `no-cache="x-secret"` lets the response be stored and
/// reused without validation, but never with the named field.
#[tokio::test]
async fn rfc9111_5_2_2_4_qualified_no_cache_drops_the_named_field_from_the_copy() {
    let o = PlainOrigin::start().await;
    let body = data(2000, 52);
    let url = o.always(
        "/qualified",
        Reply::ok(body.clone()).headers(&[
            ("cache-control", "max-age=60, no-cache=\"x-secret\""),
            ("x-secret", "per-user"),
            ("x-public", "shared"),
        ]),
    );
    let p = partner(&o).await;
    let miss = fetch(&p, &url, &[]).await;
    assert_eq!(miss.header("x-cache"), "MISS");
    let hit = get(&p.via(&url), &[]).await;
    assert_eq!(hit.header("x-cache"), "HIT");
    assert_eq!(hit.bytes().as_ref(), body.as_slice());
    assert_eq!(hit.header("x-public"), "shared");
    assert!(
        hit.headers.get("x-secret").is_none(),
        "the named field is not stored"
    );
    assert_eq!(o.requests(), 1);
}
