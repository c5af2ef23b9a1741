//! The `mcdata` binary and its signals: SIGHUP reloads the listener's certificate
//! without a restart (a download in progress finishes byte-exact), SIGTERM stops.

use std::time::Duration;

use http::StatusCode;

use crate::binary::{free_port, wait_up, Server};
use crate::harness::*;
use crate::origin::{Origin, Script};

#[tokio::test]
async fn sighup_reloads_the_certificate_and_keeps_a_running_download() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cs.pem"), dir.path().join("cs.key"));
    std::fs::copy(fixture("tls/server.pem"), &cert).unwrap();
    std::fs::copy(fixture("tls/server.key"), &key).unwrap();
    let origin = Origin::start().await;
    let body = data(2 * 1024 * 1024, 44);
    let mut slow = Script::new(body.clone()).cacheable();
    slow.chunk = 64 * 1024;
    slow.delay = Duration::from_millis(30);
    let url = origin.script("/slow.bin", slow);

    let addr = format!("127.0.0.1:{}", free_port().await);
    let server = Server::start(
        &[
            "content-server".into(),
            "--system-id".into(),
            "P".into(),
            "--listen".into(),
            addr.clone(),
            "--store".into(),
            format!("file://{}", dir.path().join("store").display()),
            "--peer".into(),
            format!("O,{},{}", origin.base, crate::origin::ORIGIN_CRED),
            "--tls-cert-file".into(),
            cert.display().to_string(),
            "--tls-key-file".into(),
            key.display().to_string(),
        ],
        &[],
    );
    let base = format!("https://{addr}");
    wait_up(&base).await;
    assert_eq!(served_certificate(&addr).await, der_of("server.pem"));

    let download = tokio::spawn({
        let target = format!("{base}/{url}");
        async move { get(&target, &[]).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::fs::copy(fixture("tls/server2.pem"), &cert).unwrap();
    std::fs::copy(fixture("tls/server2.key"), &key).unwrap();
    server.signal("-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(served_certificate(&addr).await, der_of("server2.pem"));
    let got = download.await.unwrap();
    assert_eq!(got.status, StatusCode::OK);
    assert!(
        got.bytes()[..] == body[..],
        "the download survived the SIGHUP"
    );

    let mut server = server;
    server.signal("-TERM");
    let stopped = server.exited().await;
    assert!(stopped.is_some_and(|s| s.success()), "{stopped:?}");
    assert!(
        server.logs().contains("TLS certificate reloaded"),
        "{}",
        server.logs()
    );
}

/// SIGHUP reloads the configuration file: users and tokens, peers, cache policy and log
/// level change without a restart while a download runs on (byte-exact); a key that
/// needs a restart keeps its running value and is named in the log; a file that does not
/// validate changes nothing.
#[tokio::test]
async fn sighup_reloads_users_peers_and_policy_and_refuses_what_needs_a_restart() {
    let origin = Origin::start().await;
    let body = data(1 << 20, 45);
    let mut slow = Script::new(body.clone()).cacheable();
    slow.chunk = 32 * 1024;
    slow.delay = Duration::from_millis(30);
    let url = origin.script("/slow.bin", slow);
    let quick = origin.script("/quick.bin", Script::new(data(1000, 2)).cacheable());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cs.toml");
    let addr = format!("127.0.0.1:{}", free_port().await);
    let write = |token: &str, listen: &str, extra: &str| {
        std::fs::write(
            &file,
            format!(
                "system-id = \"P\"\nlisten = \"{listen}\"\nstore = \"file://{}\"\nfsync = false\n{extra}\n\
                 [[peers]]\nsystem-id = \"O\"\ncontent-server = \"{}\"\ncredential = \"{}\"\n\n\
                 [[users]]\nid = \"medic@p\"\ntoken = \"{token}\"\n",
                dir.path().join("store").display(),
                origin.base,
                crate::origin::ORIGIN_CRED
            ),
        )
        .unwrap()
    };
    write("tok-old-1234", &addr, "");
    let mut server = Server::start(
        &[
            "content-server".into(),
            "--config".into(),
            file.display().to_string(),
        ],
        &[],
    );
    let base = format!("http://{addr}");
    wait_up(&base).await;
    let old = [("authorization", "Bearer tok-old-1234")];
    let new = [("authorization", "Bearer tok-new-5678")];
    assert_eq!(
        get(&format!("{base}/{quick}"), &old).await.status,
        StatusCode::OK
    );
    let download = tokio::spawn({
        let t = format!("{base}/{url}");
        async move { get(&t, &[("authorization", "Bearer tok-old-1234")]).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A new token, a key that needs a restart (listen), and a shorter cache-max-ttl.
    write("tok-new-5678", "127.0.0.1:1", "cache-max-ttl = \"1s\"");
    server.signal("-HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        get(&format!("{base}/{quick}"), &new).await.status,
        StatusCode::OK,
        "{}",
        server.logs()
    );
    assert_eq!(
        get(&format!("{base}/{quick}"), &old).await.status,
        StatusCode::FORBIDDEN
    );
    let got = download.await.unwrap();
    assert_eq!(got.status, StatusCode::OK);
    assert!(
        got.bytes()[..] == body[..],
        "the download survived the reload"
    );
    let logs = server.logs();
    assert!(
        logs.contains("key=\"listen\"") && logs.contains("needs a restart"),
        "{logs}"
    );
    assert!(logs.contains("configuration reloaded"), "{logs}");
    // An invalid file changes nothing.
    std::fs::write(&file, "listen = 12\n").unwrap();
    server.signal("-HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        get(&format!("{base}/{quick}"), &new).await.status,
        StatusCode::OK
    );
    assert!(
        server.logs().contains("nothing changed"),
        "{}",
        server.logs()
    );
    server.signal("-TERM");
    assert!(server.exited().await.is_some_and(|s| s.success()));
}
