//! Several instances of one system on one bucket (issue "3 of 6"), on moto's S3 server,
//! whose conditional writes are atomic: the primary role sees every instance's uploads and
//! removals, loses no delivery record, and retires a file exactly once.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};

use crate::harness::*;
use crate::moto::Moto;

const BUCKET: &str = "mcdata-scale";
const MCDATA_CRED: &str = "content-cred-scale-1";

/// Two instances of system A on `s3://BUCKET/a`, with `partners` partner systems
/// (`P0`, `P1`, ... with credentials `cred-P0-123`, ...) and removal notices posted to
/// `notices` (a plain origin standing for the MCData server).
async fn two_primaries(
    moto: &Moto,
    partners: usize,
    notices: &crate::origin::Origin,
) -> (System, System) {
    let mut out = Vec::new();
    for n in 0..2 {
        let l = bind().await;
        let t = tempfile::tempdir().unwrap();
        let mut c = base_config("A", l.local_addr().unwrap(), t.path());
        moto.configure(&mut c, BUCKET, "a");
        c.spool_dir = Some(t.path().join("spool"));
        c.instance_id = Some(format!("a{n}"));
        c.mcdata_server = Some(notices.base.clone());
        c.mcdata_server_credential = Some(mcdata::config::Secret(MCDATA_CRED.into()));
        for p in 0..partners {
            c.peers.push(mcdata::content_server::config::Peer {
                system_id: format!("P{p}"),
                content_server: format!("http://127.0.0.1:{}", 9 + p),
                credential: format!("cred-P{p}-123"),
            });
        }
        out.push(start(l, c, Some(t)).await);
    }
    let b = out.pop().unwrap();
    let a = out.pop().unwrap();
    (a, b)
}

/// The same file through the other instance.
fn through(other: &System, url: &str) -> String {
    let path = &url[url.find("/files/").unwrap()..];
    format!("{}{path}", other.base())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_removals_are_seen_by_every_instance() {
    let Some(moto) = Moto::start("uploads_and_removals_are_seen_by_every_instance", BUCKET).await
    else {
        return;
    };
    let notices = crate::origin::Origin::start().await;
    notices.script("/content/removals", crate::origin::Script::new(Vec::new()));
    let (a1, a2) = two_primaries(&moto, 0, &notices).await;
    let body = data(300_000, 61);
    let url = upload(&a1, &body, &[]).await;
    // Read through: instance 2 never saw the upload, and serves it at once.
    let r = get(&through(&a2, &url), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes().as_ref(), body.as_slice());
    // Removed through instance 2: instance 1 answers 410 (its record is re-read).
    let r = request(Method::DELETE, &through(&a2, &url), &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&url, &[]).await.status, StatusCode::GONE);
    let r = request(Method::DELETE, &url, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::GONE, "removed once");
    // An unknown id is 404 on both.
    let missing = url.replace(&url[url.len() - 12..], "000000000000");
    assert_eq!(get(&missing, &[]).await.status, StatusCode::NOT_FOUND);
    assert!(
        eventually(Duration::from_secs(5), || notices.requests() >= 1).await,
        "the removal was told"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(notices.requests(), 1, "exactly one removal notice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retrieves_through_both_instances_lose_no_delivery() {
    let Some(moto) = Moto::start(
        "concurrent_retrieves_through_both_instances_lose_no_delivery",
        BUCKET,
    )
    .await
    else {
        return;
    };
    let notices = crate::origin::Origin::start().await;
    notices.script("/content/removals", crate::origin::Script::new(Vec::new()));
    let (a1, a2) = two_primaries(&moto, 10, &notices).await;
    let url = upload(&a1, &data(2000, 62), &[]).await;
    let targets = Arc::new([url.clone(), through(&a2, &url)]);
    let mut tasks = Vec::new();
    for i in 0..200usize {
        let targets = targets.clone();
        tasks.push(tokio::spawn(async move {
            let auth = format!("Bearer cred-P{}-123", i % 10);
            let r = get(&targets[i % 2], &[("authorization", auth.as_str())]).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.bytes().len(), 2000);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = |rec: &serde_json::Value| -> u64 {
        rec["systems"]
            .as_object()
            .unwrap()
            .values()
            .map(|d| d["count"].as_u64().unwrap())
            .sum()
    };
    // Delivery records are written as each body completes: wait for the last ones.
    let deliveries = format!("{}/deliveries", through(&a2, &url));
    let end = std::time::Instant::now() + Duration::from_secs(10);
    let mut rec = get(&deliveries, &[]).await.json();
    while total(&rec) < 200 && std::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rec = get(&deliveries, &[]).await.json();
    }
    assert_eq!(total(&rec), 200, "200 retrieves recorded: {rec}");
    assert_eq!(rec["systems"].as_object().unwrap().len(), 10);
    for d in rec["systems"].as_object().unwrap().values() {
        assert_eq!(d["count"], 20);
    }
    // The removal purges all ten systems, exactly once.
    let r = request(Method::DELETE, &url, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["purging"].as_array().unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_expires_exactly_once_across_instances() {
    let Some(moto) = Moto::start("a_file_expires_exactly_once_across_instances", BUCKET).await
    else {
        return;
    };
    let notices = crate::origin::Origin::start().await;
    notices.script("/content/removals", crate::origin::Script::new(Vec::new()));
    let (a1, a2) = two_primaries(&moto, 0, &notices).await;
    let url = upload(&a1, b"short-lived", &[("x-mcdata-availability", "2s")]).await;
    // Both instances know the file (instance 2 through a read).
    assert_eq!(get(&through(&a2, &url), &[]).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(get(&url, &[]).await.status, StatusCode::GONE);
    assert_eq!(get(&through(&a2, &url), &[]).await.status, StatusCode::GONE);
    assert!(eventually(Duration::from_secs(5), || notices.requests() >= 1).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        notices.requests(),
        1,
        "one expiry notice, from one instance"
    );
    drop((a1, a2));
}

/// Three instances of partner system P on `s3://BUCKET/p`, in front of the plain origin
/// `o` (system O); each lists the others in `instances` when `forward` is set; and `tweak`.
async fn three_partners(
    moto: &Moto,
    o: &crate::plain_origin::PlainOrigin,
    forward: bool,
    tweak: impl Fn(usize, &mut mcdata::content_server::config::ContentServerConfig),
) -> Vec<System> {
    let listeners = [bind().await, bind().await, bind().await];
    let addrs: Vec<_> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let mut out = Vec::new();
    for (n, l) in listeners.into_iter().enumerate() {
        let t = tempfile::tempdir().unwrap();
        let mut c = base_config("P", addrs[n], t.path());
        moto.configure(&mut c, BUCKET, "p");
        c.spool_dir = Some(t.path().join("spool"));
        c.instance_id = Some(format!("p{n}"));
        c.peers
            .push(peer("O", o.addr, crate::plain_origin::PLAIN_CRED));
        if forward {
            c.instances = addrs
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != n)
                .map(|(_, a)| format!("http://{a}"))
                .collect();
        }
        tweak(n, &mut c);
        out.push(start(l, c, Some(t)).await);
    }
    out
}

fn cacheable(body: Vec<u8>) -> crate::plain_origin::Reply {
    crate::plain_origin::Reply::ok(body).headers(&[("cache-control", "max-age=600")])
}

async fn settled(p: &System) {
    eventually(Duration::from_secs(5), || {
        p.metric("mcdata_fills_in_flight") == 0.0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_published_by_one_partner_instance_is_a_hit_on_another() {
    let Some(moto) = Moto::start(
        "a_copy_published_by_one_partner_instance_is_a_hit_on_another",
        BUCKET,
    )
    .await
    else {
        return;
    };
    let o = crate::plain_origin::PlainOrigin::start().await;
    let body = data(200_000, 71);
    let url = o.always("/shared", cacheable(body.clone()));
    let ps = three_partners(&moto, &o, false, |_, _| {}).await;
    assert_eq!(get(&ps[0].via(&url), &[]).await.header("x-cache"), "MISS");
    settled(&ps[0]).await;
    for p in &ps[1..] {
        let r = get(&p.via(&url), &[]).await;
        assert_eq!(r.header("x-cache"), "HIT", "found in the bucket");
        assert_eq!(r.bytes().as_ref(), body.as_slice());
    }
    assert_eq!(o.requests(), 1, "one upstream fetch for three instances");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_through_one_partner_instance_closes_everywhere() {
    let Some(moto) = Moto::start(
        "a_purge_through_one_partner_instance_closes_everywhere",
        BUCKET,
    )
    .await
    else {
        return;
    };
    for forward in [true, false] {
        let o = crate::plain_origin::PlainOrigin::start().await;
        let old = data(4000, 72);
        let new = data(4000, 73);
        // The first answer is the old file, every later one the new file: a purged copy
        // served anywhere would show the old bytes.
        let url = o.script(
            "/purged",
            vec![cacheable(old.clone()), cacheable(new.clone())],
        );
        let ps = three_partners(&moto, &o, forward, |_, _| {}).await;
        // Every instance holds the copy, in its index and its memory tier.
        for p in &ps {
            get(&p.via(&url), &[]).await;
            settled(p).await;
            let r = get(&p.via(&url), &[]).await;
            assert_eq!(r.header("x-cache"), "HIT");
            assert_eq!(r.bytes().as_ref(), old.as_slice());
        }
        assert_eq!(o.requests(), 1, "one fill, shared through the bucket");
        let r = request(
            Method::DELETE,
            &ps[1].via(&url),
            &[(
                "authorization",
                &format!("Bearer {}", crate::plain_origin::PLAIN_CRED),
            )],
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        // Forwarded: at once; through the tombstone: within a second or two.
        tokio::time::sleep(Duration::from_millis(if forward { 300 } else { 2500 })).await;
        for (n, p) in ps.iter().enumerate() {
            let r = get(&p.via(&url), &[]).await;
            assert_eq!(
                r.bytes().as_ref(),
                new.as_slice(),
                "instance {n} (forward {forward}) must not serve the purged copy ({})",
                r.header("x-cache")
            );
            settled(p).await;
        }
        assert!(o.requests() >= 2, "the origin was asked again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarting_partner_instance_deletes_no_live_copy_of_another() {
    let Some(moto) = Moto::start(
        "a_restarting_partner_instance_deletes_no_live_copy_of_another",
        BUCKET,
    )
    .await
    else {
        return;
    };
    let o = crate::plain_origin::PlainOrigin::start().await;
    // Instance 1's budget holds one 300 kB copy at most.
    let mut ps = three_partners(&moto, &o, false, |n, c| {
        if n == 1 {
            c.cache_max_bytes = 400_000;
        }
    })
    .await;
    let urls: Vec<String> = (0..3)
        .map(|i| o.always(&format!("/live{i}"), cacheable(data(300_000, 80 + i))))
        .collect();
    for u in &urls {
        assert_eq!(get(&ps[0].via(u), &[]).await.header("x-cache"), "MISS");
        settled(&ps[0]).await;
    }
    ps[1].restart().await;
    // Instance 1 adopts them one by one (over its budget), evicting its own view only.
    for u in &urls {
        get(&ps[1].via(u), &[]).await;
        settled(&ps[1]).await;
    }
    for u in &urls {
        assert_eq!(
            get(&ps[0].via(u), &[]).await.header("x-cache"),
            "HIT",
            "instance 0's copy of {u} is still there"
        );
    }
    assert_eq!(o.requests(), 3, "no copy had to be fetched again");
}
