//! What `packaging/` and `examples/` ship: the systemd units pass `systemd-analyze verify`
//! (and its offline security check), the sysusers file parses, every example
//! configuration loads and validates, `examples/fd-server.toml` runs, and the service
//! notifications (sd_notify(3)) reach a notification socket. Without `systemd-analyze`
//! the unit checks say so and skip, except under `CI`, where they fail.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mcdata::content_server::config::ContentServerArgs;
use mcdata::fd::config::FdServerConfig;
use mcdata::system::SystemConfig;

use crate::harness::*;

const UNITS: [&str; 3] = [
    "mcdata-content-server.service",
    "mcdata-fd-server.service",
    "mcdata-system.service",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `name` on PATH (or in /usr/bin), or a skip (a failure under `CI`).
fn tool(test: &str, name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("{test}: {name} is not installed, and under CI this check must run (apt-get install systemd)");
        }
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED {test}: no {name} on PATH (it comes with systemd) ***\n"
        );
    }
    found
}

/// The units as shipped, with `ExecStart` pointing at the binary just built (verify checks
/// that the command exists), in a directory of their own.
fn units_for_verify(dir: &Path) -> Vec<PathBuf> {
    UNITS
        .iter()
        .map(|u| {
            let text = std::fs::read_to_string(repo("packaging/systemd").join(u)).unwrap();
            assert!(text.contains("ExecStart=/usr/bin/mcdata "), "{u}");
            let text = text.replace("/usr/bin/mcdata", env!("CARGO_BIN_EXE_mcdata"));
            let p = dir.join(u);
            std::fs::write(&p, text).unwrap();
            p
        })
        .collect()
}

#[test]
fn the_systemd_units_verify() {
    let test = "packaging::the_systemd_units_verify";
    // What the units must keep, whatever else changes in them (systemd.exec(5),
    // systemd.service(5)).
    for u in UNITS {
        let text = std::fs::read_to_string(repo("packaging/systemd").join(u)).unwrap();
        for line in [
            "Type=notify",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "User=mcdata",
            "StateDirectory=mcdata",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ReadWritePaths=/var/lib/mcdata",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "CapabilityBoundingSet=\n",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
            "SystemCallFilter=@system-service",
        ] {
            assert!(text.contains(line), "{u} lacks {line:?}");
        }
    }
    let Some(analyze) = tool(test, "systemd-analyze") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let units = units_for_verify(dir.path());
    let out = Command::new(&analyze)
        .arg("verify")
        .args(&units)
        .output()
        .unwrap();
    // verify exits 0 on unknown keys and bad values, only warning: its output must be empty.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
    // The offline security review: exposure at most 2.0 of 10 ("OK").
    for u in &units {
        let out = Command::new(&analyze)
            .args(["security", "--offline=yes", "--threshold=20"])
            .arg(u)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "systemd-analyze security {}: {}\n{}",
            u.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let Some(sysusers) = tool(test, "systemd-sysusers") else {
        return;
    };
    let out = Command::new(sysusers)
        .arg("--dry-run")
        .arg(repo("packaging/systemd/mcdata.sysusers"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-sysusers --dry-run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Creating user 'mcdata'") || {
            // Already there (a machine where the package is installed).
            String::from_utf8_lossy(&out.stderr).trim().is_empty()
        }
    );
}

#[test]
fn the_example_configurations_load_and_validate() {
    let etc = repo("packaging/etc/mcdata");
    // The content server's file with its credential from the environment
    // (MCDATA_SERVER_CREDENTIAL in content-server.env), as the unit runs it.
    let env = std::fs::read_to_string(etc.join("content-server.env")).unwrap();
    let credential = env
        .lines()
        .find_map(|l| l.strip_prefix("MCDATA_SERVER_CREDENTIAL="))
        .expect("content-server.env sets MCDATA_SERVER_CREDENTIAL")
        .to_string();
    let cs = ContentServerArgs {
        config: Some(etc.join("content-server.toml")),
        mcdata_server_credential: Some(credential.clone().into()),
        ..Default::default()
    }
    .resolve()
    .unwrap();
    cs.validate().unwrap();
    assert!(cs.store.starts_with("file:///var/lib/mcdata/"));

    let fd: FdServerConfig = mcdata::config::load_toml(&etc.join("fd-server.toml")).unwrap();
    fd.validate().unwrap();
    assert!(fd.store.starts_with("file:///var/lib/mcdata/"));
    // The two servers agree on the secret between them and on each other's URI.
    assert_eq!(
        fd.content_server_credential.as_ref().map(|s| s.0.as_str()),
        Some(credential.as_str())
    );
    assert_eq!(cs.mcdata_server.as_deref(), Some("http://127.0.0.1:9080"));
    assert_eq!(cs.peers[0].credential, fd.partners[0].credential);

    let sys = SystemConfig::load(&etc.join("system.toml")).unwrap();
    sys.content().validate().unwrap();
    sys.fd("http://cs.a.example:8080").validate().unwrap();
    assert!(sys.store.starts_with("file:///var/lib/mcdata/"));

    // examples/: the fd-server file beside content-server-a.toml (same system, same
    // agreement as content-server-b.toml).
    let ex: FdServerConfig = mcdata::config::load_toml(&repo("examples/fd-server.toml")).unwrap();
    ex.validate().unwrap();
    let a =
        mcdata::content_server::config::load_file(&repo("examples/content-server-a.toml")).unwrap();
    assert_eq!(ex.system_id, a.system_id);
    assert_eq!(ex.content_server, format!("http://{}", a.listen));
    assert_eq!(ex.partners[0].credential, a.peers[0].credential);
}

/// `mcdata fd-server --config examples/fd-server.toml` runs (on a free port, its store in a
/// temporary directory) and answers.
#[tokio::test]
async fn the_example_fd_server_file_runs() {
    let mut cfg: FdServerConfig =
        mcdata::config::load_toml(&repo("examples/fd-server.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    cfg.store = format!("file://{}", dir.path().display());
    let listener = bind().await;
    cfg.listen = listener.local_addr().unwrap();
    let store = mcdata::storage::open_store(&cfg.store, &Default::default())
        .await
        .unwrap();
    let fd = mcdata::fd::FdServer::start_on(
        listener,
        cfg,
        store,
        mcdata::metrics::Metrics::new().unwrap(),
    )
    .await
    .unwrap();
    let r = get(&format!("{}/healthz", fd.base()), &[]).await;
    assert_eq!(r.status, 200);
    // Alice's token from the file is a user of it.
    let r = get(
        &format!("{}/fd/history", fd.base()),
        &[("authorization", "Bearer tok-alice-a-123")],
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    fd.shutdown().await;
}

/// sd_notify(3): READY=1, RELOADING=1 with MONOTONIC_USEC, READY=1, STOPPING=1, each a
/// datagram on `NOTIFY_SOCKET`. The notifying side runs in a child process (this test
/// binary again), whose environment holds `NOTIFY_SOCKET` from its start.
#[test]
fn notifications_reach_the_service_manager() {
    const NAME: &str = "packaging::notifications_reach_the_service_manager";
    if std::env::var_os("MCDATA_TEST_NOTIFY_CHILD").is_some() {
        mcdata::service::notify_ready();
        mcdata::service::notify_reloading();
        mcdata::service::notify_ready();
        mcdata::service::notify_stopping();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--test-threads=1", "--quiet"])
        .env("MCDATA_TEST_NOTIFY_CHILD", "1")
        .env("NOTIFY_SOCKET", &path)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "child: {status}");
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    for _ in 0..4 {
        let n = sock.recv(&mut buf).expect("a notification");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(got[0], "READY=1\n");
    let reloading: Vec<&str> = got[1].lines().collect();
    assert_eq!(reloading[0], "RELOADING=1");
    assert!(
        reloading[1]
            .strip_prefix("MONOTONIC_USEC=")
            .is_some_and(|v| v.parse::<u64>().is_ok()),
        "{reloading:?}"
    );
    assert_eq!(got[2], "READY=1\n");
    assert_eq!(got[3], "STOPPING=1\n");
    // Without NOTIFY_SOCKET (not under systemd), nothing happens and nothing fails.
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        mcdata::service::notify_ready();
    }
}
