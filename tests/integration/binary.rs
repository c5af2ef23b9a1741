//! The `mcdata` binary under test: started with arguments, its stderr (the logs) kept in a
//! file, killed when dropped.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::*;

pub struct Server {
    pub child: Child,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// `mcdata <args>` with `env`, its stderr in a file.
    pub fn start(args: &[String], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcdata"));
        cmd.args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .env_remove("RUST_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Server {
            child: cmd.spawn().unwrap(),
            log,
            _dir: dir,
        }
    }

    /// Send `sig` (`-HUP`, `-TERM`).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// Wait (at most 10 s) for the process to end; its exit status.
    pub async fn exited(&mut self) -> Option<std::process::ExitStatus> {
        for _ in 0..200 {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// What it wrote to stderr so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
pub async fn free_port() -> u16 {
    bind().await.local_addr().unwrap().port()
}

/// Wait until `base` answers `/healthz` (at most 5 s).
pub async fn wait_up(base: &str) {
    for _ in 0..100 {
        let r = client()
            .request(
                http::Request::get(format!("{base}/healthz"))
                    .body(http_body_util::Full::new(bytes::Bytes::new()))
                    .unwrap(),
            )
            .await;
        if r.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} does not answer");
}
