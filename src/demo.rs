//! `mcdata demo`: two complete MCData systems in one process on loopback, and the whole
//! one-to-one FD procedure with interconnection (TS 23.282 7.5.2.4.3) run between two
//! clients, each step printed as it happens. Exits non-zero unless every check held.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use tokio::net::TcpListener;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use crate::client::{EventStream, FdEvent, FileInfo, HistoryQuery, McDataClient, SendFd};
use crate::fd::config::{FdPartner, FdUser, Interconnect};
use crate::system::{RunningSystem, SystemConfig, SystemError};

/// Options of `mcdata demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Leave both systems running after the procedure and print their URLs for curl.
    #[arg(long)]
    pub keep_running: bool,
    /// Size of the generated file to distribute, in bytes. Example: --size 67108864
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub size: usize,
    /// Distribute this file instead of a generated one. Example: --file ./photo.jpg
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// How the two MCData servers talk: `http` (POST /interconnect) or `sip` (SIP
    /// MESSAGE over UDP, TS 24.282; the first line of each SIP message is printed).
    #[arg(long, value_enum, default_value = "http")]
    pub interconnect: Interconnect,
}

/// Why the demo could not run (a failed check is not an error: it is reported).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("starting the systems: {0}")]
    System(#[from] SystemError),
    #[error("client: {0}")]
    Client(#[from] crate::client::ClientError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Timeout(String),
}

static START: OnceLock<Instant> = OnceLock::new();

fn elapsed_ms() -> u128 {
    START.get_or_init(Instant::now).elapsed().as_millis()
}

/// Print one line of the procedure.
pub fn print_step(step: &str, actor: &str, what: &str) {
    println!("{:>7} ms  {:<5} {:<26} {}", elapsed_ms(), step, actor, what);
}

/// An announced size as the demo prints it: `4194304 bytes`, or `size unknown`.
fn size_text(size: Option<u64>) -> String {
    match size {
        Some(n) => format!("{n} bytes"),
        None => "size unknown".to_string(),
    }
}

/// A tracing layer that prints the servers' `mcdata::steps` events as procedure steps.
pub struct StepPrinter;

#[derive(Default)]
struct StepFields {
    step: String,
    actor: String,
    message: String,
    extra: String,
}

impl Visit for StepFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "step" => self.step = format!("{value:?}"),
            "actor" => self.actor = format!("{value:?}").trim_matches('"').to_string(),
            "message" => self.message = format!("{value:?}"),
            name => {
                let _ = write!(
                    self.extra,
                    " {name}={}",
                    format!("{value:?}").trim_matches('"')
                );
            }
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "actor" => self.actor = value.to_string(),
            "message" => self.message = value.to_string(),
            name => {
                let _ = write!(self.extra, " {name}={value}");
            }
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for StepPrinter {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let target = event.metadata().target();
        if target == "mcdata::sip" {
            // The first line of a SIP message sent or received between the systems.
            let mut f = StepFields::default();
            event.record(&mut f);
            let what = if f.extra.is_empty() {
                f.message
            } else {
                format!("{} ({})", f.message, f.extra.trim())
            };
            print_step("sip", &f.actor, &what);
            return;
        }
        if target != "mcdata::steps" {
            return;
        }
        let mut f = StepFields::default();
        event.record(&mut f);
        let what = if f.extra.is_empty() {
            f.message
        } else {
            format!("{} ({})", f.message, f.extra.trim())
        };
        print_step(&f.step, &f.actor, &what);
    }
}

fn token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Deterministic pseudo-random bytes (no RNG crate needed for test data).
fn generated(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

async fn next_event(
    events: &mut EventStream,
    what: &str,
    mut pick: impl FnMut(&FdEvent) -> bool,
) -> Result<FdEvent, DemoError> {
    let deadline = Duration::from_secs(15);
    let wait = async {
        while let Some(item) = events.next().await {
            let (_, ev) = item?;
            if pick(&ev) {
                return Ok(ev);
            }
        }
        Err(DemoError::Timeout(format!(
            "the event stream ended while waiting for {what}"
        )))
    };
    tokio::time::timeout(deadline, wait)
        .await
        .map_err(|_| DemoError::Timeout(format!("no {what} within {deadline:?}")))?
}

struct Checks(Vec<(String, bool)>);

impl Checks {
    fn check(&mut self, name: &str, ok: bool) {
        print_step(if ok { "ok" } else { "FAIL" }, "check", name);
        self.0.push((name.to_string(), ok));
    }
}

struct Demo {
    a: RunningSystem,
    b: RunningSystem,
    alice: McDataClient,
    bob: McDataClient,
    dir: PathBuf,
}

/// A port free for UDP and TCP at once on 127.0.0.1 (SIP listens on both).
fn sip_port() -> Result<u16, DemoError> {
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let port = udp.local_addr()?.port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(DemoError::Timeout("no free SIP port".into()))
}

async fn start_systems(interconnect: Interconnect) -> Result<Demo, DemoError> {
    let dir = std::env::temp_dir().join(format!("mcdata-demo-{}", token()));
    let ls: Vec<TcpListener> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(TcpListener::bind("127.0.0.1:0").await?);
        }
        v
    };
    let addr = |i: usize| ls[i].local_addr();
    let (cs_a, fd_a, cs_b, fd_b) = (addr(0)?, addr(1)?, addr(2)?, addr(3)?);
    let (tok_a, tok_b, cred) = (token(), token(), token());
    let sip_ports = match interconnect {
        Interconnect::Sip => Some((sip_port()?, sip_port()?)),
        Interconnect::Http => None,
    };
    let sip_of = |id: &str| {
        sip_ports.map(|(a, b)| {
            let port = if id == "A" { a } else { b };
            (port, format!("sip:mcdata-fd@127.0.0.1:{port}"))
        })
    };
    let system = |id: &str,
                  cs,
                  fd,
                  user: &str,
                  tok: &str,
                  peer: &str,
                  peer_cs,
                  peer_fd,
                  peer_users: &str| {
        let mut c = SystemConfig {
            system_id: id.into(),
            store: format!("file://{}/{}", dir.display(), id),
            ..Default::default()
        };
        c.content_server.listen = cs;
        c.content_server.fsync = false;
        c.fd_server.listen = fd;
        c.users.push(FdUser {
            id: user.into(),
            token: tok.into(),
            may_send_fd: true,
            may_query_history: true,
        });
        c.partners.push(FdPartner {
            system_id: peer.into(),
            mcdata_server: format!("http://{peer_fd}"),
            content_server: format!("http://{peer_cs}"),
            credential: cred.clone(),
            users: vec![peer_users.into()],
            ..Default::default()
        });
        if let (Some((port, uri)), Some((_, peer_uri))) = (sip_of(id), sip_of(peer)) {
            c.fd_server.sip_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
            c.fd_server.sip_uri = Some(uri);
            for p in &mut c.partners {
                p.interconnect = Interconnect::Sip;
                p.mcdata_server = peer_uri.clone();
            }
        }
        c
    };
    let ca = system(
        "A",
        cs_a,
        fd_a,
        "alice@a.example",
        &tok_a,
        "B",
        cs_b,
        fd_b,
        "*@b.example",
    );
    let cb = system(
        "B",
        cs_b,
        fd_b,
        "bob@b.example",
        &tok_b,
        "A",
        cs_a,
        fd_a,
        "*@a.example",
    );
    let mut it = ls.into_iter();
    let (l0, l1, l2, l3) = match (it.next(), it.next(), it.next(), it.next()) {
        (Some(a), Some(b), Some(c), Some(d)) => (a, b, c, d),
        _ => return Err(DemoError::Timeout("listeners".into())),
    };
    let a = RunningSystem::start_on(l0, l1, &ca).await?;
    let b = RunningSystem::start_on(l2, l3, &cb).await?;
    let alice = McDataClient::new("alice@a.example", &tok_a, a.fd.base(), a.content.base());
    let bob = McDataClient::new("bob@b.example", &tok_b, b.fd.base(), b.content.base());
    Ok(Demo {
        a,
        b,
        alice,
        bob,
        dir,
    })
}

/// Run the demo; `Ok(true)` when every check held.
pub async fn run(args: DemoArgs) -> Result<bool, DemoError> {
    START.get_or_init(Instant::now);
    let d = start_systems(args.interconnect).await?;
    println!(
        "system A: content server {}  MCData server {}  user alice@a.example",
        d.a.content.base(),
        d.a.fd.base()
    );
    println!(
        "system B: content server {}  MCData server {}  user bob@b.example",
        d.b.content.base(),
        d.b.fd.base()
    );
    println!(
        "{:>7}     {:<5} {:<26} what happened",
        "elapsed", "step", "actor"
    );
    let mut checks = Checks(Vec::new());
    let outcome = procedure(&d, &args, &mut checks).await;
    if let Err(e) = &outcome {
        checks.check(&format!("the procedure ran to the end ({e})"), false);
    }
    let failed: Vec<_> = checks.0.iter().filter(|(_, ok)| !ok).collect();
    if failed.is_empty() {
        println!("\nall {} checks held", checks.0.len());
    } else {
        println!("\n{} of {} checks FAILED", failed.len(), checks.0.len());
    }
    if args.keep_running {
        keep_running(&d).await;
    }
    d.a.shutdown().await;
    d.b.shutdown().await;
    let _ = std::fs::remove_dir_all(&d.dir);
    Ok(failed.is_empty())
}

async fn procedure(d: &Demo, args: &DemoArgs, checks: &mut Checks) -> Result<(), DemoError> {
    let mut bob_events = d.bob.events(None).await?;
    let mut alice_events = d.alice.events(None).await?;
    let (data, name) = match &args.file {
        Some(p) => (
            std::fs::read(p)?,
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "file".into()),
        ),
        None => (generated(args.size), "scene.bin".to_string()),
    };
    let up = d
        .alice
        .upload_bytes(
            Bytes::from(data),
            &name,
            "application/octet-stream",
            Some("1h"),
        )
        .await?;
    print_step(
        "pre",
        "MCData client 1",
        &format!(
            "uploaded {name} ({} bytes) to the primary content server: {}",
            up.size, up.url
        ),
    );

    print_step(
        "1",
        "user at MCData client 1",
        "starts a file distribution to bob@b.example, download completed report wanted",
    );
    let send = SendFd {
        to: "bob@b.example".into(),
        file_url: up.url.clone(),
        metadata: Some(FileInfo {
            name: Some(name.clone()),
            size: Some(up.size),
            content_type: Some(up.content_type.clone()),
            sha256: Some(up.sha256.clone()),
            availability: None,
        }),
        conversation_id: None,
        mandatory_download: false,
        download_report: true,
    };
    let sent = d.alice.send_fd(&send).await?;
    let FdEvent::Request(req) = next_event(&mut bob_events, "the FD request at client 2", |e| {
        matches!(e, FdEvent::Request(_))
    })
    .await?
    else {
        return Err(DemoError::Timeout("FD request".into()));
    };
    print_step(
        "6",
        "MCData client 2",
        &format!(
            "shows the request from {} for {} ({}); the user accepts",
            req.from,
            req.metadata.name.as_deref().unwrap_or("?"),
            size_text(req.metadata.size)
        ),
    );
    let prefixed = format!("{}/{}", d.b.content.base(), up.url);
    checks.check(
        "client 2 got the FD request with the URL prefixed by the partner content server",
        req.file_url == prefixed && req.message_id == sent.message_id,
    );
    d.bob.respond(req.message_id, true).await?;
    let resp = next_event(&mut alice_events, "the FD response at client 1", |e| {
        matches!(e, FdEvent::Response { .. })
    })
    .await?;
    checks.check(
        "client 1 got the FD response: accepted",
        matches!(&resp, FdEvent::Response { disposition, .. } if disposition == "accepted"),
    );

    print_step(
        "10",
        "MCData client 2",
        &format!(
            "requests the file from the partner content server: {}",
            req.file_url
        ),
    );
    let mut sink = tokio::io::sink();
    let first = d.bob.download(&req.file_url, &mut sink, |_, _| {}).await?;
    print_step(
        "13",
        "partner content server",
        &format!(
            "sent the file to client 2: {} bytes, X-Cache {}",
            first.len,
            first.x_cache.as_deref().unwrap_or("-")
        ),
    );
    checks.check(
        "first download through the partner was a miss",
        first.x_cache.as_deref() == Some("MISS"),
    );
    checks.check(
        "the downloaded file's sha256 matches the upload",
        first.sha256 == up.sha256 && first.len == up.size,
    );
    let second = d.bob.download(&req.file_url, &mut sink, |_, _| {}).await?;
    print_step(
        "13",
        "partner content server",
        &format!(
            "second download served from its copy: X-Cache {}",
            second.x_cache.as_deref().unwrap_or("-")
        ),
    );
    checks.check(
        "second download was a hit, byte-exact",
        second.x_cache.as_deref() == Some("HIT") && second.sha256 == up.sha256,
    );
    let record = d.alice.deliveries(&up.url).await?;
    let count = record["systems"]["B"]["count"].as_u64().unwrap_or(0);
    print_step(
        "12",
        "primary content server",
        &format!("delivery record: {record}"),
    );
    checks.check(
        "the primary content server recorded exactly one retrieve by system B",
        count == 1,
    );

    d.bob.report(req.message_id).await?;
    let rep = next_event(
        &mut alice_events,
        "the download completed report at client 1",
        |e| matches!(e, FdEvent::Report { .. }),
    )
    .await?;
    checks.check(
        "client 1 got the download completed report",
        matches!(&rep, FdEvent::Report { message_id, .. } if *message_id == sent.message_id),
    );
    let q = HistoryQuery {
        conversation_id: None,
        message_id: Some(sent.message_id),
        file_url: None,
    };
    let at_a = d.alice.history(&q).await?;
    let at_b = d.bob.history(&q).await?;
    print_step(
        "16",
        "primary MCData server",
        &format!("download history at A: {} report(s)", at_a.len()),
    );
    print_step(
        "15",
        "partner MCData server",
        &format!("download history at B: {} report(s)", at_b.len()),
    );
    checks.check(
        "the report is stored at the primary MCData server",
        at_a.len() == 1 && at_a[0].reporter == "bob@b.example",
    );
    checks.check(
        "the report is stored at the partner MCData server",
        at_b.len() == 1 && at_b[0].system == "B",
    );
    Ok(())
}

async fn keep_running(d: &Demo) {
    println!("\nThe systems keep running (Ctrl-C to stop):");
    for (id, s, user, client) in [
        ("A", &d.a, "alice@a.example", &d.alice),
        ("B", &d.b, "bob@b.example", &d.bob),
    ] {
        println!(
            "  system {id}: content server {}  MCData server {}",
            s.content.base(),
            s.fd.base()
        );
        println!("    user {user}: token {}", client.token());
    }
    println!(
        "  try: curl -s -H 'Authorization: Bearer {}' {}/metrics | grep mcdata_cache",
        d.bob.token(),
        d.b.content.base()
    );
    println!("  storage: {}", d.dir.display());
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_numbers() {
        assert_eq!(size_text(Some(4_194_304)), "4194304 bytes");
        assert_eq!(size_text(None), "size unknown");
    }
}
