//! Issue "4 of 6": TLS on the listening side. A content server serves HTTPS with its
//! certificate (hits and ranges byte-exact, no sendfile through TLS), takes a renewed
//! certificate without a restart, and between two systems asks the partner for a client
//! certificate (mutual TLS, RFC 8446 §4.3.2 / §4.4.2) that chains to the peers' CA.

use std::path::{Path, PathBuf};

use http::StatusCode;
use mcdata::http::server_tls::ClientAuth;

use crate::harness::*;
use crate::origin::{Origin, Script};

fn tls(name: &str) -> PathBuf {
    fixture(&format!("tls/{name}"))
}

/// A content server config serving HTTPS with `cert`/`key`.
fn https(c: &mut mcdata::content_server::config::ContentServerConfig, cert: &Path, key: &Path) {
    c.tls_cert_file = Some(cert.to_path_buf());
    c.tls_key_file = Some(key.to_path_buf());
}

#[tokio::test]
async fn a_partner_serves_https_misses_hits_and_ranges_byte_exact() {
    let origin = Origin::start().await;
    let body = data(3 * 1024 * 1024 + 5, 61);
    let url = origin.script("/over-tls", Script::new(body.clone()).cacheable());
    let p = partner_of(&origin, |c| {
        https(c, &tls("server.pem"), &tls("server.key"))
    })
    .await;
    assert!(p.base().starts_with("https://127.0.0.1:"), "{}", p.base());
    let miss = get(&p.via(&url), &[]).await;
    assert_eq!(miss.status, StatusCode::OK);
    assert_eq!(miss.header("x-cache"), "MISS");
    assert!(miss.bytes()[..] == body[..]);
    let hit = get(&p.via(&url), &[]).await;
    assert_eq!(hit.header("x-cache"), "HIT");
    assert!(hit.bytes()[..] == body[..]);
    let part = get(&p.via(&url), &[("range", "bytes=1000000-1000099")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert!(part.bytes()[..] == body[1_000_000..1_000_100]);
    assert_eq!(origin.requests(), 1);
    // Plain HTTP on the HTTPS port gets no answer, not a response in clear.
    let plain = p.base().replace("https://", "http://");
    let r = client()
        .request(
            http::Request::get(format!("{plain}/healthz"))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await;
    assert!(r.is_err(), "plain http to an https listener must fail");
}

/// A renewed certificate (the files replaced, as certbot does) is used for new
/// connections after a reload (what SIGHUP calls); a reload of broken files keeps the
/// certificate in use; the connections and the cache stay.
#[tokio::test]
async fn a_renewed_certificate_is_taken_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cs.pem"), dir.path().join("cs.key"));
    std::fs::copy(tls("server.pem"), &cert).unwrap();
    std::fs::copy(tls("server.key"), &key).unwrap();
    let origin = Origin::start().await;
    let url = origin.script("/kept", Script::new(data(100_000, 3)).cacheable());
    let p = partner_of(&origin, |c| https(c, &cert, &key)).await;
    assert_eq!(get(&p.via(&url), &[]).await.header("x-cache"), "MISS");
    assert_eq!(served_certificate(&p.base()).await, der_of("server.pem"));

    std::fs::write(&cert, "not a certificate").unwrap();
    let e = p.running.as_ref().unwrap().reload_tls().unwrap_err();
    assert!(e.to_string().contains("cs.pem"), "{e}");
    assert_eq!(
        served_certificate(&p.base()).await,
        der_of("server.pem"),
        "a failed reload keeps the certificate in use"
    );

    std::fs::copy(tls("server2.pem"), &cert).unwrap();
    std::fs::copy(tls("server2.key"), &key).unwrap();
    p.running.as_ref().unwrap().reload_tls().unwrap();
    assert_eq!(served_certificate(&p.base()).await, der_of("server2.pem"));
    assert_eq!(
        get(&p.via(&url), &[]).await.header("x-cache"),
        "HIT",
        "the cache stays"
    );
}

/// Two systems over mutual TLS: primary A serves HTTPS and requires a client certificate
/// from the peers' CA; partner B presents its own and fetches; a partner without one, or
/// with a certificate of no trusted CA, is refused at the handshake (502 at B).
#[tokio::test]
async fn mutual_tls_between_content_servers() {
    let mtls = |c: &mut mcdata::content_server::config::ContentServerConfig| {
        https(c, &tls("server.pem"), &tls("server.key"));
        c.tls_client_ca_file = Some(tls("ca2.pem"));
        c.tls_client_auth = ClientAuth::Required;
    };
    let to_https_a = |c: &mut mcdata::content_server::config::ContentServerConfig| {
        c.tls_ca_file = Some(tls("ca.pem"));
        for p in &mut c.peers {
            p.content_server = p.content_server.replace("http://", "https://");
        }
    };
    let (a, b) = pair_with(mtls, |c| {
        to_https_a(c);
        c.upstream_tls_cert_file = Some(tls("client-b.pem"));
        c.upstream_tls_key_file = Some(tls("client-b.key"));
    })
    .await;
    assert!(a.base().starts_with("https://"));
    let body = data(500_000, 8);
    // A's own users need a certificate too on this listener: the uploader presents one.
    let mut cas = mcdata::http::client::load_cas(&tls("ca.pem")).unwrap();
    cas.extend(mcdata::http::client::load_cas(&tls("ca2.pem")).unwrap());
    let identity =
        mcdata::http::client::ClientIdentity::load(&tls("client-b.pem"), &tls("client-b.key"))
            .unwrap();
    let uploader = mcdata::http::client::new_body_client(
        std::time::Duration::from_secs(10),
        mcdata::http::client::tls_config_as(&cas, Some(identity)).unwrap(),
    );
    let resp = uploader
        .request(
            http::Request::post(format!("{}/files", a.base()))
                .header("content-type", "application/octet-stream")
                .body(http_body_util::Full::new(bytes::Bytes::from(body.clone())))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let file = resp.headers()["location"].to_str().unwrap().to_string();
    // Without a certificate, A's listener refuses the connection.
    let refused = client()
        .request(
            http::Request::get(format!("{}/healthz", a.base()))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await;
    assert!(refused.is_err(), "no client certificate, no answer");
    let got = get(&b.via(&file), &[]).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert!(got.bytes()[..] == body[..]);

    // A partner of A without a certificate, and one with a stranger's, against the same A.
    for identity in [None, Some(("stranger.pem", "stranger.key"))] {
        let l = bind().await;
        let t = tempfile::tempdir().unwrap();
        let mut c = base_config("B", l.local_addr().unwrap(), t.path());
        c.peers.push(mcdata::content_server::config::Peer {
            system_id: "A".into(),
            content_server: a.base(),
            credential: CRED_AB.into(),
        });
        c.tls_ca_file = Some(tls("ca.pem"));
        if let Some((cert, key)) = identity {
            c.upstream_tls_cert_file = Some(tls(cert));
            c.upstream_tls_key_file = Some(tls(key));
        }
        let other = start(l, c, Some(t)).await;
        let r = get(&other.via(&file), &[]).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_GATEWAY,
            "{identity:?}: {:?}",
            r.body
        );
    }
}

/// The MCData server's listener serves HTTPS too (its own `tls-*` keys).
#[tokio::test]
async fn the_mcdata_server_serves_https() {
    let l = bind().await;
    let cfg = mcdata::fd::config::FdServerConfig {
        listen: l.local_addr().unwrap(),
        tls_cert_file: Some(tls("server.pem")),
        tls_key_file: Some(tls("server.key")),
        ..Default::default()
    };
    let store = mcdata::storage::open_store(
        &format!("file://{}", tempfile::tempdir().unwrap().keep().display()),
        &Default::default(),
    )
    .await
    .unwrap();
    let fd =
        mcdata::fd::FdServer::start_on(l, cfg, store, mcdata::metrics::Metrics::new().unwrap())
            .await
            .unwrap();
    assert!(fd.base().starts_with("https://"));
    let r = get(&format!("{}/healthz", fd.base()), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    fd.shutdown().await;
}
