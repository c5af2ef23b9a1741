//! Partner role: miss then hit with the delivery record, expiry, pass-through, broken
//! upstreams, ranges and conditionals, purge.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};

use crate::harness::*;
use crate::origin::{Origin, Script};

#[tokio::test]
async fn miss_then_hit_one_retrieve_recorded_for_the_partner() {
    let (a, b) = pair().await;
    let body = data(2 * 1024 * 1024 + 3, 7);
    let url = upload(&a, &body, &[("content-type", "video/mp4")]).await;

    let first = get(&b.via(&url), &[]).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("x-cache"), "MISS");
    assert_eq!(first.bytes().as_ref(), body.as_slice());
    assert_eq!(first.header("content-type"), "video/mp4");

    let second = get(&b.via(&url), &[]).await;
    assert_eq!(second.header("x-cache"), "HIT");
    assert_eq!(second.bytes().as_ref(), body.as_slice());
    assert_eq!(second.header("etag"), first.header("etag"));
    assert!(second.header("cache-control").starts_with("max-age="));

    let rec = get(&format!("{url}/deliveries"), &[]).await.json();
    let systems = rec["systems"].as_object().unwrap();
    assert_eq!(systems.len(), 1);
    assert_eq!(systems["B"]["count"], 1, "exactly one file retrieve: {rec}");
    assert_eq!(b.metric("mcdata_upstream_fetches_total"), 1.0);
    assert_eq!(b.metric("mcdata_cache_requests_total{result=\"hit\"}"), 1.0);
    assert_eq!(a.metric("mcdata_deliveries_total{system=\"B\"}"), 1.0);
}

#[tokio::test]
async fn expiry_from_primary_respected_and_capped_locally() {
    let origin = Origin::start().await;
    let short = origin.script(
        "/short",
        Script::new(data(1000, 1)).header("cache-control", "max-age=1"),
    );
    let long = origin.script(
        "/long",
        Script::new(data(1000, 2)).header("cache-control", "max-age=86400"),
    );
    let p = partner_of(&origin, |c| c.cache_max_ttl = Duration::from_secs(2)).await;

    assert_eq!(get(&p.via(&short), &[]).await.header("x-cache"), "MISS");
    assert_eq!(get(&p.via(&short), &[]).await.header("x-cache"), "HIT");
    let l1 = get(&p.via(&long), &[]).await;
    assert_eq!(l1.header("x-cache"), "MISS");
    let l2 = get(&p.via(&long), &[]).await;
    assert_eq!(l2.header("x-cache"), "HIT");
    // RFC 9111 §4: the primary's Cache-Control is replayed as sent, with our Age; the
    // local cap is how long we use the copy without asking again, not what clients hear.
    assert_eq!(l2.header("cache-control"), "max-age=86400");
    assert!(l2.header("age").parse::<u64>().unwrap() <= 2);
    assert_eq!(origin.requests(), 2);

    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(
        get(&p.via(&short), &[]).await.header("x-cache"),
        "MISS",
        "primary's max-age=1 passed"
    );
    assert_eq!(
        get(&p.via(&long), &[]).await.header("x-cache"),
        "MISS",
        "local cap of 2s passed"
    );
    assert_eq!(origin.requests(), 4);
    assert!(
        eventually(Duration::from_secs(3), || p
            .metric("mcdata_cache_removals_total{cause=\"expired\"}")
            >= 1.0)
        .await
            || p.metric("mcdata_cache_removals_total{cause=\"replaced\"}") >= 1.0
    );
}

#[tokio::test]
async fn no_store_is_streamed_through_not_kept() {
    let origin = Origin::start().await;
    let body = data(300_000, 3);
    let url = origin.script(
        "/nostore",
        Script::new(body.clone()).header("cache-control", "no-store"),
    );
    let p = partner_of(&origin, |_| {}).await;
    for _ in 0..2 {
        let r = get(&p.via(&url), &[]).await;
        assert_eq!(r.header("x-cache"), "PASS");
        assert_eq!(r.header("cache-control"), "no-store");
        assert_eq!(r.bytes().as_ref(), body.as_slice());
    }
    assert_eq!(origin.requests(), 2);
    assert!(
        eventually(Duration::from_secs(2), || p.stored_files().is_empty()).await,
        "{:?}",
        p.stored_files()
    );
}

#[tokio::test]
async fn upstream_break_caches_nothing_and_next_request_refetches() {
    let origin = Origin::start().await;
    let body = data(4 * 1024 * 1024, 4);
    let mut s = Script::new(body.clone()).cacheable();
    s.break_after = Some(2 * 1024 * 1024);
    let url = origin.script("/broken", s);
    let p = partner_of(&origin, |_| {}).await;

    let r = get(&p.via(&url), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "headers were already sent");
    assert!(
        r.body.is_err(),
        "the body must end in an error, not cleanly"
    );
    assert!(
        eventually(Duration::from_secs(2), || p.stored_files().is_empty()).await,
        "no cached copy and no staging leftovers: {:?}",
        p.stored_files()
    );
    assert_eq!(
        p.metric("mcdata_upstream_failures_total{reason=\"body\"}"),
        1.0
    );

    origin.script("/broken", Script::new(body.clone()).cacheable());
    let r = get(&p.via(&url), &[]).await;
    assert_eq!(r.header("x-cache"), "MISS");
    assert_eq!(r.bytes().as_ref(), body.as_slice());
    assert_eq!(get(&p.via(&url), &[]).await.header("x-cache"), "HIT");
    assert_eq!(origin.requests(), 2);
}

#[tokio::test]
async fn short_body_without_break_and_bad_digest_are_errors() {
    let origin = Origin::start().await;
    // The digest announced does not match the bytes.
    let url = origin.script(
        "/digest",
        Script::new(data(100_000, 5)).header(
            "repr-digest",
            "sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:",
        ),
    );
    let p = partner_of(&origin, |_| {}).await;
    let r = get(&p.via(&url), &[]).await;
    assert!(r.body.is_err(), "digest mismatch must not end cleanly");
    assert_eq!(
        p.metric("mcdata_upstream_failures_total{reason=\"digest\"}"),
        1.0
    );
    assert!(eventually(Duration::from_secs(2), || p.stored_files().is_empty()).await);
}

#[tokio::test]
async fn digest_is_computed_only_to_check_the_primarys_and_then_served() {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let origin = Origin::start().await;
    let body = data(1_500_000, 8);
    let sha = Sha256::digest(&body);
    let b64 = base64::engine::general_purpose::STANDARD.encode(sha);
    let signed = origin.script(
        "/signed",
        Script::new(body.clone())
            .cacheable()
            .header("repr-digest", &format!("sha-256=:{b64}:")),
    );
    // No digest and no ETag: checked by its length alone, and given an ETag of its own.
    let plain = origin.script("/plain", Script::new(body.clone()).cacheable());
    let p = partner_of(&origin, |c| c.cache_memory_bytes = 0).await;

    let cases = [(&signed, Some(format!("sha-256=:{b64}:"))), (&plain, None)];
    for (stored, (url, digest)) in cases.into_iter().enumerate() {
        let miss = get(&p.via(url), &[]).await;
        assert_eq!(miss.header("x-cache"), "MISS");
        assert_eq!(miss.bytes().as_ref(), body.as_slice());
        let entries = (stored + 1) as f64;
        assert!(
            eventually(Duration::from_secs(5), || p.metric("mcdata_cache_entries")
                == entries)
            .await
        );
        let hit = get(&p.via(url), &[]).await;
        assert_eq!(hit.header("x-cache"), "HIT", "{url}");
        assert_eq!(hit.bytes().as_ref(), body.as_slice());
        let served = hit
            .headers
            .get("repr-digest")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(served, digest, "{url}");
        let etag = hit.header("etag").to_string();
        assert!(
            etag.starts_with('"') && etag.len() > 2,
            "strong ETag: {etag}"
        );
        if digest.is_some() {
            assert_eq!(etag, format!("\"{}\"", mcdata::support::hex::to_hex(&sha)));
        }
        assert_eq!(get(&p.via(url), &[]).await.header("etag"), etag, "stable");
        let r = get(&p.via(url), &[("if-none-match", etag.as_str())]).await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    }
    assert_eq!(origin.requests(), 2);
}

#[tokio::test]
async fn unreachable_primary_is_a_502_with_a_reason() {
    let l = bind().await;
    let t = tempfile::tempdir().unwrap();
    let mut c = base_config("P", l.local_addr().unwrap(), t.path());
    // Nothing listens on port 9 of loopback.
    c.peers.push(mcdata::content_server::config::Peer {
        system_id: "Z".into(),
        content_server: "http://127.0.0.1:9".into(),
        credential: "zzzzzzzzzz".into(),
    });
    let p = start(l, c, Some(t)).await;
    let r = get(&p.via("http://127.0.0.1:9/files/x"), &[]).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(r.json()["reason"]
        .as_str()
        .unwrap()
        .contains("cannot reach"));
    assert_eq!(
        p.metric("mcdata_upstream_failures_total{reason=\"connect\"}"),
        1.0
    );
}

#[tokio::test]
async fn origin_errors_are_passed_on_with_reasons() {
    let origin = Origin::start().await;
    let p = partner_of(&origin, |_| {}).await;
    let r = get(&p.via(&format!("{}/missing", origin.base)), &[]).await;
    // RFC 9110 §15: the primary's status and body are passed on, not rewritten.
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.bytes().as_ref(), b"not here");
    assert_eq!(r.header("x-cache"), "PASS");
}

#[tokio::test]
async fn ranges_and_conditionals_on_miss_and_hit() {
    let origin = Origin::start().await;
    let body = data(1024 * 1024, 6);
    let mut s = Script::new(body.clone())
        .header("etag", "\"v1\"")
        .header("cache-control", "max-age=600");
    s.chunk = 64 * 1024;
    s.delay = Duration::from_millis(5);
    let url = origin.script("/r", s);
    let p = partner_of(&origin, |_| {}).await;

    // Range on a miss: answered from the fill as bytes arrive.
    let r = get(&p.via(&url), &[("range", "bytes=1000-1999")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header("x-cache"), "MISS");
    assert_eq!(r.header("content-range"), "bytes 1000-1999/1048576");
    assert_eq!(r.bytes().as_ref(), &body[1000..2000]);
    // The fill went on for the whole object: the next one is a hit.
    assert!(
        eventually(Duration::from_secs(5), || p.metric("mcdata_cache_entries")
            == 1.0)
        .await
    );
    let r = get(&p.via(&url), &[("range", "bytes=-100")]).await;
    assert_eq!(r.header("x-cache"), "HIT");
    assert_eq!(r.bytes().as_ref(), &body[body.len() - 100..]);
    let r = get(&p.via(&url), &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = get(&p.via(&url), &[("range", "bytes=5000000-")]).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(origin.requests(), 1);

    // Conditional on a miss.
    let url2 = origin.script(
        "/r2",
        Script::new(body.clone())
            .cacheable()
            .header("etag", "\"v2\""),
    );
    let r = get(&p.via(&url2), &[("if-none-match", "\"v2\"")]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert_eq!(r.header("x-cache"), "MISS");
}

#[tokio::test]
async fn delete_at_primary_purges_exactly_the_partners_holding_a_copy() {
    let (la, lb, lc) = (bind().await, bind().await, bind().await);
    let (aa, ab, ac) = (
        la.local_addr().unwrap(),
        lb.local_addr().unwrap(),
        lc.local_addr().unwrap(),
    );
    let (ta, tb, tc) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut ca = base_config("A", aa, ta.path());
    ca.peers.push(peer("B", ab, CRED_AB));
    ca.peers.push(peer("C", ac, "secret-ac-456"));
    let mut cb = base_config("B", ab, tb.path());
    cb.peers.push(peer("A", aa, CRED_AB));
    let mut cc = base_config("C", ac, tc.path());
    cc.peers.push(peer("A", aa, "secret-ac-456"));
    let a = start(la, ca, Some(ta)).await;
    let b = start(lb, cb, Some(tb)).await;
    let c = start(lc, cc, Some(tc)).await;

    let url = upload(&a, &data(50_000, 8), &[]).await;
    let other = upload(&a, &data(50_000, 9), &[]).await;
    assert_eq!(get(&b.via(&url), &[]).await.status, StatusCode::OK);
    assert_eq!(get(&c.via(&other), &[]).await.status, StatusCode::OK);
    assert_eq!(get(&b.via(&url), &[]).await.header("x-cache"), "HIT");

    let r = request(Method::DELETE, &url, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["purging"], serde_json::json!(["B"]));
    assert!(
        eventually(Duration::from_secs(5), || b
            .metric("mcdata_purges_received_total{result=\"dropped\"}")
            == 1.0)
        .await,
        "B got the purge"
    );
    assert!(
        eventually(Duration::from_secs(5), || a
            .metric("mcdata_purges_sent_total{result=\"ok\",system=\"B\"}")
            == 1.0)
        .await
    );
    assert_eq!(
        c.metric("mcdata_purges_received_total"),
        0.0,
        "C never had this file"
    );
    // B's copy is gone: the next request goes to A, which says the file was removed.
    let r = get(&b.via(&url), &[]).await;
    assert_eq!(r.status, StatusCode::GONE);
    // C keeps its copy of the other file.
    assert_eq!(get(&c.via(&other), &[]).await.header("x-cache"), "HIT");
}

#[tokio::test]
async fn unreachable_partner_purge_is_retried_and_visible() {
    let (a, mut b) = pair().await;
    let url = upload(&a, b"payload", &[]).await;
    assert_eq!(get(&b.via(&url), &[]).await.status, StatusCode::OK);
    b.stop().await;
    let r = request(Method::DELETE, &url, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        eventually(Duration::from_secs(5), || a
            .metric("mcdata_purges_sent_total{result=\"failed\",system=\"B\"}")
            >= 1.0)
        .await
    );
    assert_eq!(a.metric("mcdata_purges_pending{system=\"B\"}"), 1.0);
    assert!(
        a.stored_files().iter().any(|f| f.starts_with("purges/")),
        "the job is persisted"
    );
    b.restart().await;
    assert!(
        eventually(Duration::from_secs(8), || a
            .metric("mcdata_purges_pending{system=\"B\"}")
            == 0.0)
        .await,
        "retried until B confirmed"
    );
    assert_eq!(get(&b.via(&url), &[]).await.status, StatusCode::GONE);
}

/// Overwrite every cached body on disk with other bytes of the same length: a hit that
/// still returns the original bytes came from the in-memory tier, not from the file.
fn scribble_cached_bodies(p: &System) -> usize {
    let mut n = 0;
    for f in p.stored_files() {
        if f.starts_with("cache/") && f.ends_with(".body") {
            let path = p.dir.join(&f);
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            std::fs::write(&path, vec![b'X'; len]).unwrap();
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn small_hot_copies_are_served_from_memory_with_ranges_and_conditionals() {
    let origin = Origin::start().await;
    let body = data(3000, 11);
    let url = origin.script(
        "/small",
        Script::new(body.clone())
            .header("etag", "\"s1\"")
            .header("cache-control", "max-age=600"),
    );
    let big = data(5000, 12);
    let big_url = origin.script(
        "/big",
        Script::new(big.clone()).header("cache-control", "max-age=600"),
    );
    let p = partner_of(&origin, |c| c.cache_memory_max_object_bytes = 4096).await;

    assert_eq!(get(&p.via(&url), &[]).await.header("x-cache"), "MISS");
    assert_eq!(get(&p.via(&big_url), &[]).await.header("x-cache"), "MISS");
    assert!(
        eventually(Duration::from_secs(5), || p.metric("mcdata_cache_entries")
            == 2.0)
        .await
    );
    // The first hit reads the file and keeps the small copy in memory.
    let r = get(&p.via(&url), &[]).await;
    assert_eq!(r.header("x-cache"), "HIT");
    assert_eq!(r.bytes().as_ref(), body.as_slice());
    assert_eq!(
        get(&p.via(&big_url), &[]).await.bytes().as_ref(),
        big.as_slice()
    );
    assert_eq!(scribble_cached_bodies(&p), 2);

    // From memory: the original bytes, whole, as a range, and conditionals answered.
    let r = get(&p.via(&url), &[]).await;
    assert_eq!((r.status, r.header("x-cache")), (StatusCode::OK, "HIT"));
    assert_eq!(r.bytes().as_ref(), body.as_slice());
    assert_eq!(r.header("content-length"), "3000");
    assert_eq!(r.header("etag"), "\"s1\"");
    let r = get(&p.via(&url), &[("range", "bytes=100-199")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header("content-range"), "bytes 100-199/3000");
    assert_eq!(r.bytes().as_ref(), &body[100..200]);
    let r = get(&p.via(&url), &[("if-none-match", "\"s1\"")]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = request(Method::HEAD, &p.via(&url), &[], Bytes::new()).await;
    assert_eq!(
        (r.status, r.header("content-length")),
        (StatusCode::OK, "3000")
    );
    assert!(r.bytes().is_empty());
    // Above cache-memory-max-object-bytes: read from the file every time.
    let r = get(&p.via(&big_url), &[]).await;
    assert_eq!(r.header("x-cache"), "HIT");
    assert_eq!(r.bytes().as_ref(), vec![b'X'; 5000].as_slice());

    assert_eq!(origin.requests(), 2);
    assert_eq!(p.metric("mcdata_cache_requests_total{result=\"hit\"}"), 7.0);
    // Misses 3000 + 5000, then hits 3000, 5000, 3000, 100, (304), (HEAD), 5000.
    let served = 3000 + 5000 + 3000 + 5000 + 3000 + 100 + 5000;
    assert_eq!(
        p.metric("mcdata_bytes_served_total{role=\"partner\"}"),
        served as f64
    );
}

#[tokio::test]
async fn memory_tier_disabled_reads_the_file_and_purge_drops_the_memory_copy() {
    let origin = Origin::start().await;
    let body = data(2000, 13);
    let url = origin.script(
        "/x",
        Script::new(body.clone()).header("cache-control", "max-age=600"),
    );
    let off = partner_of(&origin, |c| c.cache_memory_bytes = 0).await;
    get(&off.via(&url), &[]).await;
    assert!(
        eventually(Duration::from_secs(5), || off
            .metric("mcdata_cache_entries")
            == 1.0)
        .await
    );
    assert_eq!(get(&off.via(&url), &[]).await.header("x-cache"), "HIT");
    scribble_cached_bodies(&off);
    let r = get(&off.via(&url), &[]).await;
    assert_eq!(
        r.bytes().as_ref(),
        vec![b'X'; 2000].as_slice(),
        "no memory tier"
    );

    // With the tier: a purge from the owner drops the memory copy too, so the next
    // request goes to the origin again.
    let on = partner_of(&origin, |_| {}).await;
    get(&on.via(&url), &[]).await;
    assert!(
        eventually(Duration::from_secs(5), || on.metric("mcdata_cache_entries")
            == 1.0)
        .await
    );
    assert_eq!(get(&on.via(&url), &[]).await.header("x-cache"), "HIT");
    let before = origin.requests();
    let r = request(
        Method::DELETE,
        &on.via(&url),
        &[(
            "authorization",
            &format!("Bearer {}", crate::origin::ORIGIN_CRED),
        )],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.json()["purged"], true);
    let r = get(&on.via(&url), &[]).await;
    assert_eq!(r.header("x-cache"), "MISS");
    assert_eq!(r.bytes().as_ref(), body.as_slice());
    assert_eq!(origin.requests(), before + 1);
}

/// Hits on copies above the in-memory tier's limit go out with sendfile, in segments of
/// at most 4 MiB: several responses in a row on one connection (whole, ranges across a
/// segment boundary, HEAD) carry exactly the stored bytes.
#[tokio::test]
async fn file_hits_sent_with_sendfile_keep_order_on_one_connection() {
    use http_body_util::{BodyExt, Empty};
    let origin = Origin::start().await;
    let body = data(9 * 1024 * 1024 + 77, 14);
    let url = origin.script(
        "/big",
        Script::new(body.clone()).header("cache-control", "max-age=600"),
    );
    let p = partner_of(&origin, |_| {}).await;
    assert_eq!(get(&p.via(&url), &[]).await.bytes().len(), body.len());
    assert!(
        eventually(Duration::from_secs(5), || p.metric("mcdata_cache_entries")
            == 1.0)
        .await
    );

    let addr = p.running.as_ref().unwrap().addr();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let target = format!("/{url}");
    let cases: [(Method, Option<&str>, std::ops::Range<usize>); 5] = [
        (Method::GET, None, 0..body.len()),
        (
            Method::GET,
            Some("bytes=4194000-4194999"),
            4_194_000..4_195_000,
        ),
        (Method::HEAD, None, 0..0),
        (
            Method::GET,
            Some("bytes=-5000000"),
            body.len() - 5_000_000..body.len(),
        ),
        (Method::GET, None, 0..body.len()),
    ];
    for (method, range, want) in cases {
        let mut req = http::Request::builder()
            .method(method.clone())
            .uri(&target)
            .header("host", addr.to_string());
        if let Some(r) = range {
            req = req.header("range", r);
        }
        let resp = send
            .send_request(req.body(Empty::<Bytes>::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-cache"], "HIT");
        let got = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(
            got.as_ref() == &body[want.clone()],
            "{method} {range:?}: wrong bytes"
        );
    }
    assert_eq!(origin.requests(), 1);
}

/// Issue "4 of 6", item 8: a fill whose client finishes during the shutdown's grace period
/// is still published: the copy survives the stop and is a hit after the restart.
#[tokio::test]
async fn a_fill_that_completes_during_shutdown_is_kept() {
    let origin = Origin::start().await;
    let body = data(600_000, 17);
    let mut s = Script::new(body.clone()).cacheable();
    s.chunk = 60_000;
    s.delay = Duration::from_millis(60);
    let url = origin.script("/slow", s);
    let mut p = partner_of(&origin, |_| {}).await;
    let target = p.via(&url);
    let client = tokio::spawn(async move { get(&target, &[]).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    p.stop().await;
    let r = client.await.unwrap();
    assert_eq!(r.bytes().as_ref(), body.as_slice(), "the download finished");
    assert!(
        p.stored_files().iter().any(|f| f.ends_with(".meta")),
        "the copy was published before the stop returned: {:?}",
        p.stored_files()
    );
    p.restart().await;
    assert_eq!(get(&p.via(&url), &[]).await.header("x-cache"), "HIT");
    assert_eq!(origin.requests(), 1);
}
