//! The `mcdata` binary and its signals: SIGHUP reloads the listener's certificate
//! without a restart (a download in progress finishes byte-exact), SIGTERM stops.

use std::time::Duration;

use http::StatusCode;

use crate::binary::{free_port, wait_up, Server};
use crate::harness::*;
use crate::origin::{Origin, Script};

async fn served_certificate(addr: &str) -> Vec<u8> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(test_tls()));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let s = connector.connect(name, tcp).await.unwrap();
    s.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn der_of(name: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(fixture(&format!("tls/{name}")))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn sighup_reloads_the_certificate_and_keeps_a_running_download() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cs.pem"), dir.path().join("cs.key"));
    std::fs::copy(fixture("tls/server.pem"), &cert).unwrap();
    std::fs::copy(fixture("tls/server.key"), &key).unwrap();
    let origin = Origin::start().await;
    let body = data(2 * 1024 * 1024, 44);
    let mut slow = Script::new(body.clone()).cacheable();
    slow.chunk = 64 * 1024;
    slow.delay = Duration::from_millis(30);
    let url = origin.script("/slow.bin", slow);

    let addr = format!("127.0.0.1:{}", free_port().await);
    let server = Server::start(
        &[
            "content-server".into(),
            "--system-id".into(),
            "P".into(),
            "--listen".into(),
            addr.clone(),
            "--store".into(),
            format!("file://{}", dir.path().join("store").display()),
            "--peer".into(),
            format!("O,{},{}", origin.base, crate::origin::ORIGIN_CRED),
            "--tls-cert-file".into(),
            cert.display().to_string(),
            "--tls-key-file".into(),
            key.display().to_string(),
        ],
        &[],
    );
    let base = format!("https://{addr}");
    wait_up(&base).await;
    assert_eq!(served_certificate(&addr).await, der_of("server.pem"));

    let download = tokio::spawn({
        let target = format!("{base}/{url}");
        async move { get(&target, &[]).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::fs::copy(fixture("tls/server2.pem"), &cert).unwrap();
    std::fs::copy(fixture("tls/server2.key"), &key).unwrap();
    server.signal("-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(served_certificate(&addr).await, der_of("server2.pem"));
    let got = download.await.unwrap();
    assert_eq!(got.status, StatusCode::OK);
    assert!(
        got.bytes()[..] == body[..],
        "the download survived the SIGHUP"
    );

    let mut server = server;
    server.signal("-TERM");
    let stopped = server.exited().await;
    assert!(stopped.is_some_and(|s| s.success()), "{stopped:?}");
    assert!(
        server.logs().contains("TLS certificates reloaded"),
        "{}",
        server.logs()
    );
}
