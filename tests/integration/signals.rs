//! The `mcdata` binary and its signals: SIGHUP reloads the listener's certificate
//! without a restart (a download in progress finishes byte-exact), SIGTERM stops.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http::StatusCode;

use crate::harness::*;
use crate::origin::{Origin, Script};

/// The binary, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

async fn free_port() -> u16 {
    bind().await.local_addr().unwrap().port()
}

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
    let child = Command::new(env!("CARGO_BIN_EXE_mcdata"))
        .args(["content-server", "--system-id", "P", "--listen", &addr])
        .arg("--store")
        .arg(format!("file://{}", dir.path().join("store").display()))
        .arg("--peer")
        .arg(format!("O,{},{}", origin.base, crate::origin::ORIGIN_CRED))
        .arg("--tls-cert-file")
        .arg(&cert)
        .arg("--tls-key-file")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let base = format!("https://{addr}");
    let mut up = false;
    for _ in 0..100 {
        let r = client()
            .request(
                http::Request::get(format!("{base}/healthz"))
                    .body(http_body_util::Full::new(bytes::Bytes::new()))
                    .unwrap(),
            )
            .await;
        if r.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the server answers on {base}");
    assert_eq!(served_certificate(&addr).await, der_of("server.pem"));

    let download = tokio::spawn({
        let target = format!("{base}/{url}");
        async move { get(&target, &[]).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::fs::copy(fixture("tls/server2.pem"), &cert).unwrap();
    std::fs::copy(fixture("tls/server2.key"), &key).unwrap();
    signal(&server.0, "-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(served_certificate(&addr).await, der_of("server2.pem"));
    let got = download.await.unwrap();
    assert_eq!(got.status, StatusCode::OK);
    assert!(
        got.bytes()[..] == body[..],
        "the download survived the SIGHUP"
    );

    let mut server = server;
    signal(&server.0, "-TERM");
    let mut stopped = None;
    for _ in 0..100 {
        if let Some(s) = server.0.try_wait().unwrap() {
            stopped = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stopped.is_some_and(|s| s.success()), "{stopped:?}");
}
