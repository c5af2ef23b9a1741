//! Test harness: systems (content servers) on loopback with temporary storage, and a small
//! HTTP client.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use mcdata::content_server::config::{ContentServerConfig, Peer, User};
use mcdata::content_server::{ContentServer, Running};
use tokio::net::TcpListener;

pub const CRED_AB: &str = "secret-ab-123";

/// A response read whole; `body` is an error when the body broke off.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Result<Bytes, String>,
}

impl Resp {
    pub fn bytes(&self) -> &Bytes {
        self.body.as_ref().expect("complete body")
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(self.bytes()).expect("JSON body")
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
}

/// A test fixture of `tests/fixtures/`.
pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// TLS for the test client: it trusts the two test CAs (`tests/fixtures/tls`).
pub fn test_tls() -> rustls::ClientConfig {
    static TLS: std::sync::OnceLock<rustls::ClientConfig> = std::sync::OnceLock::new();
    TLS.get_or_init(|| {
        let mut cas = mcdata::http::client::load_cas(&fixture("tls/ca.pem")).unwrap();
        cas.extend(mcdata::http::client::load_cas(&fixture("tls/ca2.pem")).unwrap());
        mcdata::http::client::tls_config(&cas)
    })
    .clone()
}

/// The certificate the https server at `base` (`https://host:port` or `host:port`)
/// presents, as DER.
pub async fn served_certificate(base: &str) -> Vec<u8> {
    let addr = base.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(test_tls()));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let s = connector.connect(name, tcp).await.unwrap();
    s.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// The first certificate of the TLS fixture `name` (`tests/fixtures/tls/<name>`), as DER.
pub fn der_of(name: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(fixture(&format!("tls/{name}")))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

/// An http and https client (see [`test_tls`]).
pub fn client() -> mcdata::http::client::BodyClient {
    mcdata::http::client::new_body_client(Duration::from_secs(10), test_tls())
}

pub async fn request(method: Method, url: &str, headers: &[(&str, &str)], body: Bytes) -> Resp {
    let mut b = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = client()
        .request(b.body(Full::new(body)).unwrap())
        .await
        .expect("request sent");
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| e.to_string());
    Resp {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn get(url: &str, headers: &[(&str, &str)]) -> Resp {
    request(Method::GET, url, headers, Bytes::new()).await
}

/// A content server under test, with its storage directory.
pub struct System {
    pub id: String,
    pub running: Option<Running>,
    pub cfg: ContentServerConfig,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl System {
    pub fn base(&self) -> String {
        self.running.as_ref().unwrap().base().to_string()
    }
    pub fn server(&self) -> &std::sync::Arc<ContentServer> {
        &self.running.as_ref().unwrap().server
    }
    /// The partner URL of an original URL.
    pub fn via(&self, original: &str) -> String {
        format!("{}/{}", self.base(), original)
    }
    pub fn metrics(&self) -> String {
        self.server().metrics.render()
    }
    /// Value of a metric line starting with `prefix` (0 when absent).
    pub fn metric(&self, prefix: &str) -> f64 {
        self.metrics()
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
    /// Start again on the same address and storage.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = TcpListener::bind(self.cfg.listen)
            .await
            .expect("rebind the same port");
        self.running = Some(
            ContentServer::start_on(listener, self.cfg.clone())
                .await
                .expect("restart"),
        );
    }
    /// Files under the storage directory (relative paths), staging included.
    pub fn stored_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut dirs = vec![self.dir.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    dirs.push(e.path());
                } else {
                    out.push(
                        e.path()
                            .strip_prefix(&self.dir)
                            .unwrap()
                            .display()
                            .to_string(),
                    );
                }
            }
        }
        out.sort();
        out
    }
}

/// Configuration knobs for a test system.
pub fn base_config(
    id: &str,
    listen: std::net::SocketAddr,
    dir: &std::path::Path,
) -> ContentServerConfig {
    ContentServerConfig {
        system_id: id.to_string(),
        listen,
        store: format!("file://{}", dir.display()),
        fsync: false,
        upstream_header_timeout: Duration::from_secs(10),
        upstream_idle_timeout: Duration::from_secs(10),
        ..ContentServerConfig::default()
    }
}

pub async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

pub fn peer(id: &str, addr: std::net::SocketAddr, cred: &str) -> Peer {
    Peer {
        system_id: id.into(),
        content_server: format!("http://{addr}"),
        credential: cred.into(),
    }
}

pub fn user(id: &str, token: &str) -> User {
    User {
        id: id.into(),
        token: token.into(),
    }
}

/// Start a system on `listener` with `cfg`.
pub async fn start(
    listener: TcpListener,
    cfg: ContentServerConfig,
    tmp: Option<tempfile::TempDir>,
) -> System {
    let dir = cfg.store.trim_start_matches("file://").into();
    let id = cfg.system_id.clone();
    let running = ContentServer::start_on(listener, cfg.clone())
        .await
        .expect("start content server");
    System {
        id,
        running: Some(running),
        cfg,
        dir,
        _tmp: tmp,
    }
}

/// Systems A (primary) and B (partner) with an agreement, plus optional tweaks.
pub async fn pair_with(
    tweak_a: impl FnOnce(&mut ContentServerConfig),
    tweak_b: impl FnOnce(&mut ContentServerConfig),
) -> (System, System) {
    let (la, lb) = (bind().await, bind().await);
    let (aa, ab) = (la.local_addr().unwrap(), lb.local_addr().unwrap());
    let (ta, tb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut ca = base_config("A", aa, ta.path());
    ca.peers.push(peer("B", ab, CRED_AB));
    let mut cb = base_config("B", ab, tb.path());
    cb.peers.push(peer("A", aa, CRED_AB));
    tweak_a(&mut ca);
    tweak_b(&mut cb);
    let a = start(la, ca, Some(ta)).await;
    let b = start(lb, cb, Some(tb)).await;
    (a, b)
}

pub async fn pair() -> (System, System) {
    pair_with(|_| {}, |_| {}).await
}

/// A partner system that has an agreement with a test origin (system id "O").
pub async fn partner_of(
    origin: &crate::origin::Origin,
    tweak: impl FnOnce(&mut ContentServerConfig),
) -> System {
    let l = bind().await;
    let t = tempfile::tempdir().unwrap();
    let mut c = base_config("P", l.local_addr().unwrap(), t.path());
    c.peers.push(mcdata::content_server::config::Peer {
        system_id: "O".into(),
        content_server: origin.base.clone(),
        credential: crate::origin::ORIGIN_CRED.into(),
    });
    tweak(&mut c);
    start(l, c, Some(t)).await
}

/// Upload `data` to `sys`, returning the file URL.
pub async fn upload(sys: &System, data: &[u8], headers: &[(&str, &str)]) -> String {
    let r = request(
        Method::POST,
        &format!("{}/files", sys.base()),
        headers,
        Bytes::copy_from_slice(data),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "upload: {:?}", r.body);
    r.header("location").to_string()
}

/// Deterministic test data.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut x = seed as u32 | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Poll `f` until it is true or `timeout` passes.
pub async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// A partner system ("P") that has an agreement with a plain origin (`crate::plain_origin`,
/// system id "O", credential `PLAIN_CRED`).
pub async fn partner_of_plain(
    origin: &crate::plain_origin::PlainOrigin,
    tweak: impl FnOnce(&mut ContentServerConfig),
) -> System {
    let l = bind().await;
    let t = tempfile::tempdir().unwrap();
    let mut c = base_config("P", l.local_addr().unwrap(), t.path());
    c.peers
        .push(peer("O", origin.addr, crate::plain_origin::PLAIN_CRED));
    tweak(&mut c);
    start(l, c, Some(t)).await
}
