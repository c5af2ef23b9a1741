//! Tests of [`super::McDataClient`] against small servers started in the test: request
//! shapes (paths, headers, JSON bodies), answers, refusals and transport failures.

use super::super::testserver::{serve, Reply};
use super::super::types::FileInfo;
use super::super::FdEvent;
use super::*;
use crate::http::body::BodyError;
use http::HeaderMap;
use http_body_util::StreamBody;
use std::sync::{Arc, Mutex};

/// What the fake server saw of one request.
#[derive(Debug, Clone, Default)]
struct Seen {
    line: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

async fn recording(
    answer: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    let answer = Arc::new(answer);
    let base = serve(move |req| {
        let log = log2.clone();
        let answer = answer.clone();
        async move {
            let line = format!("{} {}", req.method(), req.uri());
            let headers = req.headers().clone();
            let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
            let seen = Seen {
                line,
                headers,
                body,
            };
            let reply = answer(&seen);
            log.lock().unwrap().push(seen);
            reply
        }
    })
    .await;
    (base, log)
}

fn upload_answer(seen: &Seen) -> Reply {
    let name = crate::http::disposition::file_name_of(&seen.headers);
    Reply::json(
        201,
        &serde_json::json!({
            "id": "f1", "url": "http://c/files/f1", "size": seen.body.len(),
            "sha256": super::super::to_hex(&<sha2::Sha256 as sha2::Digest>::digest(&seen.body)),
            "content_type": seen.headers.get("content-type").and_then(|v| v.to_str().ok()),
            "file_name": name, "owner": "alice@a", "created_at": 1, "expires_at": 2,
            "expires": "Thu, 01 Jan 1970 00:00:02 GMT"
        })
        .to_string(),
    )
    .header("location", "http://c/files/f1")
}

#[test]
fn urls_are_joined_without_double_slashes() {
    assert_eq!(
        join("http://h:1/", "/fd/requests"),
        "http://h:1/fd/requests"
    );
    assert_eq!(join("http://h:1", "/files"), "http://h:1/files");
    let c = McDataClient::new("a@a", " t ", "http://f:9080//", " http://c:8080/ ");
    assert_eq!(c.fd_server(), "http://f:9080");
    assert_eq!(c.content_server(), "http://c:8080");
    assert_eq!(c.token, "t");
    assert!(!format!("{c:?}").contains("\"t\""));
}

#[tokio::test]
async fn other_schemes_and_garbage_urls_are_refused_before_connecting() {
    let c = McDataClient::new("a", "", "ftp://f", "not a url");
    let e = c.send_fd(&SendFd::new("b", "u")).await.unwrap_err();
    assert!(
        matches!(e, ClientError::InvalidUrl(ref t) if t.contains("ftp://f")),
        "{e}"
    );
    let e = c
        .upload_bytes(Bytes::new(), "x", "text/plain", None)
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::InvalidUrl(_)), "{e}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error() {
    // Bind then drop to get a port nobody listens on.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let c = McDataClient::new("a", "", &format!("http://{addr}"), "http://x");
    let e = c.report(Uuid::nil()).await.unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("cannot reach http://{addr}/fd/reports")),
        "{e}"
    );
    assert!(e.is_transient());
    assert!(!e.to_string().contains("client error"), "{e}");
}

#[tokio::test]
async fn upload_file_streams_the_file_with_its_headers() {
    let (base, log) = recording(upload_answer).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scène.JPG");
    let data: Vec<u8> = (0..700_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let c = McDataClient::new("alice@a", "tok-a", "http://unused", &base);
    let up = c.upload_file(&path, Some("1h")).await.unwrap();
    assert_eq!(up.size, 700_000);
    // The name in any script: an ASCII fallback and the exact name in `filename*`
    // (RFC 6266 §4.3, RFC 8187).
    assert_eq!(up.file_name.as_deref(), Some("scène.JPG"));
    assert_eq!(up.content_type, "image/jpeg");
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.line, "POST /files");
    assert_eq!(seen.body, data);
    let h = |k: &str| {
        seen.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    assert_eq!(h("authorization"), "Bearer tok-a");
    assert_eq!(h("content-length"), "700000");
    assert_eq!(h("x-mcdata-availability"), "1h");
    assert_eq!(
        h("content-disposition"),
        "attachment; filename=\"scene.JPG\"; filename*=UTF-8''sc%C3%A8ne.JPG"
    );
    assert!(seen.headers.get("x-mcdata-file-name").is_none());
    assert!(h("user-agent").starts_with("mcdata/"));

    let e = c
        .upload_file(&dir.path().join("missing"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClientError::Io(_)) && e.to_string().contains("missing"),
        "{e}"
    );
}

#[tokio::test]
async fn upload_refusals_keep_the_servers_reason() {
    let (base, _) = recording(|_| {
            Reply::json(
                413,
                r#"{"error":"payload_too_large","reason":"the body exceeds the maximum data size for FD (4 bytes)"}"#,
            )
        })
        .await;
    let c = McDataClient::new("alice@a", "", "http://unused", &base);
    let e = c
        .upload_bytes(
            Bytes::from_static(b"12345"),
            "x.bin",
            "application/octet-stream",
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(413));
    assert_eq!(
        e.to_string(),
        format!("POST {base}/files: 413 the body exceeds the maximum data size for FD (4 bytes)")
    );
}

#[tokio::test]
async fn fd_calls_send_the_documented_json() {
    let m = Uuid::new_v4();
    let c_id = Uuid::new_v4();
    let (base, log) = recording(move |seen| {
        if seen.line.starts_with("POST /fd/requests") {
            Reply::json(
                202,
                &serde_json::json!({"message_id": m, "conversation_id": c_id,
                        "mandatory_download": true, "to_system": "B"})
                .to_string(),
            )
        } else if seen.line.starts_with("GET /fd/history") {
            Reply::json(
                200,
                &serde_json::json!({"reports": [{"message_id": m, "conversation_id": c_id,
                        "file_url": "http://a/files/1", "reporter": "bob@b", "recipient": "alice@a",
                        "reported_at": 5, "system": "A"}]})
                .to_string(),
            )
        } else if seen.line.starts_with("POST /fd/reports") {
            Reply::json(
                409,
                r#"{"error":"conflict","reason":"no report was asked for"}"#,
            )
        } else {
            Reply::bytes(202, "")
        }
    })
    .await;
    let c = McDataClient::new("alice@a", "tok", &base, "http://unused");
    let mut req = SendFd::new("bob@b", "http://a/files/1");
    req.metadata = Some(FileInfo {
        size: Some(3),
        ..Default::default()
    });
    req.download_report = true;
    let sent = c.send_fd(&req).await.unwrap();
    assert_eq!((sent.message_id, sent.to_system.as_str()), (m, "B"));
    assert!(sent.mandatory_download);
    c.respond(m, false).await.unwrap();
    let e = c.report(m).await.unwrap_err();
    assert_eq!(e.status(), Some(409));
    let q = HistoryQuery {
        file_url: Some("http://a/files/1".into()),
        ..Default::default()
    };
    let reports = c.history(&q).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].reporter, "bob@b");

    let log = log.lock().unwrap();
    let json = |i: usize| serde_json::from_slice::<serde_json::Value>(&log[i].body).unwrap();
    assert_eq!(log[0].line, "POST /fd/requests");
    assert_eq!(
        log[0].headers.get("content-type").unwrap(),
        "application/json"
    );
    assert_eq!(
        json(0),
        serde_json::json!({"to": "bob@b", "file_url": "http://a/files/1",
                "metadata": {"size": 3}, "mandatory_download": false, "download_report": true})
    );
    assert_eq!(log[1].line, "POST /fd/responses");
    assert_eq!(
        json(1),
        serde_json::json!({"message_id": m, "accept": false})
    );
    assert_eq!(log[2].line, "POST /fd/reports");
    assert_eq!(json(2), serde_json::json!({"message_id": m}));
    assert_eq!(
        log[3].line,
        "GET /fd/history?file_url=http%3A%2F%2Fa%2Ffiles%2F1"
    );
}

#[tokio::test]
async fn file_info_and_deliveries_from_the_content_server() {
    let (base, log) = recording(|seen| {
        if seen.line.ends_with("/deliveries") {
            Reply::json(
                200,
                r#"{"file_id":"f1","systems":{"B":{"count":1,"first":1,"last":1}}}"#,
            )
        } else {
            Reply::bytes(200, "")
                .header("content-type", "text/plain")
                .header("content-disposition", "attachment; filename=\"a.txt\"")
        }
    })
    .await;
    let c = McDataClient::new("alice@a", "", "http://unused", &base);
    let fi = c.file_info(&format!("{base}/files/f1")).await.unwrap();
    assert_eq!(fi.name.as_deref(), Some("a.txt"));
    assert_eq!(fi.content_type.as_deref(), Some("text/plain"));
    let rec = c.deliveries(&format!("{base}/files/f1")).await.unwrap();
    assert_eq!(rec["systems"]["B"]["count"], 1);
    let log = log.lock().unwrap();
    assert_eq!(log[0].line, "HEAD /files/f1");
    assert_eq!(log[1].line, "GET /files/f1/deliveries");
    assert!(log[1].headers.get("authorization").is_none());
}

#[tokio::test]
async fn events_over_http_resume_and_type_split_frames() {
    let m = Uuid::new_v4();
    let c_id = Uuid::new_v4();
    let last_ids = Arc::new(Mutex::new(Vec::new()));
    let seen_ids = last_ids.clone();
    let base = serve(move |req| {
            seen_ids.lock().unwrap().push(
                req.headers()
                    .get("last-event-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
            );
            let data = serde_json::json!({"message_id": m, "conversation_id": c_id,
                "from": "alice@a", "file_url": "http://b/http://a/files/1",
                "metadata": {"name": "x.txt", "size": 1, "type": null, "sha256": null, "availability": null},
                "mandatory_download": false, "download_report": true});
            let text = format!(
                ": keep-alive\r\n\r\nid: 12\r\nevent: fd-request\r\ndata: {data}\r\n\r\nid: 13\nevent: fd-response\ndata: {{\"message_id\":\"{m}\",\"conversation_id\":\"{c_id}\",\"from\":\"bob@b\",\"disposition\":\"accepted\"}}\n\n"
            );
            let bytes = text.into_bytes();
            let pieces: Vec<Bytes> = bytes.chunks(7).map(Bytes::copy_from_slice).collect();
            let s = futures_util::stream::unfold(pieces.into_iter(), |mut it| async move {
                let next = it.next()?;
                tokio::time::sleep(Duration::from_millis(1)).await;
                Some((Ok::<_, BodyError>(http_body::Frame::data(next)), it))
            });
            async move {
                Reply::body(200, StreamBody::new(s).boxed_unsync())
                    .header("content-type", "text/event-stream")
            }
        })
        .await;
    let c = McDataClient::new("bob@b", "tok", &base, "http://unused");
    let mut events = c.events(Some(11)).await.unwrap();
    let (id, ev) = events.next().await.unwrap().unwrap();
    assert_eq!(id, 12);
    let FdEvent::Request(r) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!((r.message_id, r.download_report), (m, true));
    assert_eq!(r.metadata.name.as_deref(), Some("x.txt"));
    let (id, ev) = events.next().await.unwrap().unwrap();
    assert_eq!((id, ev.name()), (13, "fd-response"));
    assert!(events.next().await.is_none());
    assert_eq!(events.last_event_id(), Some(13));
    let again = c.events(events.last_event_id()).await.unwrap();
    drop(again);
    assert_eq!(
        *last_ids.lock().unwrap(),
        vec![Some("11".to_string()), Some("13".to_string())]
    );

    // A refused stream is a Status error.
    let (base, _) =
        recording(|_| Reply::json(401, r#"{"error":"unauthorized","reason":"bad token"}"#)).await;
    let e = McDataClient::new("x", "bad", &base, &base)
        .events(None)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(401));
}
