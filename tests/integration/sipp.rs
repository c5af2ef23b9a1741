//! SIPp (a SIP implementation nobody here wrote) plays the other system's MCData server
//! against ours: first as the partner (it receives our FD request and checks the SIP
//! envelope of TS 24.282, then sends back the FD notification and the download completed
//! report), then as the primary (it sends us an FD request, its retransmission and
//! malformed bodies). The scenarios are in `tests/sipp/`. `.ci/run` installs SIPp (the
//! Debian package sip-tester); elsewhere these tests are skipped without it, and under
//! `CI` they fail.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use mcdata::client::{FdEvent, McDataClient};
use mcdata::codec::{Disposition, FdNotification, FdSignalling, Payload};
use mcdata::fd::config::{FdPartner, FdUser, Interconnect};
use mcdata::system::{RunningSystem, SystemConfig};

use crate::fd::{next, send};
use crate::harness::*;
use crate::sip::{psi, sip_port};

/// The sipp binary: `MCDATA_SIPP`, else `sipp` on PATH; none outside CI skips the test.
fn sipp() -> Option<PathBuf> {
    let bin = std::env::var_os("MCDATA_SIPP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("sipp"));
    let found = std::process::Command::new(&bin)
        .arg("-v")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("SIPp"))
        .unwrap_or(false);
    match (found, std::env::var_os("CI").is_some()) {
        (true, _) => Some(bin),
        (false, true) => panic!("CI: sipp is required (apt-get install sip-tester)"),
        (false, false) => {
            eprintln!("skipped: no sipp (apt-get install sip-tester, or MCDATA_SIPP)");
            None
        }
    }
}

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
}

/// Run one SIPp call of `scenario` on 127.0.0.1:`port` (towards `remote` if given),
/// with `fields` as its injection file; returns whether every call succeeded, and its
/// error log.
async fn run_sipp(
    bin: &Path,
    scenario_file: &str,
    transport: &str,
    port: u16,
    remote: Option<SocketAddr>,
    fields: &[String],
    dir: &Path,
) -> (bool, String) {
    let err = dir.join(format!("{scenario_file}.errors.log"));
    let msgs = dir.join(format!("{scenario_file}.messages.log"));
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("-sf")
        .arg(scenario(scenario_file))
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-m", "1"])
        .args([
            "-t",
            transport,
            "-timeout",
            "30s",
            "-timeout_error",
            "-nostdin",
            "-nr",
        ])
        .arg("-trace_err")
        .arg("-error_file")
        .arg(&err)
        .arg("-trace_msg")
        .arg("-message_file")
        .arg(&msgs)
        .current_dir(dir);
    if !fields.is_empty() {
        let csv = dir.join(format!("{scenario_file}.csv"));
        std::fs::write(&csv, format!("SEQUENTIAL\n{}\n", fields.join(";"))).unwrap();
        cmd.arg("-inf").arg(csv);
    }
    if let Some(r) = remote {
        cmd.arg(r.to_string());
    }
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("sipp ends within 60 s")
        .expect("sipp runs");
    let log = std::fs::read_to_string(&err).unwrap_or_default()
        + &String::from_utf8_lossy(&std::fs::read(&msgs).unwrap_or_default());
    (
        out.status.success(),
        format!("{}\n{log}", String::from_utf8_lossy(&out.stderr)),
    )
}

const CRED: &str = "agreement-ab-1";

/// One system of ours, `id`, whose one partner system is played by SIPp on `sipp_port`.
async fn system(
    id: &str,
    user: (&str, &str),
    partner: (&str, &str, &str),
    sipp_port: u16,
    own_sip: u16,
) -> (RunningSystem, McDataClient, tempfile::TempDir) {
    let (cs, fd) = (bind().await, bind().await);
    let dir = tempfile::tempdir().unwrap();
    let mut c = SystemConfig {
        system_id: id.into(),
        store: format!("file://{}", dir.path().display()),
        ..Default::default()
    };
    c.content_server.listen = cs.local_addr().unwrap();
    c.content_server.fsync = false;
    c.fd_server.listen = fd.local_addr().unwrap();
    c.fd_server.sip_listen = Some(SocketAddr::from(([127, 0, 0, 1], own_sip)));
    c.fd_server.sip_uri = Some(psi("sip", own_sip, ""));
    c.users = vec![FdUser {
        id: user.0.into(),
        token: user.1.into(),
        may_send_fd: true,
        may_query_history: true,
    }];
    c.partners = vec![FdPartner {
        system_id: partner.0.into(),
        mcdata_server: psi("sip", sipp_port, ""),
        content_server: partner.1.into(),
        credential: CRED.into(),
        users: vec![partner.2.into()],
        interconnect: Interconnect::Sip,
        ..Default::default()
    }];
    let sys = RunningSystem::start_on(cs, fd, &c).await.expect("system");
    let client = McDataClient::new(user.0, user.1, sys.fd.base(), sys.content.base());
    (sys, client, dir)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// SIPp as the partner MCData server: our primary's FD request (over TCP, being larger
/// than 1300 octets: RFC 3261 18.1.1) passes its checks of the request line, the headers
/// and each body part; its FD NOTIFICATION (accepted) and
/// download completed report reach our client 1 (TS 23.282 7.5.2.4.3 steps 4, 8-9, 15-16).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_as_the_partner_mcdata_server() {
    let Some(bin) = sipp() else { return };
    let (sipp_port, ours) = (sip_port(), sip_port());
    let (a, alice, dir) = system(
        "A",
        ("alice@a", "tok-alice-a"),
        ("B", "http://127.0.0.1:9", "*@b"),
        sipp_port,
        ours,
    )
    .await;
    let mut events = alice.events(None).await.unwrap();
    let up = alice
        .upload_bytes(
            Bytes::from_static(b"site plan"),
            "plan.txt",
            "text/plain",
            None,
        )
        .await
        .unwrap();
    let uas = {
        let (bin, path) = (bin.clone(), dir.path().to_owned());
        // Over TCP: the FD request is larger than 1300 octets, so our primary sends it over
        // TCP though the PSI names no transport (RFC 3261 18.1.1).
        tokio::spawn(async move {
            run_sipp(
                &bin,
                "partner_receives_fd_request.xml",
                "t1",
                sipp_port,
                None,
                &[],
                &path,
            )
            .await
        })
    };
    // Over TCP nothing is retransmitted: wait until sipp listens.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", sipp_port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = alice.send_fd(&send("bob@b", &up.url, true)).await;
    let (ok, log) = uas.await.unwrap();
    assert!(ok, "the FD request failed SIPp's checks: {log}");
    let sent = sent.expect("SIPp answers 200");

    let mut accepted = FdNotification::new(
        Disposition::Accepted,
        mcdata::support::time::unix_now(),
        sent.conversation_id,
        sent.message_id,
    );
    accepted.sender = Some("bob@b".into());
    let mut done = accepted.clone();
    done.disposition = Disposition::FileDownloadCompleted;
    let fields = [
        b64(&accepted.encode().unwrap()),
        b64(&done.encode().unwrap()),
    ];
    let remote = SocketAddr::from(([127, 0, 0, 1], ours));
    let (ok, log) = run_sipp(
        &bin,
        "partner_sends_notifications.xml",
        "u1",
        sipp_port,
        Some(remote),
        &fields,
        dir.path(),
    )
    .await;
    assert!(ok, "our answers to SIPp's MESSAGEs: {log}");
    match next(&mut events).await {
        FdEvent::Response {
            message_id,
            disposition,
            from,
            ..
        } => assert_eq!(
            (message_id, disposition.as_str(), from.as_str()),
            (sent.message_id, "accepted", "bob@b")
        ),
        other => panic!("expected the FD response, got {other:?}"),
    }
    match next(&mut events).await {
        FdEvent::Report {
            message_id, from, ..
        } => assert_eq!((message_id, from.as_str()), (sent.message_id, "bob@b")),
        other => panic!("expected the report, got {other:?}"),
    }
    drop(a);
}

/// SIPp as the primary MCData server: its FD request is answered 200 and delivered to
/// our client 2 once, with the FILEURL prefixed by our content server (step 10), though
/// it came twice with the same branch (RFC 3261 17.2.2); each malformed body is answered
/// 400 and nothing of it is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_as_the_primary_mcdata_server() {
    let Some(bin) = sipp() else { return };
    let origin = "http://127.0.0.1:9";
    let (sipp_port, ours) = (sip_port(), sip_port());
    let (b, bob, dir) = system(
        "B",
        ("bob@b", "tok-bob-b"),
        ("A", origin, "*@a"),
        sipp_port,
        ours,
    )
    .await;
    let mut events = bob.events(None).await.unwrap();
    let file_url = format!("{origin}/files/3f2a");
    let mut m = FdSignalling::new(
        mcdata::support::time::unix_now(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    m.payload = Some(Payload::file_url(&file_url));
    m.sender = Some("alice@a".into());
    let fields = [b64(&m.encode().unwrap()), b64(b"\xff\x00not an FD message")];
    let remote = SocketAddr::from(([127, 0, 0, 1], ours));
    let (ok, log) = run_sipp(
        &bin,
        "primary_sends_fd_request.xml",
        "u1",
        sipp_port,
        Some(remote),
        &fields,
        dir.path(),
    )
    .await;
    assert!(ok, "our answers to SIPp's MESSAGEs: {log}");
    let FdEvent::Request(incoming) = next(&mut events).await else {
        panic!("expected the FD request")
    };
    assert_eq!(incoming.message_id, m.message_id);
    assert_eq!(incoming.from, "alice@a");
    assert_eq!(
        incoming.file_url,
        format!("{}/{file_url}", b.content.base())
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(1), events.next())
            .await
            .is_err(),
        "one FD request, delivered once; nothing of the malformed ones"
    );
}
