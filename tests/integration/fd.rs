//! The whole procedure of TS 23.282 7.5.2.4.3 across two systems, through the client
//! library, and every refusal on the way.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use mcdata::client::{
    handle_request, Decision, EventStream, FdEvent, FileInfo, HistoryQuery, McDataClient, SendFd,
};
use mcdata::fd::config::{FdPartner, FdUser};
use mcdata::system::{RunningSystem, SystemConfig};
use sha2::{Digest, Sha256};

use crate::harness::*;

pub struct Two {
    pub a: RunningSystem,
    pub b: RunningSystem,
    pub alice: McDataClient,
    pub carol: McDataClient,
    pub bob: McDataClient,
    _dirs: (tempfile::TempDir, tempfile::TempDir, tempfile::TempDir),
}

const CRED: &str = "agreement-ab-1";

fn user(id: &str, token: &str, may_send: bool) -> FdUser {
    FdUser {
        id: id.into(),
        token: token.into(),
        may_send_fd: may_send,
        may_query_history: true,
    }
}

pub async fn two_systems(
    tweak_a: impl FnOnce(&mut SystemConfig),
    tweak_b: impl FnOnce(&mut SystemConfig),
) -> Two {
    two_systems_with(false, tweak_a, tweak_b).await
}

const CONTENT_CRED_A: &str = "content-cred-a-1";

/// System A as two servers, as `mcdata content-server` and `mcdata fd-server` would run
/// them: separate stores and metrics, removals told over HTTP (`mcdata-server`).
async fn standalone(
    cl: tokio::net::TcpListener,
    fl: tokio::net::TcpListener,
    cfg: &SystemConfig,
    fd_dir: &std::path::Path,
) -> RunningSystem {
    let mut c = cfg.content();
    c.mcdata_server = Some(format!("http://{}", fl.local_addr().unwrap()));
    c.mcdata_server_credential = Some(mcdata::config::Secret(CONTENT_CRED_A.into()));
    let content = mcdata::content_server::ContentServer::start_on(cl, c)
        .await
        .expect("content server A");
    let mut f = cfg.fd(content.base());
    f.store = format!("file://{}", fd_dir.display());
    f.content_server_credential = Some(CONTENT_CRED_A.into());
    let store = mcdata::storage::open_store(&f.store, &Default::default())
        .await
        .unwrap();
    let fd = mcdata::fd::FdServer::start_on(fl, f, store, mcdata::metrics::Metrics::new().unwrap())
        .await
        .expect("MCData server A");
    RunningSystem { content, fd }
}

pub async fn two_systems_with(
    standalone_a: bool,
    tweak_a: impl FnOnce(&mut SystemConfig),
    tweak_b: impl FnOnce(&mut SystemConfig),
) -> Two {
    let (csa, fda, csb, fdb) = (bind().await, bind().await, bind().await, bind().await);
    let addr = |l: &tokio::net::TcpListener| l.local_addr().unwrap();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = SystemConfig {
        system_id: "A".into(),
        store: format!("file://{}", da.path().display()),
        ..Default::default()
    };
    a.content_server.listen = addr(&csa);
    a.content_server.fsync = false;
    a.fd_server.listen = addr(&fda);
    a.max_data_size_fd_bytes = 8 * 1024 * 1024;
    a.fd_server.max_data_size_auto_recv_bytes = 1024;
    a.users = vec![
        user("alice@a", "tok-alice-a", true),
        user("carol@a", "tok-carol-a", false),
    ];
    a.partners = vec![FdPartner {
        system_id: "B".into(),
        mcdata_server: format!("http://{}", addr(&fdb)),
        content_server: format!("http://{}", addr(&csb)),
        credential: CRED.into(),
        users: vec!["*@b".into()],
        ..Default::default()
    }];
    let mut b = SystemConfig {
        system_id: "B".into(),
        store: format!("file://{}", db.path().display()),
        ..Default::default()
    };
    b.content_server.listen = addr(&csb);
    b.content_server.fsync = false;
    b.fd_server.listen = addr(&fdb);
    b.users = vec![user("bob@b", "tok-bob-b", true)];
    b.partners = vec![FdPartner {
        system_id: "A".into(),
        mcdata_server: format!("http://{}", addr(&fda)),
        content_server: format!("http://{}", addr(&csa)),
        credential: CRED.into(),
        users: vec!["*@a".into()],
        ..Default::default()
    }];
    tweak_a(&mut a);
    tweak_b(&mut b);
    let fd_dir = tempfile::tempdir().unwrap();
    let ra = if standalone_a {
        standalone(csa, fda, &a, fd_dir.path()).await
    } else {
        RunningSystem::start_on(csa, fda, &a)
            .await
            .expect("system A")
    };
    let rb = RunningSystem::start_on(csb, fdb, &b)
        .await
        .expect("system B");
    let alice = McDataClient::new("alice@a", "tok-alice-a", ra.fd.base(), ra.content.base());
    let carol = McDataClient::new("carol@a", "tok-carol-a", ra.fd.base(), ra.content.base());
    let bob = McDataClient::new("bob@b", "tok-bob-b", rb.fd.base(), rb.content.base());
    Two {
        a: ra,
        b: rb,
        alice,
        carol,
        bob,
        _dirs: (da, db, fd_dir),
    }
}

pub async fn next(events: &mut EventStream) -> FdEvent {
    tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s")
        .expect("stream open")
        .expect("event decodes")
        .1
}

async fn nothing_within(events: &mut EventStream, d: Duration) -> bool {
    tokio::time::timeout(d, events.next()).await.is_err()
}

pub fn send(to: &str, url: &str, report: bool) -> SendFd {
    SendFd {
        to: to.into(),
        file_url: url.into(),
        metadata: None,
        conversation_id: None,
        mandatory_download: false,
        download_report: report,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_sixteen_steps_across_two_systems() {
    let t = two_systems(|_| {}, |_| {}).await;
    let mut bob_ev = t.bob.events(None).await.unwrap();
    let mut alice_ev = t.alice.events(None).await.unwrap();
    let data = data(3 * 1024 * 1024, 31);
    let sha = format!("{:x}", Sha256::digest(&data));
    // Pre-condition 2: uploaded to the primary content server (7.5.2.2).
    let up = t
        .alice
        .upload_bytes(
            Bytes::from(data.clone()),
            "scene.bin",
            "application/octet-stream",
            None,
        )
        .await
        .unwrap();
    assert_eq!(up.sha256, sha);

    // Steps 1-4: FD request with a download completed report wanted.
    let mut req = send("bob@b", &up.url, true);
    req.metadata = Some(FileInfo {
        name: Some("scene.bin".into()),
        ..Default::default()
    });
    let sent = t.alice.send_fd(&req).await.unwrap();
    assert_eq!(sent.to_system, "B");
    assert!(
        !sent.mandatory_download,
        "3 MiB is above max-data-size-auto-recv-bytes"
    );

    // Step 5: delivered to client 2, URL prefixed with the partner content server URI.
    let FdEvent::Request(incoming) = next(&mut bob_ev).await else {
        panic!("expected an FD request")
    };
    assert_eq!(incoming.message_id, sent.message_id);
    assert_eq!(incoming.conversation_id, sent.conversation_id);
    assert_eq!(incoming.from, "alice@a");
    assert_eq!(
        incoming.file_url,
        format!("{}/{}", t.b.content.base(), up.url)
    );
    assert_eq!(
        incoming.metadata.size,
        Some(data.len() as u64),
        "size as the primary content server reports it"
    );
    assert!(incoming.download_report);

    // Steps 6-9: accept, forwarded back to client 1.
    t.bob.respond(incoming.message_id, true).await.unwrap();
    match next(&mut alice_ev).await {
        FdEvent::Response {
            message_id,
            disposition,
            from,
            ..
        } => {
            assert_eq!(
                (message_id, disposition.as_str(), from.as_str()),
                (sent.message_id, "accepted", "bob@b")
            );
        }
        other => panic!("expected the FD response, got {other:?}"),
    }

    // Steps 10-13: download through the partner content server; then a hit.
    let mut sink = tokio::io::sink();
    let first = t
        .bob
        .download(&incoming.file_url, &mut sink, |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (first.sha256.as_str(), first.x_cache.as_deref()),
        (sha.as_str(), Some("MISS"))
    );
    let second = t
        .bob
        .download(&incoming.file_url, &mut sink, |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        (second.sha256.as_str(), second.x_cache.as_deref()),
        (sha.as_str(), Some("HIT"))
    );
    // Step 12: the primary content server recorded the delivery to system B.
    let rec = t.alice.deliveries(&up.url).await.unwrap();
    assert_eq!(rec["systems"]["B"]["count"], 1);

    // Steps 14-16: report, stored at both MCData servers, delivered to client 1.
    t.bob.report(incoming.message_id).await.unwrap();
    match next(&mut alice_ev).await {
        FdEvent::Report {
            message_id,
            from,
            file_url,
            ..
        } => {
            assert_eq!(
                (message_id, from.as_str(), file_url.as_str()),
                (sent.message_id, "bob@b", up.url.as_str())
            );
        }
        other => panic!("expected the report, got {other:?}"),
    }
    let by_msg = HistoryQuery {
        conversation_id: None,
        message_id: Some(sent.message_id),
        file_url: None,
    };
    let at_a = t.alice.history(&by_msg).await.unwrap();
    let at_b = t.bob.history(&by_msg).await.unwrap();
    assert_eq!(
        (
            at_a.len(),
            at_a[0].system.as_str(),
            at_a[0].reporter.as_str()
        ),
        (1, "A", "bob@b")
    );
    assert_eq!((at_b.len(), at_b[0].system.as_str()), (1, "B"));
    let by_conv = HistoryQuery {
        conversation_id: Some(sent.conversation_id),
        message_id: None,
        file_url: None,
    };
    assert_eq!(t.alice.history(&by_conv).await.unwrap().len(), 1);
    // The partner's user can name the file by the URL it knows (the prefixed one).
    let by_url = HistoryQuery {
        conversation_id: None,
        message_id: None,
        file_url: Some(incoming.file_url.clone()),
    };
    assert_eq!(t.bob.history(&by_url).await.unwrap().len(), 1);
    let by_orig = HistoryQuery {
        conversation_id: None,
        message_id: None,
        file_url: Some(up.url.clone()),
    };
    assert_eq!(t.alice.history(&by_orig).await.unwrap().len(), 1);
}

#[tokio::test]
async fn reject_path() {
    let t = two_systems(|_| {}, |_| {}).await;
    let mut bob_ev = t.bob.events(None).await.unwrap();
    let mut alice_ev = t.alice.events(None).await.unwrap();
    let up = t
        .alice
        .upload_bytes(
            Bytes::from(data(50_000, 1)),
            "x.bin",
            "application/octet-stream",
            None,
        )
        .await
        .unwrap();
    let sent = t
        .alice
        .send_fd(&send("bob@b", &up.url, true))
        .await
        .unwrap();
    let FdEvent::Request(incoming) = next(&mut bob_ev).await else {
        panic!()
    };
    let h = handle_request(&t.bob, &incoming, Decision::Reject, None, true)
        .await
        .unwrap();
    assert!(h.responded && h.download.is_none());
    match next(&mut alice_ev).await {
        FdEvent::Response {
            message_id,
            disposition,
            ..
        } => assert_eq!(
            (message_id, disposition.as_str()),
            (sent.message_id, "rejected")
        ),
        other => panic!("{other:?}"),
    }
    // Nothing was retrieved.
    let rec = t.alice.deliveries(&up.url).await.unwrap();
    assert!(rec["systems"].as_object().unwrap().is_empty());
}

#[tokio::test]
async fn ignore_path_sends_nothing() {
    let t = two_systems(|_| {}, |_| {}).await;
    let mut bob_ev = t.bob.events(None).await.unwrap();
    let mut alice_ev = t.alice.events(None).await.unwrap();
    let up = t
        .alice
        .upload_bytes(
            Bytes::from(data(50_000, 2)),
            "x.bin",
            "application/octet-stream",
            None,
        )
        .await
        .unwrap();
    t.alice
        .send_fd(&send("bob@b", &up.url, false))
        .await
        .unwrap();
    let FdEvent::Request(incoming) = next(&mut bob_ev).await else {
        panic!()
    };
    let h = handle_request(&t.bob, &incoming, Decision::Ignore, None, false)
        .await
        .unwrap();
    assert!(!h.responded);
    assert!(
        nothing_within(&mut alice_ev, Duration::from_millis(700)).await,
        "client 1 hears nothing"
    );
}

#[tokio::test]
async fn small_files_are_mandatory_downloads_and_auto_accepted() {
    let t = two_systems(|_| {}, |_| {}).await;
    let mut bob_ev = t.bob.events(None).await.unwrap();
    let mut alice_ev = t.alice.events(None).await.unwrap();
    let up = t
        .alice
        .upload_bytes(
            Bytes::from_static(b"tiny file"),
            "t.txt",
            "text/plain",
            None,
        )
        .await
        .unwrap();
    let sent = t
        .alice
        .send_fd(&send("bob@b", &up.url, true))
        .await
        .unwrap();
    assert!(
        sent.mandatory_download,
        "at or under max-data-size-auto-recv-bytes"
    );
    let FdEvent::Request(incoming) = next(&mut bob_ev).await else {
        panic!()
    };
    assert!(incoming.mandatory_download);
    let dir = tempfile::tempdir().unwrap();
    // The user would reject, but a mandatory download is accepted automatically (step 7).
    let h = handle_request(&t.bob, &incoming, Decision::Reject, Some(dir.path()), true)
        .await
        .unwrap();
    assert!(matches!(h.decision, Decision::Accept));
    assert_eq!(h.sha256_ok, Some(true));
    assert!(h.reported);
    match next(&mut alice_ev).await {
        FdEvent::Response { disposition, .. } => assert_eq!(disposition, "accepted"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(next(&mut alice_ev).await, FdEvent::Report { .. }));
}

#[tokio::test]
async fn refusals_size_sender_recipient_and_tokens() {
    let t = two_systems(|_| {}, |_| {}).await;
    let up = t
        .alice
        .upload_bytes(
            Bytes::from(data(10_000, 3)),
            "x.bin",
            "application/octet-stream",
            None,
        )
        .await
        .unwrap();
    // Size: the request names a foreign file of 9 MiB (above 8 MiB).
    let mut big = send("bob@b", "http://127.0.0.1:9/files/elsewhere", false);
    big.metadata = Some(FileInfo {
        size: Some(9 * 1024 * 1024),
        ..Default::default()
    });
    let e = t.alice.send_fd(&big).await.unwrap_err();
    assert_eq!(e.status(), Some(413));
    // A sender who may not send FD.
    let e = t
        .carol
        .send_fd(&send("bob@b", &up.url, false))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403));
    assert!(e.to_string().contains("not authorized"));
    // An unknown recipient.
    let e = t
        .alice
        .send_fd(&send("nobody@nowhere", &up.url, false))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
    // No token, a wrong token.
    let url = format!("{}/fd/requests", t.a.fd.base());
    let body = Bytes::from(
        serde_json::to_vec(&serde_json::json!({"to": "bob@b", "file_url": up.url})).unwrap(),
    );
    assert_eq!(
        request(Method::POST, &url, &[], body.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        request(
            Method::POST,
            &url,
            &[("authorization", "Bearer nope-nope")],
            body
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    // Malformed JSON gets a reason.
    let r = request(
        Method::POST,
        &url,
        &[("authorization", "Bearer tok-alice-a")],
        Bytes::from_static(b"{\"to\":"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["reason"].as_str().unwrap().contains("JSON"));
    // A report nobody asked for.
    let mut bob_ev = t.bob.events(None).await.unwrap();
    t.alice
        .send_fd(&send("bob@b", &up.url, false))
        .await
        .unwrap();
    let FdEvent::Request(incoming) = next(&mut bob_ev).await else {
        panic!()
    };
    assert_eq!(
        t.bob
            .report(incoming.message_id)
            .await
            .unwrap_err()
            .status(),
        Some(409)
    );
    // Someone else's request cannot be answered.
    assert_eq!(
        t.alice
            .respond(incoming.message_id, true)
            .await
            .unwrap_err()
            .status(),
        Some(404)
    );
}

#[tokio::test]
async fn wrong_agreement_credential_between_mcdata_servers() {
    let t = two_systems(
        |a| a.partners[0].credential = "not-the-agreement".into(),
        |_| {},
    )
    .await;
    let up = t
        .alice
        .upload_bytes(
            Bytes::from(data(10_000, 4)),
            "x.bin",
            "application/octet-stream",
            None,
        )
        .await
        .unwrap();
    let e = t
        .alice
        .send_fd(&send("bob@b", &up.url, false))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(502));
    assert!(e.to_string().contains("403"), "{e}");
    // Straight to the interconnection endpoint.
    let url = format!("{}/interconnect", t.b.fd.base());
    let r = request(
        Method::POST,
        &url,
        &[
            ("authorization", "Bearer wrong-credential"),
            ("content-type", mcdata::codec::MIME),
            ("x-mcdata-recipient", "bob@b"),
        ],
        Bytes::from_static(&[2, 0, 0, 0, 0, 0]),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // With the right credential, undecodable bytes get the decoder's reason.
    let r = request(
        Method::POST,
        &url,
        &[
            ("authorization", &format!("Bearer {CRED}")),
            ("content-type", mcdata::codec::MIME),
            ("x-mcdata-recipient", "bob@b"),
        ],
        Bytes::from_static(&[2, 0, 0, 0, 0, 0]),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["reason"].as_str().unwrap().contains("undecodable"));
}

#[tokio::test]
async fn network_notifications_after_removal_and_expiry() {
    network_notifications(&two_systems(|_| {}, |_| {}).await).await;
}

#[tokio::test]
async fn network_notifications_from_a_content_server_run_on_its_own() {
    let t = two_systems_with(true, |_| {}, |_| {}).await;
    // The route refuses anyone but this system's content server.
    let url = format!("{}/content/removals", t.a.fd.base());
    let body = Bytes::from_static(b"{\"file_url\":\"x\",\"reason\":\"expired\"}");
    for (auth, want) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("Bearer tok-alice-a"), StatusCode::FORBIDDEN),
    ] {
        let mut h = vec![("content-type", "application/json")];
        h.extend(auth.map(|a| ("authorization", a)));
        let r = request(Method::POST, &url, &h, body.clone()).await;
        assert_eq!(r.status, want);
    }
    let auth = format!("Bearer {CONTENT_CRED_A}");
    let h = [
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
    ];
    let r = request(Method::POST, &url, &h, body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "not one of A's files");
    network_notifications(&t).await;
    // Told over HTTP: the content server counted both notices as taken.
    let m = get(&format!("{}/metrics", t.a.content.base()), &[]).await;
    let text = String::from_utf8_lossy(m.bytes()).to_string();
    assert!(
        text.contains("mcdata_removal_notices_total{result=\"ok\"} 2"),
        "{text}"
    );
}

pub async fn network_notifications(t: &Two) {
    let mut bob_ev = t.bob.events(None).await.unwrap();
    let removed = t
        .alice
        .upload_bytes(
            Bytes::from(data(20_000, 5)),
            "r.bin",
            "application/octet-stream",
            None,
        )
        .await
        .unwrap();
    let expiring = t
        .alice
        .upload_bytes(
            Bytes::from(data(20_000, 6)),
            "e.bin",
            "application/octet-stream",
            Some("2s"),
        )
        .await
        .unwrap();
    let s1 = t
        .alice
        .send_fd(&send("bob@b", &removed.url, false))
        .await
        .unwrap();
    let s2 = t
        .alice
        .send_fd(&send("bob@b", &expiring.url, false))
        .await
        .unwrap();
    assert!(matches!(next(&mut bob_ev).await, FdEvent::Request(_)));
    assert!(matches!(next(&mut bob_ev).await, FdEvent::Request(_)));
    t.alice.delete_file(&removed.url).await.unwrap();
    match next(&mut bob_ev).await {
        FdEvent::NetworkNotification {
            message_id,
            kind,
            file_url,
            ..
        } => {
            assert_eq!((message_id, kind.as_str()), (s1.message_id, "deleted"));
            assert_eq!(
                file_url,
                format!("{}/{}", t.b.content.base(), removed.url),
                "the URL client 2 knows"
            );
        }
        other => panic!("{other:?}"),
    }
    match next(&mut bob_ev).await {
        FdEvent::NetworkNotification {
            message_id, kind, ..
        } => assert_eq!((message_id, kind.as_str()), (s2.message_id, "expired")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn offline_events_wait_and_last_event_id_replays() {
    let t = two_systems(|_| {}, |_| {}).await;
    let up = t
        .alice
        .upload_bytes(
            Bytes::from(data(10_000, 7)),
            "x.bin",
            "application/octet-stream",
            None,
        )
        .await
        .unwrap();
    // Bob is offline when both requests arrive.
    let s1 = t
        .alice
        .send_fd(&send("bob@b", &up.url, false))
        .await
        .unwrap();
    let s2 = t
        .alice
        .send_fd(&send("bob@b", &up.url, false))
        .await
        .unwrap();
    let mut ev = t.bob.events(None).await.unwrap();
    let (id1, e1) = tokio::time::timeout(Duration::from_secs(5), ev.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let (_, e2) = tokio::time::timeout(Duration::from_secs(5), ev.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(e1.message_id(), Some(s1.message_id));
    assert_eq!(e2.message_id(), Some(s2.message_id));
    drop(ev);
    // Reconnecting with the first id replays the second; a fresh connection gets nothing old.
    let mut replay = t.bob.events(Some(id1)).await.unwrap();
    let (_, again) = tokio::time::timeout(Duration::from_secs(5), replay.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(again.message_id(), Some(s2.message_id));
    let mut fresh = t.bob.events(None).await.unwrap();
    assert!(nothing_within(&mut fresh, Duration::from_millis(500)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_and_every_check_holds() {
    let args = mcdata::demo::DemoArgs {
        keep_running: false,
        size: 256 * 1024,
        file: None,
        interconnect: mcdata::fd::config::Interconnect::Http,
    };
    assert!(
        mcdata::demo::run(args).await.expect("demo ran"),
        "every demo check held"
    );
}

#[tokio::test]
async fn removal_notices_are_kept_until_the_mcdata_server_takes_them() {
    use mcdata::http::client::{new_body_client, tls_config};
    use mcdata::primary::notify::Notifier;
    use mcdata::primary::record::{FileRecord, FileState};
    let dir = tempfile::tempdir().unwrap();
    let store = mcdata::storage::open_store(
        &format!("file://{}", dir.path().display()),
        &Default::default(),
    )
    .await
    .unwrap();
    let client = || new_body_client(Duration::from_secs(2), tls_config(&[]));
    let metrics = mcdata::metrics::Metrics::new().unwrap();
    // The MCData server is down: the notice is kept in the store and retried.
    let down = bind().await;
    let down_uri = format!("http://{}", down.local_addr().unwrap());
    drop(down);
    let first = Notifier::new(
        client(),
        &down_uri,
        CONTENT_CRED_A,
        store.clone(),
        metrics.clone(),
    );
    let hook = first.hook("http://cs.a/files/".into());
    let rec = FileRecord {
        id: "f-1".into(),
        size: 1,
        sha256: "00".into(),
        content_type: "text/plain".into(),
        file_name: None,
        owner: None,
        created_at: 0,
        expires_at: 0,
        state: FileState::Removed { at: 0, by: None },
    };
    hook(&rec, "removed");
    let notice = dir.path().join("notices/f-1.json");
    assert!(eventually(Duration::from_secs(5), || notice.exists()).await);
    assert!(
        eventually(Duration::from_secs(5), || metrics
            .render()
            .contains("mcdata_removal_notices_total{result=\"failed\"}"))
        .await
    );

    // A new process (a new Notifier on the same store) resumes it once the server is back.
    let origin = crate::origin::Origin::start().await;
    origin.script("/content/removals", crate::origin::Script::new(Vec::new()));
    let second = Notifier::new(
        client(),
        &origin.base,
        CONTENT_CRED_A,
        store.clone(),
        metrics,
    );
    assert_eq!(second.resume().await.unwrap(), 1);
    assert!(eventually(Duration::from_secs(5), || !notice.exists()).await);
    assert_eq!(origin.requests(), 1);
    assert_eq!(origin.last_auth(), Some(format!("Bearer {CONTENT_CRED_A}")));
}

/// Issue "4 of 6", item 1, for the MCData server: its listener has the same client limits
/// as the content server; a request body that stops arriving gets 408 after
/// `client-body-timeout` (RFC 9110 §15.5.9) and a head that never ends is closed.
#[tokio::test]
async fn the_mcdata_server_closes_slow_clients() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = two_systems(
        |a| {
            a.fd_server.client_body_timeout = Duration::from_secs(1);
            a.fd_server.client_header_timeout = Duration::from_secs(1);
        },
        |_| {},
    )
    .await;
    let addr = t.a.fd.addr();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /fd/requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-alice-a\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"to\":",
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(4));
    let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(4), half.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "a half-sent head is closed after the header timeout"
    );
}

/// Issue "5 of 6": the MCData server reloads its users and partners (SIGHUP calls
/// `reload`): a new token works at once and a removed one no longer does; a key that
/// needs a restart keeps its running value and is named.
#[tokio::test]
async fn the_mcdata_server_reloads_users_and_partners() {
    let t = two_systems(|_| {}, |_| {}).await;
    let base = t.a.fd.base().to_string();
    let events = |token: &'static str| {
        let u = format!("{base}/fd/history?conversation_id=00000000-0000-0000-0000-000000000000");
        async move {
            crate::harness::get(&u, &[("authorization", &format!("Bearer {token}"))])
                .await
                .status
        }
    };
    assert_eq!(events("tok-alice-a").await, StatusCode::OK);
    assert_eq!(events("tok-dave-a-1").await, StatusCode::FORBIDDEN);
    let mut cfg = t.a.fd.server.config().clone();
    cfg.users = vec![user("dave@a", "tok-dave-a-1", true)];
    cfg.time_temp_data_waiting = Duration::from_secs(7);
    let refused = t.a.fd.reload(cfg).unwrap();
    assert_eq!(refused, vec!["time-temp-data-waiting"]);
    assert_eq!(events("tok-dave-a-1").await, StatusCode::OK);
    assert_eq!(events("tok-alice-a").await, StatusCode::FORBIDDEN);
}
