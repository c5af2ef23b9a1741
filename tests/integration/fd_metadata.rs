//! The metadata of an FD request the client sent without any: the primary MCData server
//! fills in what its content server says of the file (a `HEAD`), the file name and the
//! file availability included, and the FD SIGNALLING PAYLOAD that crosses to the partner
//! system carries them in its Metadata IE.
//!
//! TS 24.282 clause 15.1.3 (FD SIGNALLING PAYLOAD) carries the file's metadata in the
//! Metadata IE (IEI 0x79, TLV-E, coded as in clause 15.2); among its fields are the file
//! name and the file availability, how long the file can be downloaded (TS 23.282
//! 7.5.2.4.3 step 2: "metadata ... file availability"). The coding of the value is
//! `crate::codec::FileMetadata`'s (`name: ...`, `file-availability: ...` lines); the
//! availability filled in by the MCData server is the absolute end of the upload's
//! availability, RFC 3339 UTC to the second, so that it stays true however long the
//! request waits on the way.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mcdata::client::{EventStream, FdEvent, FileInfo, SendFd};
use mcdata::codec::{self, Message};
use mcdata::support::time::unix_now;

use crate::harness::*;

/// Non-ASCII, so that the content server names it in `filename*` (RFC 8187) only.
const NAME: &str = "Lagebild_Straße_7_화재.pdf";

/// An HTTP relay between two MCData servers that keeps every request body it forwards:
/// what went over the interconnect, byte for byte.
struct Tap {
    base: String,
    target: Arc<Mutex<String>>,
    bodies: Arc<Mutex<Vec<(String, Bytes)>>>,
}

impl Tap {
    async fn start() -> Tap {
        let listener = bind().await;
        let base = format!("http://{}", listener.local_addr().unwrap());
        let target = Arc::new(Mutex::new(String::new()));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (t, b) = (target.clone(), bodies.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (t, b) = (t.clone(), b.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| relay(t.clone(), b.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Tap {
            base,
            target,
            bodies,
        }
    }

    fn forward_to(&self, base: &str) {
        *self.target.lock().unwrap() = base.trim_end_matches('/').to_string();
    }

    /// The bodies relayed to `path`, in order.
    fn bodies_to(&self, path: &str) -> Vec<Bytes> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

async fn relay(
    target: Arc<Mutex<String>>,
    bodies: Arc<Mutex<Vec<(String, Bytes)>>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    bodies.lock().unwrap().push((path.clone(), body.clone()));
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "host" | "content-length"))
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let url = format!("{}{}", target.lock().unwrap(), path);
    let r = request(parts.method, &url, &headers, body).await;
    let mut resp = Response::builder().status(r.status);
    if let Some(ct) = r.headers.get(http::header::CONTENT_TYPE) {
        resp = resp.header(http::header::CONTENT_TYPE, ct);
    }
    Ok(resp.body(Full::new(r.body.unwrap_or_default())).unwrap())
}

async fn next(events: &mut EventStream) -> FdEvent {
    tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s")
        .expect("stream open")
        .expect("event decodes")
        .1
}

/// Unix seconds of an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SSZ` (days from civil, Howard
/// Hinnant's algorithm: the inverse of what the server computes, written independently).
fn rfc3339_secs(s: &str) -> u64 {
    assert_eq!(s.len(), 20, "{s:?} is not YYYY-MM-DDTHH:MM:SSZ");
    let b = s.as_bytes();
    assert!(
        b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':',
        "{s:?}"
    );
    assert_eq!(b[19], b'Z', "{s:?} is not UTC");
    let n = |r: std::ops::Range<usize>| -> i64 { s[r].parse().unwrap() };
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (hh, mm, ss) = (n(11..13), n(14..16), n(17..19));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).unwrap()
}

#[test]
fn rfc3339_reference_points() {
    assert_eq!(rfc3339_secs("1970-01-01T00:00:00Z"), 0);
    assert_eq!(rfc3339_secs("2000-02-29T12:00:00Z"), 951_825_600);
    assert_eq!(rfc3339_secs("2023-11-14T22:13:20Z"), 1_700_000_000);
}

/// Client 1 uploads a named file available for 2 h and sends FD requests without
/// metadata: client 2 in the partner system, and a user of its own system, get the name
/// and the end of the availability (to the second), and the binary FD SIGNALLING PAYLOAD
/// that went over the interconnect carries both in its Metadata IE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_metadata_carries_the_uploads_name_and_availability() {
    let tap = Tap::start().await;
    let tap_base = tap.base.clone();
    let t = crate::fd::two_systems(move |a| a.partners[0].mcdata_server = tap_base, |_| {}).await;
    tap.forward_to(t.b.fd.base());
    let mut bob_ev = t.bob.events(None).await.unwrap();
    let mut carol_ev = t.carol.events(None).await.unwrap();

    let before = unix_now();
    let up = t
        .alice
        .upload_bytes(
            Bytes::from(data(4096, 3)),
            NAME,
            "application/pdf",
            Some("2h"),
        )
        .await
        .unwrap();
    let after = unix_now();
    assert_eq!(up.file_name.as_deref(), Some(NAME));
    assert!(
        (before + 7200..=after + 7200).contains(&up.expires_at),
        "expires_at {} for an upload of 2 h between {before} and {after}",
        up.expires_at
    );
    // What the MCData server reads: the name only in filename* (RFC 8187), the end of
    // the availability in Expires.
    let head = request(
        Method::HEAD,
        &up.url,
        &[("authorization", "Bearer tok-alice-a")],
        Bytes::new(),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head
        .header("content-disposition")
        .contains("filename*=UTF-8''"));
    assert!(!head.header("expires").is_empty());

    // Across the interconnect, no metadata from the client.
    let sent = t
        .alice
        .send_fd(&SendFd::new("bob@b", &up.url))
        .await
        .unwrap();
    let FdEvent::Request(incoming) = next(&mut bob_ev).await else {
        panic!("expected an FD request")
    };
    assert_eq!(incoming.message_id, sent.message_id);
    assert_eq!(incoming.metadata.name.as_deref(), Some(NAME));
    let availability = incoming
        .metadata
        .availability
        .as_deref()
        .expect("the FD request names the file availability");
    assert_eq!(rfc3339_secs(availability), up.expires_at, "{availability}");
    assert_eq!(incoming.metadata.size, Some(4096));

    // The binary message A's MCData server sent B's (TS 24.282 clause 15.1.3).
    let wire = tap.bodies_to("/interconnect");
    assert_eq!(wire.len(), 1, "one FD message over the interconnect");
    let Message::Signalling(m) = codec::decode(&wire[0]).expect("a valid FD message") else {
        panic!("expected an FD SIGNALLING PAYLOAD")
    };
    assert_eq!(m.message_id, sent.message_id);
    assert_eq!(m.file_url(), Some(up.url.as_str()));
    let md = m.metadata.expect("the Metadata IE is present");
    assert_eq!(md.name.as_deref(), Some(NAME));
    assert_eq!(md.file_availability.as_deref(), Some(availability));
    assert_eq!(md.size, Some(4096));
    // The IE's text, as it is on the wire (UTF-8, one `key: value` line each).
    let text = String::from_utf8_lossy(&wire[0]).into_owned();
    assert!(text.contains(&format!("name: {NAME}\n")), "{text:?}");
    assert!(
        text.contains(&format!("file-availability: {availability}\n")),
        "{text:?}"
    );

    // Locally too: the same metadata for a user of the sender's own system.
    let local = t
        .alice
        .send_fd(&SendFd::new("carol@a", &up.url))
        .await
        .unwrap();
    let FdEvent::Request(at_carol) = next(&mut carol_ev).await else {
        panic!("expected an FD request")
    };
    assert_eq!(at_carol.message_id, local.message_id);
    assert_eq!(at_carol.metadata.name.as_deref(), Some(NAME));
    assert_eq!(
        at_carol.metadata.availability.as_deref(),
        Some(availability)
    );

    // What the client did say is kept as it said it; only what it left out is filled in.
    let mut own = SendFd::new("carol@a", &up.url);
    own.metadata = Some(FileInfo {
        name: Some("mine.pdf".into()),
        availability: Some("600".into()),
        ..FileInfo::default()
    });
    t.alice.send_fd(&own).await.unwrap();
    let FdEvent::Request(kept) = next(&mut carol_ev).await else {
        panic!("expected an FD request")
    };
    assert_eq!(kept.metadata.name.as_deref(), Some("mine.pdf"));
    assert_eq!(kept.metadata.availability.as_deref(), Some("600"));
    let mut named = SendFd::new("carol@a", &up.url);
    named.metadata = Some(FileInfo {
        name: Some("mine.pdf".into()),
        ..FileInfo::default()
    });
    t.alice.send_fd(&named).await.unwrap();
    let FdEvent::Request(filled) = next(&mut carol_ev).await else {
        panic!("expected an FD request")
    };
    assert_eq!(filled.metadata.name.as_deref(), Some("mine.pdf"));
    assert_eq!(filled.metadata.availability.as_deref(), Some(availability));
}
