//! The herd: many cold clients, one upstream fetch, bytes streamed to all as they arrive.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use crate::harness::*;
use crate::origin::{Origin, Script};

struct Got {
    first_byte: Instant,
    sha: [u8; 32],
    len: usize,
    cache: String,
}

async fn fetch(url: String) -> Result<Got, String> {
    let resp = client()
        .request(
            http::Request::get(&url)
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != StatusCode::OK {
        return Err(format!("status {}", resp.status()));
    }
    let cache = resp
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let mut body = resp.into_body();
    let mut hasher = Sha256::new();
    let mut first = None;
    let mut len = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(d) = frame.into_data() {
            if !d.is_empty() && first.is_none() {
                first = Some(Instant::now());
            }
            len += d.len();
            hasher.update(&d);
        }
    }
    Ok(Got {
        first_byte: first.ok_or("empty body")?,
        sha: hasher.finalize().into(),
        len,
        cache,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_cold_clients_one_upstream_fetch_streamed_to_all() {
    let origin = Origin::start().await;
    let body = data(32 * 1024 * 1024, 11);
    let want: [u8; 32] = Sha256::digest(&body).into();
    let mut s = Script::new(body.clone()).cacheable();
    s.chunk = 512 * 1024;
    s.delay = Duration::from_millis(40); // 64 chunks: the fill lasts about 2.5 s
    let url = origin.script("/big", s);
    let p = Arc::new(partner_of(&origin, |_| {}).await);

    let target = p.via(&url);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let t = target.clone();
        tasks.push(tokio::spawn(async move {
            // Spread the arrivals over the first part of the fill.
            tokio::time::sleep(Duration::from_millis((i % 10) * 50)).await;
            fetch(t).await
        }));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap().expect("every client gets the whole body"));
    }
    assert_eq!(origin.requests(), 1, "exactly one upstream request");
    let fill_end = origin.finished()[0];
    for g in &got {
        assert_eq!(g.len, body.len());
        assert_eq!(g.sha, want, "byte-exact");
        assert!(
            g.first_byte < fill_end,
            "first bytes arrive before the fill ends"
        );
    }
    let coalesced = got.iter().filter(|g| g.cache.contains("coalesced")).count();
    assert_eq!(coalesced, 99, "one leader, 99 joined the fill");
    assert_eq!(
        p.metric("mcdata_cache_requests_total{result=\"coalesced\"}"),
        99.0
    );
    assert_eq!(p.metric("mcdata_upstream_fetches_total"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_does_not_cancel_the_fill() {
    let origin = Origin::start().await;
    let body = data(4 * 1024 * 1024, 12);
    let mut s = Script::new(body.clone()).cacheable();
    s.chunk = 256 * 1024;
    s.delay = Duration::from_millis(20);
    let url = origin.script("/f", s);
    let p = partner_of(&origin, |_| {}).await;

    // The first client reads the head and a little, then goes away.
    let resp = client()
        .request(
            http::Request::get(p.via(&url))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    let mut b = resp.into_body();
    let _ = b.frame().await;
    drop(b);
    let second = fetch(p.via(&url)).await.unwrap();
    assert_eq!(second.len, body.len());
    assert!(
        eventually(Duration::from_secs(5), || p.metric("mcdata_cache_entries")
            == 1.0)
        .await
    );
    assert_eq!(get(&p.via(&url), &[]).await.header("x-cache"), "HIT");
    assert_eq!(origin.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_on_a_failing_fill_all_see_errors_and_nothing_is_kept() {
    let origin = Origin::start().await;
    let body = data(2 * 1024 * 1024, 13);
    let mut s = Script::new(body).cacheable();
    s.chunk = 128 * 1024;
    s.delay = Duration::from_millis(20);
    s.break_after = Some(1024 * 1024);
    let url = origin.script("/bad", s);
    let p = partner_of(&origin, |_| {}).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let t = p.via(&url);
        tasks.push(tokio::spawn(fetch(t)));
    }
    for t in tasks {
        assert!(t.await.unwrap().is_err(), "no clean short body");
    }
    assert_eq!(origin.requests(), 1);
    assert!(
        eventually(Duration::from_secs(2), || p.stored_files().is_empty()).await,
        "{:?}",
        p.stored_files()
    );
}
