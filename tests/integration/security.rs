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
