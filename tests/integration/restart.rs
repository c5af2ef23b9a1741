//! Restart: stored files, their expiry, cached copies and delivery records survive.

use std::time::Duration;

use http::StatusCode;

use crate::harness::*;

#[tokio::test]
async fn files_expiry_copies_and_records_survive_a_restart() {
    let (mut a, mut b) = pair().await;
    let body = data(700_000, 21);
    let url = upload(&a, &body, &[("x-mcdata-availability", "1h")]).await;
    let short = upload(&a, b"short", &[("x-mcdata-availability", "2s")]).await;
    let before = get(&url, &[]).await;
    assert_eq!(get(&b.via(&url), &[]).await.header("x-cache"), "MISS");
    let cached_before = get(&b.via(&url), &[]).await;
    assert_eq!(cached_before.header("x-cache"), "HIT");

    a.restart().await;
    b.restart().await;
    let after = get(&url, &[]).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(after.bytes().as_ref(), body.as_slice());
    assert_eq!(
        after.header("expires"),
        before.header("expires"),
        "expiry kept"
    );
    let hit = get(&b.via(&url), &[]).await;
    assert_eq!(hit.header("x-cache"), "HIT", "the partner's copy survived");
    assert_eq!(hit.bytes().as_ref(), body.as_slice());
    assert_eq!(hit.header("expires"), cached_before.header("expires"));
    let rec = get(&format!("{url}/deliveries"), &[]).await.json();
    assert_eq!(rec["systems"]["B"]["count"], 1);

    // Expiry while down: the short file is gone after a restart past its availability.
    a.stop().await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    a.restart().await;
    assert_eq!(get(&short, &[]).await.status, StatusCode::GONE);
}

#[tokio::test]
async fn partner_copies_expired_while_down_are_deleted_at_start() {
    let origin = crate::origin::Origin::start().await;
    let url = origin.script(
        "/e",
        crate::origin::Script::new(data(5000, 1)).header("cache-control", "max-age=1"),
    );
    let mut p = partner_of(&origin, |_| {}).await;
    assert_eq!(get(&p.via(&url), &[]).await.header("x-cache"), "MISS");
    // The copy is published just after its last byte went out: wait for it.
    assert!(
        eventually(Duration::from_secs(5), || p
            .stored_files()
            .iter()
            .any(|f| f.ends_with(".meta")))
        .await
    );
    p.stop().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // A leftover staging file from a "crash".
    std::fs::write(p.dir.join(".staging").join("crashed-fill"), b"partial").unwrap();
    p.restart().await;
    assert!(p.stored_files().is_empty(), "{:?}", p.stored_files());
}

/// Issue 10: a copy stored by the previous version (a sidecar without the stored response
/// fields) still loads after an upgrade and is served, with the fields it modelled.
#[tokio::test]
async fn first_format_sidecars_load_after_an_upgrade() {
    let origin = crate::origin::Origin::start().await;
    let body = data(5000, 2);
    let url = origin.script(
        "/old",
        crate::origin::Script::new(body.clone())
            .header("cache-control", "max-age=600")
            .header("etag", "\"old-1\""),
    );
    let mut p = partner_of(&origin, |_| {}).await;
    assert_eq!(get(&p.via(&url), &[]).await.header("x-cache"), "MISS");
    assert!(
        eventually(Duration::from_secs(5), || p
            .stored_files()
            .iter()
            .any(|f| f.ends_with(".meta")))
        .await
    );
    p.stop().await;
    // Rewrite the sidecar as the previous version wrote it: only the modelled fields.
    let meta = p
        .stored_files()
        .into_iter()
        .find(|f| f.ends_with(".meta"))
        .unwrap();
    let path = p.dir.join(&meta);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let o = v.as_object_mut().unwrap();
    for k in [
        "format",
        "status",
        "fields",
        "response_time",
        "initial_age",
        "lifetime",
        "no_cache",
        "vary",
        "secondary",
    ] {
        o.remove(k);
    }
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    p.restart().await;
    let hit = get(&p.via(&url), &[]).await;
    assert_eq!(hit.header("x-cache"), "HIT");
    assert_eq!(hit.bytes().as_ref(), body.as_slice());
    assert_eq!(hit.header("etag"), "\"old-1\"");
    assert_eq!(hit.header("content-type"), "application/octet-stream");
    assert!(hit.header("cache-control").starts_with("max-age="));
    assert_eq!(origin.requests(), 1);
}

/// Issue "4 of 6", item 7: crash leftovers are swept at start-up. On the partner, a body of
/// this instance without its sidecar goes at once (none of its fills can still run); one of
/// another instance only after an hour. On the primary, a file body without its record
/// goes once it is older than an hour (another instance may be recording it).
#[tokio::test]
async fn crash_leftovers_are_swept_at_start() {
    let origin = crate::origin::Origin::start().await;
    let url = origin.script("/c", crate::origin::Script::new(data(3000, 5)).cacheable());
    let mut p = partner_of(&origin, |c| c.instance_id = Some("pt".into())).await;
    assert_eq!(get(&p.via(&url), &[]).await.header("x-cache"), "MISS");
    assert!(
        eventually(Duration::from_secs(5), || p
            .stored_files()
            .iter()
            .any(|f| f.ends_with(".meta")))
        .await
    );
    p.stop().await;
    let meta = p
        .stored_files()
        .into_iter()
        .find(|f| f.ends_with(".meta"))
        .unwrap();
    let folder = p.dir.join(&meta).parent().unwrap().to_path_buf();
    let ours = folder.join("pt_crashed.body");
    let theirs = folder.join("other_crashed.body");
    std::fs::write(&ours, b"partial").unwrap();
    std::fs::write(&theirs, b"partial").unwrap();
    let files = p.dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let stale = files.join("00000000-0000-4000-8000-000000000001.body");
    let fresh = files.join("00000000-0000-4000-8000-000000000002.body");
    for f in [&stale, &fresh] {
        std::fs::write(f, b"body without record").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    p.restart().await;
    assert!(!ours.exists(), "our own leftover body is deleted at once");
    assert!(
        theirs.exists(),
        "another instance's young body is left alone"
    );
    assert!(
        !stale.exists(),
        "a primary body without record, over an hour old"
    );
    assert!(
        fresh.exists(),
        "a young one may be an upload being recorded"
    );
    assert_eq!(get(&p.via(&url), &[]).await.header("x-cache"), "HIT");
}
