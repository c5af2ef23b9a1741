//! An S3 server whose conditional writes are atomic, for the tests of several instances on
//! one bucket: moto's server (PyPI `moto[server]`), started on a free loopback port, one per
//! test. `.ci/run` installs it into a virtualenv in `target/moto` (s3s-fs checks and then
//! writes, so it cannot stand for S3 there). Where it is missing these tests print a loud
//! SKIPPED line and pass, except in CI (`CI=true`), where they fail.

#![allow(dead_code)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use mcdata::config::Secret;
use mcdata::content_server::config::ContentServerConfig;

/// Where moto's server is: `$MCDATA_MOTO_SERVER`, `target/moto/bin/moto_server`, `PATH`.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MCDATA_MOTO_SERVER").map(PathBuf::from) {
        if p.is_file() {
            return Some(p);
        }
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/moto/bin/moto_server");
    if local.is_file() {
        return Some(local);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.is_file())
    })
}

/// A running moto server.
pub struct Moto {
    pub addr: SocketAddr,
    child: Child,
}

impl Moto {
    /// Start one with bucket `bucket`, or `None` (after saying so) when moto is absent
    /// outside CI.
    pub async fn start(test: &str, bucket: &str) -> Option<Moto> {
        let Some(binary) = binary() else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{test}: moto_server is not installed, and CI=true requires these tests to \
                     run. Install it with `python3 -m venv target/moto && target/moto/bin/pip \
                     install 'moto[server]'` (as .ci/run does) or set MCDATA_MOTO_SERVER"
                );
            }
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED {test}: no moto_server found (MCDATA_MOTO_SERVER, target/moto/bin, PATH) ***\n"
            );
            return None;
        };
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let child = Command::new(binary)
            .args(["-H", "127.0.0.1", "-p"])
            .arg(addr.port().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Moto { addr, child };
        let end = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < end, "moto_server did not listen on {addr}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // moto checks no signature: a plain PUT creates the bucket.
        let r = crate::harness::request(
            Method::PUT,
            &format!("{}/{bucket}", moto.endpoint()),
            &[],
            Bytes::new(),
        )
        .await;
        assert!(r.status.is_success(), "create bucket: {}", r.status);
        Some(moto)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Point `cfg` at `s3://bucket/prefix` on this server.
    pub fn configure(&self, cfg: &mut ContentServerConfig, bucket: &str, prefix: &str) {
        cfg.store = format!("s3://{bucket}/{prefix}");
        cfg.s3_endpoint = Some(self.endpoint());
        cfg.s3_region = Some("us-east-1".into());
        cfg.s3_access_key_id = Some("testing".into());
        cfg.s3_secret_access_key = Some(Secret("testing".into()));
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
