//! The partner hit path in process: a primary (A) and a partner (B) content server on
//! 127.0.0.1:0 in this process, a file uploaded to A and fetched through B (so it is
//! cached), then each iteration is one `GET <B>/<A's file URL>` on one kept-alive
//! connection (hyper's low-level client: the pooled client's checkout races with the
//! return of the previous connection and opens new ones), body collected. The servers and
//! the client share the runtime's one thread, so read a figure as "CPU per hit, both
//! ends" (routing, prefix parsing, index and memory-tier lookups, headers, the body, the
//! loopback round trip, the client's parsing), not as the server alone.
//! bench/compare.sh measures the server alone under load, against nginx and Varnish.
//!
//! `cargo bench --features bench --bench hit_path`

use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http_body_util::{BodyExt, Empty, Full};

use mcdata::content_server::config::{ContentServerConfig, Peer};
use mcdata::content_server::{ContentServer, Running};
use mcdata::http::client::{new_body_client, new_client, tls_config, HttpClient};

const CRED: &str = "bench-credential-1";

fn config(
    id: &str,
    dir: &std::path::Path,
    peer: (&str, std::net::SocketAddr),
) -> ContentServerConfig {
    ContentServerConfig {
        system_id: id.into(),
        store: format!("file://{}", dir.display()),
        fsync: false,
        peers: vec![Peer {
            system_id: peer.0.into(),
            content_server: format!("http://{}", peer.1),
            credential: CRED.into(),
        }],
        ..ContentServerConfig::default()
    }
}

struct Setup {
    _a: Running,
    _b: Running,
    _dir: tempfile::TempDir,
    /// Paths on B (`/<A's file URL>`) by size.
    urls: Vec<(usize, String)>,
    b: std::net::SocketAddr,
}

type Conn = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: std::net::SocketAddr) -> Conn {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

async fn get_on(conn: &mut Conn, path: &str) -> usize {
    conn.ready().await.unwrap();
    let req = http::Request::get(path)
        .header("host", "bench")
        .body(Empty::new())
        .unwrap();
    let resp = conn.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap().to_bytes().len()
}

async fn setup(sizes: &[usize]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let la = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lb = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (aa, ab) = (la.local_addr().unwrap(), lb.local_addr().unwrap());
    let a = ContentServer::start_on(la, config("A", &dir.path().join("a"), ("B", ab)))
        .await
        .unwrap();
    let b = ContentServer::start_on(lb, config("B", &dir.path().join("b"), ("A", aa)))
        .await
        .unwrap();
    let uploader = new_body_client(Duration::from_secs(5), tls_config(&[]));
    let client = new_client(Duration::from_secs(5), tls_config(&[]));
    let mut urls = Vec::new();
    for &size in sizes {
        let data = Bytes::from(vec![7u8; size]);
        let req = http::Request::post(format!("http://{aa}/files"))
            .body(Full::new(data))
            .unwrap();
        let resp = uploader.request(req).await.unwrap();
        assert_eq!(resp.status(), 201);
        let loc = resp.headers()["location"].to_str().unwrap().to_string();
        let url = format!("http://{ab}/{loc}");
        for _ in 0..2 {
            assert_eq!(get(&client, &url).await, size);
        }
        urls.push((size, format!("/{loc}")));
    }
    Setup {
        _a: a,
        _b: b,
        _dir: dir,
        urls,
        b: ab,
    }
}

async fn get(client: &HttpClient, url: &str) -> usize {
    let req = http::Request::get(url).body(Empty::new()).unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap().to_bytes().len()
}

fn bench(c: &mut Criterion) {
    // One thread runs the servers and the client: no cross-thread wake-ups (which cost
    // tens of microseconds on a VM), so the figure is the CPU cost of a hit, both ends.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(setup(&[1024, 64 * 1024, 1 << 20]));
    let mut conn = rt.block_on(connect(s.b));
    let mut g = c.benchmark_group("hit_path");
    for (size, url) in &s.urls {
        g.throughput(Throughput::Bytes(*size as u64));
        let name = match size {
            1024 => "1KiB".to_string(),
            n if n % (1 << 20) == 0 => format!("{}MiB", n >> 20),
            n => format!("{}KiB", n >> 10),
        };
        // All iterations inside one block_on: a block_on per request would add a
        // cross-thread wake-up of the benchmark thread to every hit.
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let t = std::time::Instant::now();
                    for _ in 0..iters {
                        std::hint::black_box(get_on(&mut conn, url).await);
                    }
                    t.elapsed()
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
