//! A real S3-compatible server for the tests: `s3s-fs` (crates.io, `cargo install
//! s3s-fs@0.14.1 --features binary --locked`), started on a free loopback port with a
//! temporary root where each bucket is a directory. `.ci/run` installs it into
//! `target/s3s/bin`. Where it is missing the S3 tests print a loud SKIPPED line and pass,
//! except in CI (`CI=true`), where they fail.

#![allow(dead_code)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mcdata::config::Secret;
use mcdata::content_server::config::ContentServerConfig;

pub const ACCESS_KEY: &str = "mcdata-test-access";
pub const SECRET_KEY: &str = "mcdata-test-secret-key";

/// Where the s3s-fs binary is: `$MCDATA_S3S_FS`, `target/s3s/bin/s3s-fs`, then `PATH`.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MCDATA_S3S_FS").map(PathBuf::from) {
        if p.is_file() {
            return Some(p);
        }
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/s3s/bin/s3s-fs");
    if local.is_file() {
        return Some(local);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("s3s-fs"))
            .find(|p| p.is_file())
    })
}

/// The s3s-fs binary, or `None` (after saying so loudly) outside CI; panics in CI.
pub fn binary_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(b) = binary() {
        return Some(b);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{test}: s3s-fs is not installed, and CI=true requires the S3 tests to run. \
             Install it with `cargo install s3s-fs@0.14.1 --features binary --locked --root target/s3s` \
             (as .ci/run does) or set MCDATA_S3S_FS"
        );
    }
    // Straight to the process's stderr: the test harness captures eprintln! of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED {test}: no s3s-fs S3 server found (MCDATA_S3S_FS, target/s3s/bin, PATH). \
         Install: cargo install s3s-fs@0.14.1 --features binary --locked --root target/s3s ***\n"
    );
    None
}

/// A running s3s-fs.
pub struct S3Server {
    pub addr: SocketAddr,
    pub root: PathBuf,
    binary: PathBuf,
    child: Option<Child>,
    _tmp: tempfile::TempDir,
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr")
}

impl S3Server {
    /// Start one, or `None` when s3s-fs is absent outside CI.
    pub async fn start(test: &str) -> Option<S3Server> {
        let binary = binary_or_skip(test)?;
        // RUST_LOG=mcdata=debug shows the servers' logs in failing tests.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let tmp = tempfile::tempdir().unwrap();
        let mut s = S3Server {
            addr: free_port(),
            root: tmp.path().to_path_buf(),
            binary,
            child: None,
            _tmp: tmp,
        };
        s.spawn().await;
        Some(s)
    }

    async fn spawn(&mut self) {
        let child = Command::new(&self.binary)
            .args(["--host", "127.0.0.1", "--port"])
            .arg(self.addr.port().to_string())
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(self.addr).is_err() {
            assert!(
                Instant::now() < end,
                "s3s-fs did not listen on {}",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Create a bucket (a directory under the root) and a prefix directory in it.
    pub fn bucket(&self, bucket: &str, prefix: &str) -> PathBuf {
        let dir = self.root.join(bucket).join(prefix);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Stop the server (the store becomes unreachable).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again on the same port and root.
    pub async fn revive(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// Incomplete multipart uploads s3s-fs holds (`.upload*` files in its root).
    pub fn pending_uploads(&self) -> Vec<String> {
        std::fs::read_dir(&self.root)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with(".upload"))
            .collect()
    }

    /// Point `cfg` at `s3://bucket/prefix` on this server.
    pub fn configure(&self, cfg: &mut ContentServerConfig, bucket: &str, prefix: &str) {
        cfg.store = format!("s3://{bucket}/{prefix}");
        cfg.s3_endpoint = Some(self.endpoint());
        cfg.s3_region = Some("us-east-1".into());
        cfg.s3_access_key_id = Some(ACCESS_KEY.into());
        cfg.s3_secret_access_key = Some(Secret(SECRET_KEY.into()));
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}
