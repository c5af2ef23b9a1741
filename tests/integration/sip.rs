//! SIP between two MCData servers of ours (TS 24.282 over SIP-3): the FD request (step
//! 4), the FD notification (step 8) and the download completed report (step 15) travel
//! as SIP MESSAGE (RFC 3428) over UDP, TCP and TLS, and the procedure ends as it does
//! over HTTP. SIPp, a SIP implementation nobody here wrote, plays the other system in
//! `sipp.rs`.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use mcdata::client::FdEvent;
use mcdata::fd::config::Interconnect;
use mcdata::system::SystemConfig;

use crate::fd::{next, send, two_systems, Two};
use crate::harness::*;

/// A free port for UDP and TCP at once on 127.0.0.1.
pub fn sip_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The PSI of a test MCData server on `port`.
pub fn psi(scheme: &str, port: u16, transport: &str) -> String {
    match transport {
        "" => format!("{scheme}:mcdata-fd@127.0.0.1:{port}"),
        t => format!("{scheme}:mcdata-fd@127.0.0.1:{port};transport={t}"),
    }
}

fn over_sip(cfg: &mut SystemConfig, own: u16, peer: String) {
    cfg.fd_server.sip_listen = Some(SocketAddr::from(([127, 0, 0, 1], own)));
    cfg.fd_server.sip_uri = Some(psi("sip", own, ""));
    for p in &mut cfg.partners {
        p.interconnect = Interconnect::Sip;
        p.mcdata_server = peer.clone();
    }
}

/// Two systems of ours whose MCData servers talk SIP over `transport` (`""` is UDP);
/// `tweak_b` then changes B's configuration.
async fn sip_pair(transport: &str, tweak_b: impl FnOnce(&mut SystemConfig)) -> Two {
    let (pa, pb) = (sip_port(), sip_port());
    two_systems(
        |a| over_sip(a, pa, psi("sip", pb, transport)),
        |b| {
            over_sip(b, pb, psi("sip", pa, transport));
            tweak_b(b);
        },
    )
    .await
}

/// A small file uploaded by alice; its URL.
async fn small_upload(t: &Two) -> String {
    t.alice
        .upload_bytes(Bytes::from_static(b"x"), "x.txt", "text/plain", None)
        .await
        .unwrap()
        .url
}

/// Steps 1-16 with every FD message between the systems over SIP.
async fn whole_procedure(t: &Two) {
    let mut bob_ev = t.bob.events(None).await.unwrap();
    let mut alice_ev = t.alice.events(None).await.unwrap();
    let body = data(64 * 1024, 7);
    let up = t
        .alice
        .upload_bytes(
            Bytes::from(body.clone()),
            "plan.pdf",
            "application/pdf",
            None,
        )
        .await
        .unwrap();
    // Step 4 over SIP; step 5: client 2 gets it with the URL prefixed (step 10).
    let sent = t
        .alice
        .send_fd(&send("bob@b", &up.url, true))
        .await
        .unwrap();
    let FdEvent::Request(incoming) = next(&mut bob_ev).await else {
        panic!("expected the FD request")
    };
    assert_eq!(incoming.message_id, sent.message_id);
    assert_eq!(incoming.from, "alice@a");
    assert_eq!(
        incoming.file_url,
        format!("{}/{}", t.b.content.base(), up.url)
    );
    // Step 8 over SIP; step 9 at client 1.
    t.bob.respond(incoming.message_id, true).await.unwrap();
    match next(&mut alice_ev).await {
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
    // Steps 10-13 are HTTP; then step 15 over SIP and step 16 at client 1.
    let mut sink = Vec::new();
    let got = t
        .bob
        .download(&incoming.file_url, &mut sink, |_, _| {})
        .await
        .unwrap();
    assert_eq!(sink, body);
    assert_eq!(got.x_cache.as_deref(), Some("MISS"));
    t.bob.report(incoming.message_id).await.unwrap();
    match next(&mut alice_ev).await {
        FdEvent::Report {
            message_id, from, ..
        } => assert_eq!((message_id, from.as_str()), (sent.message_id, "bob@b")),
        other => panic!("expected the report, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_procedure_over_sip_udp() {
    let t = sip_pair("", |_| {}).await;
    whole_procedure(&t).await;
    let m = get(&format!("{}/metrics", t.a.content.base()), &[]).await;
    let text = String::from_utf8_lossy(m.bytes()).into_owned();
    assert!(
        text.contains("mcdata_fd_interconnect_messages_total{direction=\"out\",result=\"ok\"} 1"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_procedure_over_sip_tcp() {
    let t = sip_pair("tcp", |_| {}).await;
    whole_procedure(&t).await;
}

/// SIP over TLS both ways; each trusts the other by its client certificate alone (the
/// source addresses it would accept are elsewhere), as a SIP core would authenticate it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_procedure_over_sip_tls_trusted_by_certificate() {
    let (pa, pb, ta, tb) = (sip_port(), sip_port(), sip_port(), sip_port());
    let tls = |cfg: &mut SystemConfig, own: u16, tls_port: u16, peer_tls: u16| {
        over_sip(cfg, own, psi("sips", peer_tls, ""));
        cfg.fd_server.sip_tls_listen = Some(SocketAddr::from(([127, 0, 0, 1], tls_port)));
        cfg.fd_server.sip_uri = Some(psi("sips", tls_port, ""));
        cfg.fd_server.sip_tls_cert_file = Some(fixture("tls/sip-peer.pem"));
        cfg.fd_server.sip_tls_key_file = Some(fixture("tls/sip-peer.key"));
        cfg.fd_server.sip_tls_ca_file = Some(fixture("tls/sip-ca.pem"));
        for p in &mut cfg.partners {
            p.sip_trusted_sources = vec!["192.0.2.0/24".parse().unwrap()];
        }
    };
    let t = two_systems(|a| tls(a, pa, ta, tb), |b| tls(b, pb, tb, ta)).await;
    whole_procedure(&t).await;
}

/// Over TLS a client certificate that does not chain to `sip-tls-ca-file` ends the
/// handshake: the request never reaches the partner, and the sender's client is told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_certificate_is_refused_over_sip_tls() {
    let (pa, pb, tb) = (sip_port(), sip_port(), sip_port());
    let t = two_systems(
        |a| {
            over_sip(a, pa, psi("sips", tb, ""));
            a.fd_server.sip_tls_cert_file = Some(fixture("tls/stranger.pem"));
            a.fd_server.sip_tls_key_file = Some(fixture("tls/stranger.key"));
            a.fd_server.sip_tls_ca_file = Some(fixture("tls/sip-ca.pem"));
        },
        |b| {
            over_sip(b, pb, psi("sip", pa, ""));
            b.fd_server.sip_tls_listen = Some(SocketAddr::from(([127, 0, 0, 1], tb)));
            b.fd_server.sip_tls_cert_file = Some(fixture("tls/sip-peer.pem"));
            b.fd_server.sip_tls_key_file = Some(fixture("tls/sip-peer.key"));
            b.fd_server.sip_tls_ca_file = Some(fixture("tls/sip-ca.pem"));
            b.partners[0].sip_trusted_sources = vec!["192.0.2.0/24".parse().unwrap()];
        },
    )
    .await;
    let mut bob_ev = t.bob.events(None).await.unwrap();
    let up_url = small_upload(&t).await;
    let err = t
        .alice
        .send_fd(&send("bob@b", &up_url, true))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("502") || text.contains("504"), "{text}");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), bob_ev.next())
            .await
            .is_err(),
        "nothing reached bob"
    );
}

/// A partner's trusted sources reload (SIGHUP) without a restart of the SIP interface.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_partners_reload() {
    let t = sip_pair("", |_| {}).await;
    let up_url = small_upload(&t).await;
    t.alice
        .send_fd(&send("bob@b", &up_url, true))
        .await
        .unwrap();
    let mut cfg = t.b.fd.server.config().clone();
    cfg.partners[0].sip_trusted_sources = vec!["192.0.2.0/24".parse().unwrap()];
    let refused = t.b.fd.reload(cfg).unwrap();
    assert!(refused.is_empty(), "{refused:?}");
    let err = t
        .alice
        .send_fd(&send("bob@b", &up_url, true))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a trusted source"), "{err}");
}

/// The FD NETWORK NOTIFICATIONs (file deleted, file expired) reach the recipient over SIP
/// too: the same checks as over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_notifications_over_sip() {
    let t = sip_pair("", |_| {}).await;
    crate::fd::network_notifications(&t).await;
}

/// A partner whose requests come from an address it does not trust, without a
/// certificate, is refused with 403 and a Warning; the sender's client gets 502.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_source_is_refused() {
    let t = sip_pair("", |b| {
        b.partners[0].sip_trusted_sources = vec!["192.0.2.7/32".parse().unwrap()];
    })
    .await;
    let up_url = small_upload(&t).await;
    let err = t
        .alice
        .send_fd(&send("bob@b", &up_url, true))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("502") || text.contains("403"), "{text}");
    assert!(text.contains("not a trusted source"), "{text}");
}

/// `mcdata demo --interconnect sip`: the whole procedure with SIP between the systems.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_over_sip() {
    let args = mcdata::demo::DemoArgs {
        keep_running: false,
        size: 256 * 1024,
        file: None,
        interconnect: Interconnect::Sip,
    };
    assert!(
        mcdata::demo::run(args).await.expect("demo ran"),
        "every demo check held"
    );
}

/// The captured wire of the demo (`tests/fixtures/sip/demo-wire.txt`, also in
/// docs/fd-api.md) is SIP that parses, and its MESSAGEs carry what TS 24.282 6.3 names:
/// the PSI as Request-URI, P-Asserted-Identity, the FD ICSI, a multipart body whose
/// mcdata-info part comes first.
#[test]
fn the_captured_wire_parses() {
    let text = std::fs::read_to_string(fixture("sip/demo-wire.txt")).unwrap();
    let blocks: Vec<&str> = text.split("\n=== ").skip(1).collect();
    assert_eq!(blocks.len(), 6, "three MESSAGEs and their 200s");
    for block in blocks {
        let mut wire = block.split_once('\n').unwrap().1.replace('\n', "\r\n");
        if !wire.contains("\r\n\r\n") {
            // A 200 without a body: its blank line closes the header.
            wire.push_str("\r\n");
        }
        let msg = rsipstack::sip::parser::parse_message(wire.as_bytes()).expect("SIP");
        match msg {
            rsipstack::sip::SipMessage::Request(r) => {
                assert_eq!(r.method, rsipstack::sip::Method::Message);
                assert!(r.uri.to_string().starts_with("sip:mcdata-fd@"));
                for h in [
                    "P-Asserted-Identity: <sip:mcdata-fd@",
                    "P-Asserted-Service: urn:urn-7:3gpp-service.ims.icsi.mcdata.fd",
                    "Accept-Contact: *;+g.3gpp.icsi-ref=",
                    "Content-Type: multipart/mixed;boundary=",
                ] {
                    assert!(wire.contains(h), "{h}");
                }
                let body = String::from_utf8_lossy(&r.body);
                let info = body.find("application/vnd.3gpp.mcdata-info+xml").unwrap();
                let sig = body.find("application/vnd.3gpp.mcdata-signalling").unwrap();
                assert!(info < sig, "mcdata-info first, the binary part last");
            }
            rsipstack::sip::SipMessage::Response(r) => {
                assert_eq!(r.status_code.code(), 200)
            }
        }
    }
}
