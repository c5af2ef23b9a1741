//! Primary role: upload, download, limits, availability, removal.

use bytes::Bytes;
use http::{Method, StatusCode};
use sha2::{Digest, Sha256};

use crate::harness::*;

#[tokio::test]
async fn upload_then_download_is_byte_exact_with_headers() {
    let (a, _b) = pair().await;
    let body = data(3 * 1024 * 1024 + 17, 1);
    let r = request(
        Method::POST,
        &format!("{}/files", a.base()),
        &[
            ("content-type", "image/png"),
            ("x-mcdata-file-name", "scene.png"),
            ("x-mcdata-availability", "2h"),
        ],
        Bytes::from(body.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let url = r.header("location").to_string();
    let j = r.json();
    assert_eq!(j["url"], url.as_str());
    assert_eq!(j["size"], body.len() as u64);
    let sha = hex(&Sha256::digest(&body));
    assert_eq!(j["sha256"], sha.as_str());
    assert_eq!(j["content_type"], "image/png");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let exp = j["expires_at"].as_u64().unwrap();
    assert!((now + 7190..=now + 7210).contains(&exp), "2h availability");

    let d = get(&url, &[]).await;
    assert_eq!(d.status, StatusCode::OK);
    assert_eq!(d.bytes().as_ref(), body.as_slice());
    assert_eq!(d.header("content-type"), "image/png");
    assert_eq!(d.header("content-length"), body.len().to_string());
    assert_eq!(d.header("etag"), format!("\"{sha}\""));
    assert!(d.header("cache-control").starts_with("max-age=7"));
    assert!(!d.header("expires").is_empty() && !d.header("last-modified").is_empty());
    assert!(d.header("repr-digest").starts_with("sha-256=:"));
    assert!(d.header("content-disposition").contains("scene.png"));

    let h = request(Method::HEAD, &url, &[], Bytes::new()).await;
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.header("content-length"), body.len().to_string());
    assert!(h.bytes().is_empty());
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn availability_defaults_and_is_capped() {
    let (a, _b) = pair_with(
        |c| {
            c.default_file_availability = std::time::Duration::from_secs(600);
            c.max_file_availability = std::time::Duration::from_secs(3600);
        },
        |_| {},
    )
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let r = request(
        Method::POST,
        &format!("{}/files", a.base()),
        &[],
        Bytes::from_static(b"x"),
    )
    .await;
    let exp = r.json()["expires_at"].as_u64().unwrap();
    assert!((now + 595..=now + 605).contains(&exp));
    let r = request(
        Method::POST,
        &format!("{}/files", a.base()),
        &[("x-mcdata-availability", "30d")],
        Bytes::from_static(b"x"),
    )
    .await;
    let exp = r.json()["expires_at"].as_u64().unwrap();
    assert!(
        (now + 3595..=now + 3605).contains(&exp),
        "capped at max-file-availability"
    );
    let r = request(
        Method::POST,
        &format!("{}/files", a.base()),
        &[("x-mcdata-availability", "soon")],
        Bytes::from_static(b"x"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["reason"]
        .as_str()
        .unwrap()
        .contains("X-Mcdata-Availability"));
}

#[tokio::test]
async fn too_large_upload_is_refused_and_leaves_nothing() {
    let (a, _b) = pair_with(|c| c.max_data_size_fd_bytes = 1024 * 1024, |_| {}).await;
    let big = data(1024 * 1024 + 1, 2);
    // Announced by Content-Length.
    let r = request(
        Method::POST,
        &format!("{}/files", a.base()),
        &[],
        Bytes::from(big.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["error"], "payload_too_large");
    // Chunked: no Content-Length, the limit is found while streaming.
    let (tx, body) = chunked_body();
    let req = http::Request::post(format!("{}/files", a.base()))
        .body(body)
        .unwrap();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let send = tokio::spawn(async move {
        for piece in big.chunks(100 * 1024) {
            if tx.send(Bytes::copy_from_slice(piece)).await.is_err() {
                break;
            }
        }
    });
    let resp = client.request(req).await;
    let _ = send.await;
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    // A body at the limit is fine.
    upload(&a, &data(1024 * 1024, 3), &[]).await;
    let leftovers: Vec<_> = a
        .stored_files()
        .into_iter()
        .filter(|f| f.contains(".staging") || f.ends_with(".body"))
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "only the accepted upload remains: {leftovers:?}"
    );
}

type ChunkStream = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<http_body::Frame<Bytes>, std::io::Error>> + Send>,
>;

/// A request body fed through a channel, sent chunked.
pub fn chunked_body() -> (
    tokio::sync::mpsc::Sender<Bytes>,
    http_body_util::StreamBody<ChunkStream>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let s = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok(http_body::Frame::data(b)), rx))
    });
    (tx, http_body_util::StreamBody::new(Box::pin(s)))
}

#[tokio::test]
async fn ranges_and_conditionals_on_primary() {
    let (a, _b) = pair().await;
    let body = data(10_000, 4);
    let url = upload(&a, &body, &[]).await;
    let r = get(&url, &[("range", "bytes=100-199")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header("content-range"), "bytes 100-199/10000");
    assert_eq!(r.bytes().as_ref(), &body[100..200]);
    let r = get(&url, &[("range", "bytes=-10")]).await;
    assert_eq!(r.bytes().as_ref(), &body[9990..]);
    let r = get(&url, &[("range", "bytes=20000-")]).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range"), "bytes */10000");
    let etag = get(&url, &[]).await.header("etag").to_string();
    let r = get(&url, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.bytes().is_empty());
    let lm = get(&url, &[]).await.header("last-modified").to_string();
    assert_eq!(
        get(&url, &[("if-modified-since", &lm)]).await.status,
        StatusCode::NOT_MODIFIED
    );
    assert_eq!(
        get(&url, &[("if-none-match", "\"other\"")]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn removed_expired_and_unknown_files() {
    let (a, _b) = pair().await;
    let url = upload(&a, b"bye", &[]).await;
    let r = request(Method::DELETE, &url, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get(&url, &[]).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.json()["reason"].as_str().unwrap().contains("removed"));
    let r = get(
        &format!("{}/files/0b5f3c3e-1111-4222-8333-944455556666", a.base()),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"], "not_found");
    let r = get(&format!("{}/files/..%2f..%2fetc%2fpasswd", a.base()), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let url = upload(&a, b"short-lived", &[("x-mcdata-availability", "1s")]).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = get(&url, &[]).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.json()["reason"].as_str().unwrap().contains("expired"));
    assert!(
        eventually(std::time::Duration::from_secs(3), || a
            .stored_files()
            .iter()
            .filter(|f| f.ends_with(".body"))
            .count()
            == 0)
        .await,
        "expired and removed bodies are deleted: {:?}",
        a.stored_files()
    );
}

#[tokio::test]
async fn users_need_tokens_when_configured() {
    let (a, _b) = pair_with(|c| c.users.push(user("alice@A", "tok-alice-1")), |_| {}).await;
    let r = request(
        Method::POST,
        &format!("{}/files", a.base()),
        &[],
        Bytes::from_static(b"x"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.header("www-authenticate").starts_with("Bearer"));
    let r = request(
        Method::POST,
        &format!("{}/files", a.base()),
        &[("authorization", "Bearer nope")],
        Bytes::from_static(b"x"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let url = upload(&a, b"x", &[("authorization", "Bearer tok-alice-1")]).await;
    assert_eq!(get(&url, &[]).await.status, StatusCode::UNAUTHORIZED);
    let r = get(&url, &[("authorization", "Bearer tok-alice-1")]).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn an_upload_cut_short_of_its_content_length_stores_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (a, _b) = pair().await;
    let addr = a.base().trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!("POST /files HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 2000000\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&data(1_000_000, 9)).await.unwrap();
    // The client says 2 MB, sends 1 MB, and stops sending.
    s.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        s.read_to_end(&mut answer),
    )
    .await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        !text.starts_with("HTTP/1.1 201"),
        "a truncated upload is never accepted: {text}"
    );
    assert!(
        eventually(std::time::Duration::from_secs(3), || a
            .stored_files()
            .iter()
            .all(|f| !f.ends_with(".body") && !f.contains(".staging/")))
        .await,
        "nothing stored: {:?}",
        a.stored_files()
    );
}
