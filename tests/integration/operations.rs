//! Issue "5 of 6": what an operator reads: metrics counted once with every series from the
//! start, RFC 9211 `Cache-Status`, readiness.

use http::StatusCode;

use crate::harness::*;
use crate::origin::{Origin, Script};

fn cache_requests(p: &System) -> Vec<(String, f64)> {
    p.metrics()
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("mcdata_cache_requests_total{result=\"")?;
            let (label, v) = rest.split_once("\"} ")?;
            Some((label.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn count(p: &System, result: &str) -> f64 {
    cache_requests(p)
        .into_iter()
        .find(|(l, _)| l == result)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no series for {result}"))
}

/// Every result label exists at 0 before the first request, so that rates work at once;
/// a response that may not be kept (`no-store`) counts as `pass`, not `miss`; a fill
/// that got no body counts as `error`; each request is counted once.
#[tokio::test]
async fn cache_results_are_counted_once_when_known() {
    let origin = Origin::start().await;
    let p = partner_of(&origin, |_| {}).await;
    let mut labels: Vec<String> = cache_requests(&p).into_iter().map(|(l, _)| l).collect();
    labels.sort();
    assert_eq!(
        labels,
        ["coalesced", "error", "hit", "miss", "pass", "revalidated"],
        "pre-initialised"
    );
    assert!(cache_requests(&p).iter().all(|(_, v)| *v == 0.0));

    let kept = origin.script("/kept", Script::new(data(1000, 1)).cacheable());
    let not_kept = origin.script(
        "/private",
        Script::new(data(1000, 2)).header("cache-control", "no-store"),
    );
    let miss = get(&p.via(&kept), &[]).await;
    assert_eq!(miss.header("cache-status"), "mcdata; fwd=miss; stored");
    let hit = get(&p.via(&kept), &[]).await;
    assert_eq!(hit.header("cache-status"), "mcdata; hit");
    let pass = get(&p.via(&not_kept), &[]).await;
    assert_eq!(pass.header("x-cache"), "PASS");
    assert_eq!(pass.header("cache-status"), "mcdata; fwd=miss");
    // A primary that cannot be reached: no body, an error.
    let down = bind().await;
    let gone = format!("http://{}/x", down.local_addr().unwrap());
    drop(down);
    let q = partner_of(&origin, |c| {
        c.peers.push(peer(
            "D",
            gone.trim_start_matches("http://")
                .trim_end_matches("/x")
                .parse()
                .unwrap(),
            "cred-down-123",
        ))
    })
    .await;
    let r = get(&q.via(&gone), &[]).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(count(&q, "error"), 1.0);
    assert_eq!(count(&q, "miss"), 0.0, "a refused fill is not a miss");

    assert_eq!(count(&p, "miss"), 1.0);
    assert_eq!(count(&p, "hit"), 1.0);
    assert_eq!(count(&p, "pass"), 1.0);
    assert_eq!(count(&p, "error"), 0.0);
}

/// RFC 9211 §2: a cache appends its member to a `Cache-Status` it received; the member
/// nearest the origin comes first.
#[tokio::test]
async fn cache_status_is_appended_to_the_primarys() {
    let origin = Origin::start().await;
    let url = origin.script(
        "/behind-a-cdn",
        Script::new(data(100, 3))
            .cacheable()
            .header("cache-status", "OriginCDN; hit"),
    );
    let p = partner_of(&origin, |_| {}).await;
    let r = get(&p.via(&url), &[]).await;
    assert_eq!(
        r.header("cache-status"),
        "OriginCDN; hit, mcdata; fwd=miss; stored"
    );
    let r = get(&p.via(&url), &[]).await;
    assert_eq!(r.header("cache-status"), "OriginCDN; hit, mcdata; hit");
}

/// The access line of a request: written when the response is over, with what operators
/// search for; the request id is also the response's `X-Request-Id`, and the fill's log
/// lines and every request it served name the request that started it.
#[tokio::test]
async fn the_access_log_names_what_operators_search_for() {
    use crate::binary::{free_port, wait_up, Server};
    let origin = Origin::start().await;
    let body = data(300_000, 9);
    let mut slow = Script::new(body.clone()).cacheable();
    slow.chunk = 30_000;
    slow.delay = std::time::Duration::from_millis(100);
    let url = origin.script("/report.pdf", slow);
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port().await);
    let mut server = Server::start(
        &[
            "content-server".into(),
            "--system-id".into(),
            "P".into(),
            "--listen".into(),
            addr.clone(),
            "--store".into(),
            format!("file://{}", dir.path().display()),
            "--peer".into(),
            format!("O,{},{}", origin.base, crate::origin::ORIGIN_CRED),
            "--user".into(),
            "medic@p,tok-medic-123".into(),
        ],
        &[],
    );
    let base = format!("http://{addr}");
    wait_up(&base).await;
    let target = format!("{base}/{url}?v=2");
    let auth = [
        ("authorization", "Bearer tok-medic-123"),
        ("user-agent", "field-tablet/1.0"),
    ];
    let (first, second) = tokio::join!(get(&target, &auth), async {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        get(&target, &auth).await
    });
    assert!(first.bytes()[..] == body[..] && second.bytes()[..] == body[..]);
    let (id1, id2) = (first.header("x-request-id"), second.header("x-request-id"));
    assert_eq!(id1.len(), 16);
    assert_ne!(id1, id2);
    server.signal("-TERM");
    server.exited().await;
    let logs = server.logs();
    let line_of = |id: &str| {
        logs.lines()
            .find(|l| l.contains("mcdata::access") && l.contains(&format!("request_id={id}")))
            .unwrap_or_else(|| panic!("no access line for {id} in {logs}"))
            .to_string()
    };
    let (l1, l2) = (line_of(id1), line_of(id2));
    for (l, cache) in [(&l1, "MISS"), (&l2, "MISS; coalesced")] {
        assert!(l.contains("client=127.0.0.1:"), "{l}");
        assert!(
            l.contains("caller=\"medic@p\"") || l.contains("caller=medic@p"),
            "{l}"
        );
        assert!(
            l.contains("/report.pdf?v=2"),
            "full target with the query: {l}"
        );
        assert!(l.contains("protocol=HTTP/1.1"), "{l}");
        assert!(l.contains("status=200"), "{l}");
        assert!(l.contains("bytes=300000"), "{l}");
        assert!(l.contains("complete=true"), "{l}");
        assert!(l.contains("field-tablet/1.0"), "{l}");
        assert!(
            l.contains(&format!("cache=\"{cache}\"")) || l.contains(&format!("cache={cache}")),
            "{l}"
        );
        assert!(
            l.contains(&format!("fill={id1}")),
            "both name the fill's request: {l}"
        );
    }
    // The total time is the body's, not the head's: the primary took about a second.
    let ms = |l: &str, key: &str| -> u64 {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {l}"))
    };
    assert!(ms(&l1, "ms") >= 900, "{l1}");
    assert!(ms(&l1, "ttfb_ms") < ms(&l1, "ms"), "{l1}");
    // The fill's own lines carry the request that started it.
    assert!(
        logs.lines()
            .any(|l| l.contains(&format!("fill{{request_id={id1}}}"))),
        "{logs}"
    );
}

/// What an operator graphs besides the cache: latency histograms per route (to the head
/// and to the last byte), open connections, the process (CPU, memory, descriptors) and
/// the version.
#[tokio::test]
async fn latency_connections_process_and_build_metrics() {
    let origin = Origin::start().await;
    let url = origin.script("/m", Script::new(data(5000, 4)).cacheable());
    let p = partner_of(&origin, |_| {}).await;
    assert_eq!(get(&p.via(&url), &[]).await.status, StatusCode::OK);
    // The line of a response is written when its body is over, just after the client
    // read it: give it a moment.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let m = p.metrics();
    for want in [
        "mcdata_http_request_duration_seconds_count{route=\"partner\"} 1",
        "mcdata_http_time_to_first_byte_seconds_count{route=\"partner\"} 1",
        "mcdata_open_connections ",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        &format!(
            "mcdata_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
    ] {
        assert!(m.contains(want), "{want} missing in\n{m}");
    }
}

/// `/healthz` is liveness, `/readyz` readiness: while the S3 server is down the content
/// server stays alive (200) but is not ready (503, with the reason), and is ready again
/// once the store answers.
#[tokio::test]
async fn readiness_follows_the_store() {
    let Some(mut s3) = crate::s3::S3Server::start("readiness_follows_the_store").await else {
        return;
    };
    s3.bucket("ready", "cs");
    let origin = Origin::start().await;
    let p = partner_of(&origin, |c| s3.configure(c, "ready", "cs")).await;
    let ready = |p: &System| {
        let u = format!("{}/readyz", p.base());
        async move { get(&u, &[]).await }
    };
    let r = ready(&p).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.json()["ready"], true);
    s3.kill();
    let r = ready(&p).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        r.json()["reasons"][0]
            .as_str()
            .unwrap()
            .contains("store does not answer"),
        "{:?}",
        r.body
    );
    let alive = get(&format!("{}/healthz", p.base()), &[]).await;
    assert_eq!(alive.status, StatusCode::OK);
    s3.revive().await;
    let mut back = false;
    for _ in 0..50 {
        if ready(&p).await.status == StatusCode::OK {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(back, "ready again once the store answers");
}

/// SIGTERM drains: the port closes at once, a 200 MB download started before goes on to
/// its last byte (11 s: longer than the 10 s that used to cut it; the default grace is
/// 30 s), then the process exits 0.
#[tokio::test]
async fn sigterm_lets_a_running_download_finish() {
    use crate::binary::{free_port, wait_up, Server};
    let origin = Origin::start().await;
    let body = data(200 << 20, 5);
    let mut s = Script::new(body.clone()).cacheable();
    s.chunk = 1 << 20;
    s.delay = std::time::Duration::from_millis(55);
    let url = origin.script("/big", s);
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port().await);
    let mut server = Server::start(
        &[
            "content-server".into(),
            "--listen".into(),
            addr.clone(),
            "--store".into(),
            format!("file://{}", dir.path().display()),
            "--fsync".into(),
            "false".into(),
            "--peer".into(),
            format!("O,{},{}", origin.base, crate::origin::ORIGIN_CRED),
        ],
        &[],
    );
    let base = format!("http://{addr}");
    wait_up(&base).await;
    let download = tokio::spawn({
        let t = format!("{base}/{url}");
        async move { get(&t, &[]).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    server.signal("-TERM");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "no new connections while draining"
    );
    let got = download.await.unwrap();
    assert_eq!(got.status, StatusCode::OK);
    let b = got.body.as_ref().expect("the whole body");
    assert!(b.len() == body.len() && b[..] == body[..], "byte-exact");
    let status = server.exited().await;
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {}",
        server.logs()
    );
    assert!(server.logs().contains("draining"), "{}", server.logs());
}

/// `log-format = "json"`: one JSON object a line (the access line's fields as keys);
/// `metrics-listen`: `/metrics` on its own listener, and no longer on the data port.
#[tokio::test]
async fn json_logs_and_metrics_on_their_own_listener() {
    use crate::binary::{free_port, wait_up, Server};
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port().await);
    let maddr = format!("127.0.0.1:{}", free_port().await);
    let mut server = Server::start(
        &[
            "content-server".into(),
            "--listen".into(),
            addr.clone(),
            "--store".into(),
            format!("file://{}", dir.path().display()),
            "--log-format".into(),
            "json".into(),
            "--metrics-listen".into(),
            maddr.clone(),
        ],
        &[],
    );
    let base = format!("http://{addr}");
    wait_up(&base).await;
    let data_port = get(&format!("{base}/metrics"), &[]).await;
    assert_eq!(data_port.status, StatusCode::NOT_FOUND);
    let stats = get(&format!("http://{maddr}/metrics"), &[]).await;
    assert_eq!(stats.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(stats.bytes()).contains("mcdata_http_requests_total"));
    server.signal("-TERM");
    server.exited().await;
    let logs = server.logs();
    let access: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "mcdata::access")
        .collect();
    assert!(!access.is_empty(), "{logs}");
    assert!(
        logs.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "every line is JSON: {logs}"
    );
    let line = &access[0]["fields"];
    assert_eq!(line["status"], 200, "{line}");
    assert!(
        line["request_id"].as_str().is_some_and(|id| id.len() == 16),
        "{line}"
    );
}
