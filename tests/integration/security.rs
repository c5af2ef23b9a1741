//! Agreements and credentials: who may retrieve, which origins are ever contacted, who may
//! purge.

use bytes::Bytes;
use http::{Method, StatusCode};

use crate::harness::*;
use crate::origin::{Origin, Script};

#[tokio::test]
async fn wrong_partner_credential_is_refused_by_the_primary() {
    let (a, b) = pair_with(
        |_| {},
        |c| c.peers[0].credential = "wrong-credential".into(),
    )
    .await;
    let url = upload(&a, b"secret file", &[]).await;
    let r = get(&b.via(&url), &[]).await;
    // The primary's refusal is passed on as it answered (RFC 9110 §15), and counted.
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.json()["reason"].as_str().unwrap().contains("not valid"));
    assert_eq!(
        b.metric("mcdata_upstream_failures_total{reason=\"status\"}"),
        1.0
    );
    // Direct: a wrong bearer is 403 at the primary.
    let r = get(&url, &[("authorization", "Bearer wrong-credential")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Nothing recorded.
    let rec = get(&format!("{url}/deliveries"), &[]).await.json();
    assert!(rec["systems"].as_object().unwrap().is_empty());
}

#[tokio::test]
async fn retrieve_without_credential_is_401_when_tokens_are_required() {
    let (a, _b) = pair_with(|c| c.users.push(user("alice@A", "tok-alice-1")), |_| {}).await;
    let url = upload(&a, b"x", &[("authorization", "Bearer tok-alice-1")]).await;
    assert_eq!(get(&url, &[]).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&url, &[("authorization", &format!("Bearer {CRED_AB}"))])
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn origins_outside_the_agreements_and_path_tricks_are_refused() {
    let allowed = Origin::start().await;
    let stranger = Origin::start().await;
    allowed.script("/files/x", Script::new(b"ok".to_vec()));
    stranger.script("/files/x", Script::new(b"no".to_vec()));
    let p = partner_of(&allowed, |_| {}).await;
    let a = allowed.base.trim_start_matches("http://").to_string();
    let s = stranger.base.trim_start_matches("http://").to_string();
    let (host, port) = a.split_once(':').unwrap();
    let other_port = format!("{host}:{}", port.parse::<u16>().unwrap() ^ 1);
    let tricks = [
        format!("http://{s}/files/x"),
        format!("http://{a}@{s}/files/x"),
        format!("http://{s}#@{a}/files/x"),
        format!("http://{a}/files/../../x"),
        format!("http://{a}/files/%2e%2e/x"),
        format!("http://{a}/files%2fx"),
        format!("http:/{a}/files/x"),
        format!("http:\\\\{a}/files/x"),
        format!("https://{a}/files/x"),
        format!("http://{other_port}/files/x"),
        format!("http://{a}.evil.example/files/x"),
        format!("ftp://{a}/files/x"),
    ];
    for t in &tricks {
        let url = format!("{}/{}", p.base(), t.replace('#', "%23"));
        let r = get(&url, &[]).await;
        assert!(
            r.status == StatusCode::FORBIDDEN
                || r.status == StatusCode::NOT_FOUND
                || r.status == StatusCode::BAD_REQUEST,
            "{t}: {}",
            r.status
        );
        assert!(r.json()["reason"].is_string(), "{t}: JSON reason");
    }
    let r = get(&p.via(&format!("http://{s}/files/x")), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(stranger.requests(), 0, "never contacted");
    assert_eq!(allowed.requests(), 0);
    // The real thing works.
    let r = get(&p.via(&format!("http://{a}/files/x")), &[]).await;
    assert_eq!(r.bytes().as_ref(), b"ok");
    assert_eq!(
        allowed.last_auth().as_deref(),
        Some("Bearer origin-cred-123"),
        "the agreement credential is presented"
    );
}

#[tokio::test]
async fn only_the_owning_primary_may_purge() {
    let (a, b) = pair().await;
    let url = upload(&a, b"x", &[]).await;
    assert_eq!(get(&b.via(&url), &[]).await.status, StatusCode::OK);
    let r = request(Method::DELETE, &b.via(&url), &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = request(
        Method::DELETE,
        &b.via(&url),
        &[("authorization", "Bearer someone-else")],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        get(&b.via(&url), &[]).await.header("x-cache"),
        "HIT",
        "copy still there"
    );
    let r = request(
        Method::DELETE,
        &b.via(&url),
        &[("authorization", &format!("Bearer {CRED_AB}"))],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["purged"], true);
    assert_eq!(get(&b.via(&url), &[]).await.header("x-cache"), "MISS");
}

/// Issue "4 of 6", item 5: forwarding loops between systems that peer each other. A
/// request whose `Via` already names us is refused with 508 (RFC 9110 §7.6.3, RFC 5842
/// §7.2), and a target that is itself a partner URL of the peer (`http://peer/http://...`)
/// with 403; the primary is asked neither time.
#[tokio::test]
async fn forwarding_loops_are_refused() {
    let origin = Origin::start().await;
    let url = origin.script("/files/x", Script::new(b"ok".to_vec()).cacheable());
    let p = partner_of(&origin, |_| {}).await;
    let r = get(&p.via(&url), &[("via", "1.1 A, 1.1 P")]).await;
    assert_eq!(r.status, StatusCode::LOOP_DETECTED);
    assert_eq!(r.json()["error"], "loop_detected");
    let r = get(&p.via(&url), &[("via", "1.1 A, 1.1 Q (mcdata)")]).await;
    assert_eq!(r.status, StatusCode::OK, "another system's Via is fine");
    for nested in [
        format!("{}/http://127.0.0.1:9/files/y", origin.base),
        format!("{}/HTTPS://b.example/files/y", origin.base),
    ] {
        let r = get(&p.via(&nested), &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{nested}");
    }
    assert_eq!(origin.requests(), 1);
}

/// Issue "4 of 6", item 6: the method label of `mcdata_http_requests_total` is bounded:
/// invented methods count as `other`.
#[tokio::test]
async fn invented_methods_add_no_metric_series() {
    let origin = Origin::start().await;
    let p = partner_of(&origin, |_| {}).await;
    for m in ["FOO", "BAR", "BAZ"] {
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        request(method, &format!("{}/files", p.base()), &[], Bytes::new()).await;
    }
    let text = p.metrics();
    assert!(!text.contains("FOO") && !text.contains("BAZ"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("mcdata_http_requests_total")
                && l.contains("method=\"other\"")
                && l.ends_with(" 3")),
        "{text}"
    );
}

/// Issue "4 of 6", item 2: a range that ends before the last byte of a body the primary
/// signed (`Repr-Digest`) is held until the verdict: with a wrong digest the client gets
/// a 502, never a clean 206 of bytes nobody checked.
#[tokio::test]
async fn a_range_of_a_signed_body_waits_for_the_verdict() {
    use base64::Engine;
    let origin = Origin::start().await;
    let body = data(40_000, 91);
    let wrong = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let mut s = Script::new(body.clone())
        .cacheable()
        .header("repr-digest", &format!("sha-256=:{wrong}:"));
    s.chunk = 4000;
    s.delay = std::time::Duration::from_millis(50);
    let url = origin.script("/signed", s);
    let p = partner_of(&origin, |_| {}).await;
    let r = get(&p.via(&url), &[("range", "bytes=0-99")]).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{:?}", r.headers);
    assert!(r.json()["reason"].as_str().unwrap().contains("Repr-Digest"));
}

/// Read what the server sends until it closes the connection (or `within` passes).
async fn read_until_closed(
    s: &mut tokio::net::TcpStream,
    within: std::time::Duration,
) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(end, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Issue "4 of 6", item 1: a client that sends half a request head, or keeps a keep-alive
/// connection idle, is closed after `client-header-timeout` (slowloris).
#[tokio::test]
async fn slow_and_idle_clients_are_closed_after_the_header_timeout() {
    use tokio::io::AsyncWriteExt;
    let origin = Origin::start().await;
    let p = partner_of(&origin, |c| {
        c.client_header_timeout = std::time::Duration::from_secs(1)
    })
    .await;
    let addr = p.base().trim_start_matches("http://").to_string();
    // Half a head, never finished.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
        .await
        .unwrap();
    let closed = read_until_closed(&mut slow, std::time::Duration::from_secs(4)).await;
    assert!(
        closed.is_some(),
        "a half-sent head is cut after the timeout"
    );
    // A whole request, then silence on the kept-alive connection.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let got = read_until_closed(&mut idle, std::time::Duration::from_secs(4))
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
}

/// Issue "4 of 6", item 1: above `max-connections` a new connection gets 503 at once and
/// is closed; the accept loop goes on serving once a connection is free.
#[tokio::test]
async fn connections_above_the_cap_get_503() {
    use tokio::io::AsyncWriteExt;
    let origin = Origin::start().await;
    let p = partner_of(&origin, |c| c.max_connections = 2).await;
    let addr = p.base().trim_start_matches("http://").to_string();
    let held1 = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let held2 = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut third = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let got = read_until_closed(&mut third, std::time::Duration::from_secs(3))
        .await
        .expect("refused at once");
    assert!(
        got.starts_with(b"HTTP/1.1 503"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    drop((held1, held2));
    // The server sees both connections end, and frees their slots.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        get(&format!("{}/healthz", p.base()), &[]).await.status,
        StatusCode::OK
    );
}

/// Issue "4 of 6", item 1: an upload that stops sending is answered 408 after
/// `client-body-timeout`, and nothing of it is kept.
#[tokio::test]
async fn a_stalled_upload_gets_408_and_keeps_nothing() {
    use tokio::io::AsyncWriteExt;
    let (a, _b) = pair_with(
        |c| c.client_body_timeout = std::time::Duration::from_secs(1),
        |_| {},
    )
    .await;
    let addr = a.base().trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"POST /files HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nfirst bytes")
        .await
        .unwrap();
    let got = read_until_closed(&mut s, std::time::Duration::from_secs(5))
        .await
        .expect("answered and closed");
    assert!(
        got.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(
        eventually(std::time::Duration::from_secs(2), || !a
            .stored_files()
            .iter()
            .any(|f| f.starts_with("files/") || f.starts_with(".staging/")))
        .await,
        "{:?}",
        a.stored_files()
    );
}

/// Read a whole response until the server closes; the error, if the close was a reset.
async fn read_to_close(s: &mut tokio::net::TcpStream) -> (Vec<u8>, Option<std::io::ErrorKind>) {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf)).await {
            Err(_) => panic!("no close within 10 s"),
            Ok(Ok(0)) => return (got, None),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return (got, Some(e.kind())),
        }
    }
}

/// Issue "4 of 6", item 3: a fill cut by the primary, whose body has no length, ends each
/// client's response with a TCP reset, on HTTP/1.0 (a close-delimited body, RFC 9112
/// §6.3 rule 8, where a clean close would mean "complete") and on HTTP/1.1 alike.
#[tokio::test]
async fn a_cut_fill_without_a_length_ends_with_a_reset_on_every_version() {
    use tokio::io::AsyncWriteExt;
    let origin = Origin::start().await;
    let p = partner_of(&origin, |_| {}).await;
    let addr = p.base().trim_start_matches("http://").to_string();
    for (n, version) in ["HTTP/1.0", "HTTP/1.1"].into_iter().enumerate() {
        let mut s = Script::new(data(200_000, 17)).cacheable();
        s.content_length = false;
        s.break_after = Some(70_000);
        s.delay = std::time::Duration::from_millis(20);
        s.chunk = 10_000;
        let url = origin.script(&format!("/cut-{n}"), s);
        let target = p.via(&url);
        let path = target.trim_start_matches(&p.base());
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        c.write_all(
            format!("GET {path} {version}\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let (got, err) = read_to_close(&mut c).await;
        let head = String::from_utf8_lossy(&got[..got.len().min(200)]).to_string();
        assert!(head.contains(" 200 "), "{version}: {head}");
        assert_eq!(
            err,
            Some(std::io::ErrorKind::ConnectionReset),
            "{version}: a cut body must end with a reset ({} bytes read)",
            got.len()
        );
        assert!(got.len() < 200_000, "{version}");
    }
}
