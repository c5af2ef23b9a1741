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
