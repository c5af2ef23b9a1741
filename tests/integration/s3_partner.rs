//! The partner on S3 (s3s-fs), alone and as two instances on one bucket: miss then hit,
//! restart rebuilding the index from a listing, expiry while down, the byte budget, an
//! aborted multipart upload, and serving through a failed store.

use std::time::Duration;

use http::StatusCode;

use crate::harness::*;
use crate::origin::{Origin, Script};
use crate::s3::S3Server;

const BUCKET: &str = "mcdata";
const PREFIX: &str = "partner-p";

/// Partner instances of one system on one bucket, with their S3 server and spool dirs.
struct Fleet {
    s3: S3Server,
    partners: Vec<System>,
    spools: Vec<tempfile::TempDir>,
}

impl Fleet {
    async fn start(
        test: &str,
        origin: &Origin,
        n: usize,
        tweak: impl Fn(&mut mcdata::content_server::config::ContentServerConfig),
    ) -> Option<Fleet> {
        let s3 = S3Server::start(test).await?;
        let dir = s3.bucket(BUCKET, PREFIX);
        let mut partners = Vec::new();
        let mut spools = Vec::new();
        for _ in 0..n {
            let spool = tempfile::tempdir().unwrap();
            let mut p = partner_of(origin, |c| {
                s3.configure(c, BUCKET, PREFIX);
                c.spool_dir = Some(spool.path().to_path_buf());
                tweak(c);
            })
            .await;
            p.dir = dir.clone();
            partners.push(p);
            spools.push(spool);
        }
        Some(Fleet {
            s3,
            partners,
            spools,
        })
    }

    fn p(&self, i: usize) -> &System {
        &self.partners[i % self.partners.len()]
    }

    async fn restart_all(&mut self) {
        for p in &mut self.partners {
            p.stop().await;
        }
        // The last instance starts first: it must see what the others stored.
        for p in self.partners.iter_mut().rev() {
            p.restart().await;
        }
    }

    /// Bodies in the bucket.
    fn bodies(&self) -> Vec<String> {
        let p = &self.partners[0];
        p.stored_files()
            .into_iter()
            .filter(|f| f.ends_with(".body"))
            .collect()
    }

    /// Every spool directory is empty: spool files never have a name.
    fn assert_spools_empty(&self) {
        for s in &self.spools {
            assert_eq!(std::fs::read_dir(s.path()).unwrap().count(), 0);
        }
    }
}

/// GET through `p`, then wait until its fills are over (published or dropped): a client
/// has the whole body before the copy is stored.
async fn fetch(p: &System, url: &str) -> Resp {
    let r = get(&p.via(url), &[]).await;
    settle(p).await;
    r
}

async fn settle(p: &System) {
    assert!(
        eventually(Duration::from_secs(10), || p
            .metric("mcdata_fills_in_flight")
            == 0.0)
        .await,
        "fills still running"
    );
}

fn cached(body: Vec<u8>) -> Script {
    Script::new(body).header("cache-control", "max-age=600")
}

async fn restart_rebuilds_from_listing(n: usize) {
    let origin = Origin::start().await;
    let small = data(3 * 1024 * 1024 + 5, 1);
    let large = data(12 * 1024 * 1024 + 7, 2);
    let u_small = origin.script("/small", cached(small.clone()).header("etag", "\"s1\""));
    let u_large = origin.script("/large", cached(large.clone()));
    let Some(mut f) = Fleet::start("restart_rebuilds_from_listing", &origin, n, |_| {}).await
    else {
        return;
    };
    let first = fetch(f.p(0), &u_small).await;
    assert_eq!(first.header("x-cache"), "MISS");
    assert!(first.bytes().as_ref() == small.as_slice());
    let first = fetch(f.p(0), &u_large).await;
    assert_eq!(first.header("x-cache"), "MISS");
    assert!(first.bytes().as_ref() == large.as_slice());
    let hit = fetch(f.p(0), &u_large).await;
    assert_eq!(hit.header("x-cache"), "HIT");
    assert!(hit.bytes().as_ref() == large.as_slice());
    let range = get(&f.p(0).via(&u_large), &[("range", "bytes=9000000-9000099")]).await;
    assert_eq!(range.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.bytes().as_ref(), &large[9_000_000..9_000_100]);
    assert_eq!(f.bodies().len(), 2, "{:?}", f.p(0).stored_files());
    assert_eq!(origin.requests(), 2);

    f.restart_all().await;
    for i in 0..n {
        let p = f.p(i);
        // Issue 11: an instance indexes only its own copies at start (it would otherwise go
        // over its budget with other instances' copies and delete them); instance 0 stored
        // both, and the other finds them in the bucket on its first miss.
        let own = if i == 0 { 2.0 } else { 0.0 };
        assert_eq!(p.metric("mcdata_cache_entries"), own, "instance {i}");
        let r = fetch(p, &u_small).await;
        assert_eq!(r.header("x-cache"), "HIT", "instance {i}");
        assert!(r.bytes().as_ref() == small.as_slice());
        let r = get(&p.via(&u_small), &[("if-none-match", "\"s1\"")]).await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);
        let r = request(
            http::Method::HEAD,
            &p.via(&u_large),
            &[],
            bytes::Bytes::new(),
        )
        .await;
        assert_eq!(r.header("content-length"), large.len().to_string());
    }
    assert_eq!(
        origin.requests(),
        2,
        "every instance served from the bucket"
    );
    f.assert_spools_empty();
}

#[tokio::test]
async fn s3_miss_hit_and_restart_rebuilds_from_listing() {
    restart_rebuilds_from_listing(1).await;
}

#[tokio::test]
async fn s3_two_partners_share_entries_through_the_bucket() {
    restart_rebuilds_from_listing(2).await;
}

async fn expired_while_down_are_deleted(n: usize) {
    let origin = Origin::start().await;
    let short = origin.script(
        "/short",
        Script::new(data(9 * 1024 * 1024, 3)).header("cache-control", "max-age=1"),
    );
    let long = origin.script("/long", cached(data(1000, 4)));
    let Some(mut f) = Fleet::start("expired_while_down", &origin, n, |_| {}).await else {
        return;
    };
    assert_eq!(fetch(f.p(0), &short).await.header("x-cache"), "MISS");
    assert_eq!(fetch(f.p(n - 1), &long).await.header("x-cache"), "MISS");
    assert_eq!(f.bodies().len(), 2);
    for p in &mut f.partners {
        p.stop().await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The last instance starts first and deletes what expired, whoever stored it.
    f.partners[n - 1].restart().await;
    assert_eq!(f.bodies().len(), 1, "{:?}", f.p(0).stored_files());
    assert_eq!(
        f.p(0).stored_files().len(),
        2,
        "the live body and its sidecar"
    );
    for p in f.partners.iter_mut().take(n - 1) {
        p.restart().await;
    }
    assert_eq!(fetch(f.p(0), &long).await.header("x-cache"), "HIT");
}

#[tokio::test]
async fn s3_entries_expired_while_down_are_deleted_at_start() {
    expired_while_down_are_deleted(1).await;
}

#[tokio::test]
async fn s3_two_partners_expired_while_down_are_deleted_at_start() {
    expired_while_down_are_deleted(2).await;
}

async fn budget_eviction_deletes_objects(n: usize) {
    let origin = Origin::start().await;
    let bodies: Vec<Vec<u8>> = (0..4).map(|i| data(2 * 1024 * 1024, 10 + i)).collect();
    let urls: Vec<String> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| origin.script(&format!("/b{i}"), cached(b.clone())))
        .collect();
    let budget = 5 * 1024 * 1024;
    let Some(mut f) = Fleet::start("budget_eviction", &origin, n, |c| {
        c.cache_max_bytes = budget
    })
    .await
    else {
        return;
    };
    for (i, u) in urls.iter().enumerate() {
        let r = fetch(f.p(0), u).await;
        assert!(r.bytes().as_ref() == bodies[i].as_slice());
    }
    let within = |f: &Fleet| {
        let total: u64 = f
            .bodies()
            .iter()
            .map(|b| std::fs::metadata(f.p(0).dir.join(b)).map_or(0, |m| m.len()))
            .sum();
        total <= budget
    };
    assert!(
        eventually(Duration::from_secs(5), || within(&f)).await,
        "bucket over budget: {:?}",
        f.bodies()
    );
    assert!(
        f.p(0)
            .metric("mcdata_cache_removals_total{cause=\"evicted\"}")
            >= 1.0
    );
    if n > 1 {
        // Issue 11: a restarting instance indexes only its own copies (none here), so it
        // cannot go over its budget with the first one's and delete them ...
        f.partners[1].restart().await;
        assert_eq!(f.p(1).metric("mcdata_cache_entries"), 0.0);
        // ... it finds them in the bucket on a miss, and when the first evicts one of them,
        // the second refetches it: correct body.
        for (i, u) in urls.iter().enumerate().rev() {
            let r = fetch(f.p(0), u).await;
            assert!(r.bytes().as_ref() == bodies[i].as_slice());
        }
        for (i, u) in urls.iter().enumerate() {
            let r = fetch(f.p(1), u).await;
            assert_eq!(r.status, StatusCode::OK);
            assert!(
                r.bytes().as_ref() == bodies[i].as_slice(),
                "instance 1, body {i}"
            );
        }
        assert!(
            eventually(Duration::from_secs(5), || f.bodies().len() <= 4).await,
            "each instance within its budget: {:?}",
            f.bodies()
        );
    }
    f.assert_spools_empty();
}

#[tokio::test]
async fn s3_budget_eviction_deletes_objects() {
    budget_eviction_deletes_objects(1).await;
}

#[tokio::test]
async fn s3_two_partners_budget_eviction() {
    budget_eviction_deletes_objects(2).await;
}

async fn broken_upstream_aborts_multipart(n: usize) {
    let origin = Origin::start().await;
    let body = data(20 * 1024 * 1024, 5);
    let mut s = cached(body.clone());
    s.chunk = 512 * 1024;
    s.delay = Duration::from_millis(5);
    s.break_after = Some(14 * 1024 * 1024);
    let url = origin.script("/broken", s);
    let Some(f) = Fleet::start("broken_upstream", &origin, n, |_| {}).await else {
        return;
    };
    let mut tasks = Vec::new();
    for i in 0..n {
        let target = f.p(i).via(&url);
        tasks.push(tokio::spawn(async move { get(&target, &[]).await }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "headers were already sent");
        assert!(r.body.is_err(), "the body must end in an error");
    }
    assert!(
        eventually(Duration::from_secs(5), || f.p(0).stored_files().is_empty()
            && f.s3.pending_uploads().is_empty())
        .await,
        "no object and no multipart upload left: {:?} {:?}",
        f.p(0).stored_files(),
        f.s3.pending_uploads()
    );
    for i in 0..n {
        assert_eq!(
            f.p(i)
                .metric("mcdata_upstream_failures_total{reason=\"body\"}"),
            1.0
        );
    }
    origin.script("/broken", cached(body.clone()));
    let r = fetch(f.p(0), &url).await;
    assert_eq!(r.header("x-cache"), "MISS");
    assert!(r.bytes().as_ref() == body.as_slice());
    f.assert_spools_empty();
}

#[tokio::test]
async fn s3_broken_upstream_aborts_the_multipart_upload() {
    broken_upstream_aborts_multipart(1).await;
}

#[tokio::test]
async fn s3_two_partners_broken_upstream_abort_their_uploads() {
    broken_upstream_aborts_multipart(2).await;
}

async fn store_failure_passes_through(n: usize) {
    let origin = Origin::start().await;
    let kept = data(100_000, 6);
    let small = data(3 * 1024 * 1024, 7);
    let large = data(18 * 1024 * 1024 + 3, 8);
    let u_kept = origin.script("/kept", cached(kept.clone()));
    let u_small = origin.script("/small", cached(small.clone()));
    let u_large = origin.script("/large", cached(large.clone()));
    let Some(mut f) = Fleet::start("store_failure", &origin, n, |c| {
        c.store_retry_after = Duration::from_secs(2);
        // A second instance finds the first one's copy and would keep serving it from
        // memory: this test is about the store.
        c.cache_memory_bytes = 0;
    })
    .await
    else {
        return;
    };
    for i in 0..n {
        assert_eq!(fetch(f.p(i), &u_kept).await.status, StatusCode::OK);
    }
    f.s3.kill();
    for i in 0..n {
        let p = f.p(i);
        // The indexed copy cannot be read: the store rests, and every request, for a
        // kept copy or not, is streamed whole from the primary without keeping a copy.
        for (u, want) in [(&u_kept, &kept), (&u_small, &small), (&u_large, &large)] {
            let r = fetch(p, u).await;
            assert_eq!(r.status, StatusCode::OK, "instance {i} {u}");
            assert_eq!(r.header("x-cache"), "PASS", "instance {i} {u}");
            assert!(r.bytes().as_ref() == want.as_slice(), "instance {i} {u}");
        }
        assert_eq!(p.metric("mcdata_store_degraded"), 1.0);
        assert_eq!(p.metric("mcdata_store_bypassed_fills_total"), 3.0);
        assert_eq!(p.metric("mcdata_store_errors_total{op=\"open\"}"), 1.0);
    }
    f.assert_spools_empty();
    // The store comes back: after the rest, fills keep their copies again.
    f.s3.revive().await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for i in 0..n {
        let p = f.p(i);
        let r = fetch(p, &u_small).await;
        assert!(r.bytes().as_ref() == small.as_slice());
        assert_eq!(
            fetch(p, &u_small).await.header("x-cache"),
            "HIT",
            "instance {i}"
        );
        assert_eq!(p.metric("mcdata_store_degraded"), 0.0);
    }
}

#[tokio::test]
async fn s3_store_failure_streams_from_the_primary_without_a_copy() {
    store_failure_passes_through(1).await;
}

#[tokio::test]
async fn s3_two_partners_store_failure_pass_through() {
    store_failure_passes_through(2).await;
}

#[tokio::test]
async fn s3_store_dying_mid_fill_still_serves_whole_bodies() {
    let origin = Origin::start().await;
    let body = data(18 * 1024 * 1024 + 9, 9);
    let mut s = cached(body.clone());
    s.chunk = 512 * 1024;
    s.delay = Duration::from_millis(20);
    let url = origin.script("/slow", s);
    let Some(mut f) = Fleet::start("store_dying_mid_fill", &origin, 1, |_| {}).await else {
        return;
    };
    let target = f.p(0).via(&url);
    let first = tokio::spawn({
        let t = target.clone();
        async move { get(&t, &[]).await }
    });
    assert!(
        eventually(Duration::from_secs(10), || f
            .p(0)
            .metric("mcdata_upstream_bytes_total")
            >= 2.0 * 1024.0 * 1024.0)
        .await
    );
    f.s3.kill();
    let joined = get(&target, &[]).await;
    let first = first.await.unwrap();
    for r in [&first, &joined] {
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.bytes().as_ref() == body.as_slice(), "whole, correct body");
    }
    assert_eq!(
        first.header("x-cache"),
        "MISS",
        "the store failed after the head"
    );
    settle(f.p(0)).await;
    let p = f.p(0);
    let errors = p.metric("mcdata_store_errors_total{op=\"write\"}")
        + p.metric("mcdata_store_errors_total{op=\"finish\"}");
    assert!(errors >= 1.0, "{}", p.metrics());
    assert_eq!(p.metric("mcdata_store_bypassed_fills_total"), 1.0);
    assert_eq!(p.metric("mcdata_cache_entries"), 0.0);
    assert!(p.stored_files().is_empty(), "{:?}", p.stored_files());
    f.assert_spools_empty();
}
