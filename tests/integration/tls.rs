//! https between systems: a partner fetches from an https primary it trusts through
//! `tls-ca-file`, and refuses one whose certificate it cannot verify.

use std::path::PathBuf;
use std::sync::Arc;

use http::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::harness::*;
use crate::origin::{Origin, Script};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// The acceptor of a test server with the fixture certificate for 127.0.0.1.
fn acceptor() -> tokio_rustls::TlsAcceptor {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

#[tokio::test]
async fn partner_fetches_from_an_https_primary_it_trusts() {
    let origin = Origin::start_tls(acceptor()).await;
    assert!(origin.base.starts_with("https://"));
    let body = data(3 * 1024 * 1024 + 11, 21);
    let url = origin.script(
        "/secure",
        Script::new(body.clone()).header("cache-control", "max-age=600"),
    );

    let p = partner_of(&origin, |c| c.tls_ca_file = Some(fixture("ca.pem"))).await;
    let miss = get(&p.via(&url), &[]).await;
    assert_eq!(miss.status, StatusCode::OK, "{:?}", miss.body);
    assert_eq!(miss.header("x-cache"), "MISS");
    assert_eq!(miss.bytes().as_ref(), body.as_slice());
    let hit = get(&p.via(&url), &[]).await;
    assert_eq!(hit.header("x-cache"), "HIT");
    assert_eq!(hit.bytes().as_ref(), body.as_slice());
    assert_eq!(origin.requests(), 1);

    // Without the CA, the certificate cannot be verified: 502 with the reason, no body.
    let q = partner_of(&origin, |_| {}).await;
    let r = get(&q.via(&url), &[]).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let reason = r.json()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        reason.contains("certificate") || reason.contains("issuer"),
        "{reason}"
    );
    assert_eq!(
        origin.requests(),
        1,
        "no request went through an unverified connection"
    );
}

#[tokio::test]
async fn a_bad_tls_ca_file_stops_the_start_with_a_clear_error() {
    let l = bind().await;
    let t = tempfile::tempdir().unwrap();
    let mut c = base_config("P", l.local_addr().unwrap(), t.path());
    let bogus = t.path().join("bogus.pem");
    std::fs::write(
        &bogus,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    c.tls_ca_file = Some(bogus);
    let e = match mcdata::content_server::ContentServer::start_on(l, c).await {
        Ok(_) => panic!("started with a bad CA file"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("tls-ca-file") && e.contains("bogus.pem"), "{e}");
}

#[tokio::test]
async fn the_client_library_downloads_over_https_with_the_ca() {
    use mcdata::client::{ClientError, McDataClient};
    let origin = Origin::start_tls(acceptor()).await;
    let body = data(200_000, 22);
    let url = origin.script("/f", Script::new(body.clone()));
    let tls = mcdata::http::client::tls_from_file(Some(&fixture("ca.pem"))).unwrap();
    let base = origin.base.clone();
    let c = McDataClient::with_tls("u@a", "", &base, &base, Default::default(), tls);
    let mut out = Vec::new();
    let d = c.download(&url, &mut out, |_, _| {}).await.unwrap();
    assert_eq!(d.len, body.len() as u64);
    assert_eq!(out, body);

    // The system's roots alone do not know the test CA.
    let plain = McDataClient::new("u@a", "", &base, &base);
    let e = plain
        .download(&url, &mut Vec::new(), |_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }), "{e}");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
}
