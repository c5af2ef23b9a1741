//! The `mcdata` binary as an operator meets it: `--check` (like `nginx -t`) on good and
//! bad configurations, flags from the environment, secrets from files, and what is
//! printed when the start fails (each error once, the address of a failed bind, never a
//! backtrace).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mcdata(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcdata"));
    cmd.args(args);
    // Nothing of the environment the tests run in may change what the binary reads.
    for (k, _) in std::env::vars() {
        if k.starts_with("MCDATA_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run mcdata")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, body: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = mode;
    path
}

/// Exit status, stdout, stderr: for the assertion messages.
fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    )
}

#[test]
fn content_server_check_prints_the_effective_settings_and_binds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cred = write(dir.path(), "b.cred", "secret-ab-from-file\n", 0o600);
    let s3_key = write(dir.path(), "s3.key", "s3-secret-from-file\n", 0o600);
    let store = dir.path().join("store");
    // The port is taken: --check must not try to bind it.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = busy.local_addr().unwrap().to_string();
    let conf = write(
        dir.path(),
        "cs.toml",
        &format!(
            r#"
system-id = "A"
listen = "{listen}"
store = "file://{}"
cache-max-bytes = 10737418240
[[peers]]
system-id = "B"
content-server = "http://127.0.0.1:8081"
credential-file = "{}"
"#,
            store.display(),
            cred.display()
        ),
        0o644,
    );
    let o = mcdata(
        &[
            "content-server",
            "--config",
            conf.to_str().unwrap(),
            "--check",
            "--user",
            "alice@a,tok-alice-on-the-command-line",
        ],
        &[
            ("MCDATA_CACHE_MAX_BYTES", "1GiB"),
            ("MCDATA_DEFAULT_FILE_AVAILABILITY", "1h 30m"),
            ("MCDATA_SERVER_CREDENTIAL", "fd-credential-in-env"),
            ("MCDATA_SERVER", "http://127.0.0.1:9080"),
            ("MCDATA_S3_SECRET_ACCESS_KEY_FILE", s3_key.to_str().unwrap()),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(
        out.contains("cache-max-bytes = \"1GiB\""),
        "the variable wins over the file\n{out}"
    );
    assert!(out.contains("default-file-availability = \"90m\""), "{out}");
    assert!(
        out.contains("mcdata-server = \"http://127.0.0.1:9080\""),
        "{out}"
    );
    assert!(
        out.contains(&format!("public-uri = \"http://{listen}\"")),
        "{out}"
    );
    assert!(out.contains("<redacted>"), "{out}");
    for secret in [
        "secret-ab-from-file",
        "tok-alice-on",
        "fd-credential-in-env",
    ] {
        assert!(!out.contains(secret), "{secret} printed\n{out}");
    }
    assert!(!store.exists(), "--check opened the store");
    assert!(text(&o.stderr).is_empty(), "{}", show(&o));
    // What it printed is itself a valid configuration.
    let printed = write(dir.path(), "printed.toml", &out, 0o600);
    let again = mcdata(
        &[
            "content-server",
            "--config",
            printed.to_str().unwrap(),
            "--check",
        ],
        &[],
    );
    assert!(again.status.success(), "{}", show(&again));
}

#[test]
fn content_server_check_refuses_a_bad_file_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (body, key) in [
        ("sytem-id = \"A\"\n", "sytem-id"),
        ("store = \"ftp://x\"\n", "store"),
        ("cache-max-bytes = \"ten gigs\"\n", "cache-max-bytes"),
        ("listen = \"0.0.0.0:8080\"\n", "public-uri"),
        ("log-level = \"mcdata=chatty\"\n", "log-level"),
    ] {
        let conf = write(dir.path(), "bad.toml", body, 0o600);
        let o = mcdata(
            &["content-server", "-c", conf.to_str().unwrap(), "--check"],
            &[],
        );
        assert!(!o.status.success(), "{body}: {}", show(&o));
        let err = text(&o.stderr);
        assert!(err.contains(key), "{body}: {}", show(&o));
        assert!(err.starts_with("error: "), "{}", show(&o));
        assert!(o.stdout.is_empty(), "{}", show(&o));
    }
    let o = mcdata(&["content-server", "--listen", "[::]:8080", "--check"], &[]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("public-uri"), "{}", show(&o));
    // --check loads the TLS files a start would.
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    let o = mcdata(
        &[
            "content-server",
            "--tls-cert-file",
            missing,
            "--tls-key-file",
            missing,
            "--check",
        ],
        &[],
    );
    assert!(!o.status.success(), "{}", show(&o));
    assert!(text(&o.stderr).contains("missing.pem"), "{}", show(&o));
}

#[test]
fn a_secret_file_others_can_read_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let cred = write(dir.path(), "fd.cred", "fd-credential-1\n", 0o644);
    let o = mcdata(
        &[
            "content-server",
            "--mcdata-server",
            "http://127.0.0.1:9080",
            "--mcdata-server-credential-file",
            cred.to_str().unwrap(),
            "--check",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", show(&o));
    if cfg!(unix) {
        let err = text(&o.stderr);
        assert!(
            err.contains("warning:") && err.contains("fd.cred") && err.contains("chmod 600"),
            "{}",
            show(&o)
        );
    }
}

#[test]
fn fd_server_check_good_and_bad() {
    let dir = tempfile::tempdir().unwrap();
    let tok = write(dir.path(), "alice.token", "tok-alice-from-file\n", 0o600);
    let conf = write(
        dir.path(),
        "fd.toml",
        &format!(
            r#"
system-id = "A"
listen = "127.0.0.1:9080"
max-data-size-auto-recv-bytes = "64k"
[[users]]
id = "alice@a"
token-file = "{}"
[[partners]]
system-id = "B"
mcdata-server = "http://127.0.0.1:9081"
content-server = "http://127.0.0.1:8081"
credential = "secret-ab-123"
users = ["*@b"]
"#,
            tok.display()
        ),
        0o600,
    );
    let o = mcdata(
        &["fd-server", "--config", conf.to_str().unwrap(), "--check"],
        &[
            ("MCDATA_TIME_TEMP_DATA_WAITING", "2h"),
            ("MCDATA_CONTENT_SERVER_CREDENTIAL", "cs-credential-1"),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(
        out.contains("max-data-size-auto-recv-bytes = \"64KiB\""),
        "{out}"
    );
    assert!(out.contains("time-temp-data-waiting = \"2h\""), "{out}");
    for secret in ["tok-alice-from-file", "secret-ab-123", "cs-credential-1"] {
        assert!(!out.contains(secret), "{secret}\n{out}");
    }

    // Flags alone, without a file.
    let o = mcdata(
        &[
            "fd-server",
            "--listen",
            "127.0.0.1:9999",
            "--user",
            "bob@a,tok-bob-12345",
            "--check",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        text(&o.stdout).contains("listen = \"127.0.0.1:9999\""),
        "{}",
        show(&o)
    );

    let bad = write(
        dir.path(),
        "bad.toml",
        "max-data-size-auto-recv-bytes = \"2GiB\"\n",
        0o600,
    );
    let o = mcdata(
        &["fd-server", "--config", bad.to_str().unwrap(), "--check"],
        &[],
    );
    assert!(!o.status.success(), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("max-data-size-auto-recv-bytes"),
        "{}",
        show(&o)
    );
    let o = mcdata(&["fd-server", "--listen", "0.0.0.0:9080", "--check"], &[]);
    assert!(!o.status.success(), "{}", show(&o));
    assert!(text(&o.stderr).contains("public-uri"), "{}", show(&o));
}

#[test]
fn system_check_good_and_bad() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let good = examples.join("system-a.toml");
    let o = mcdata(
        &["system", "--config", good.to_str().unwrap(), "--check"],
        &[],
    );
    assert!(o.status.success(), "{}", show(&o));
    let out = text(&o.stdout);
    assert!(
        out.contains("[content-server]") && out.contains("[fd-server]"),
        "{out}"
    );
    assert!(
        !out.contains("tok-alice-a-123") && !out.contains("secret-ab-123"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "system.toml",
        "system-id = \"A\"\n[content-server]\nstore = \"file:///srv/mcdata\"\n",
        0o600,
    );
    let o = mcdata(
        &["system", "--config", bad.to_str().unwrap(), "--check"],
        &[],
    );
    assert!(!o.status.success(), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(
        err.contains("`store` does not belong in [content-server]") && err.contains("top level"),
        "{}",
        show(&o)
    );
}

#[test]
fn a_failed_bind_names_the_address_once_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let store = format!("file://{}", dir.path().join("store").display());
    for args in [
        vec!["content-server", "--listen", &addr, "--store", &store],
        vec!["fd-server", "--listen", &addr, "--store", &store],
        vec![
            "system",
            "--content-server-listen",
            &addr,
            "--store",
            &store,
        ],
    ] {
        let o = mcdata(&args, &[("RUST_BACKTRACE", "1")]);
        assert!(!o.status.success(), "{args:?}: {}", show(&o));
        let err = text(&o.stderr);
        let want = format!("cannot listen on {addr}: ");
        assert_eq!(err.matches(&want).count(), 1, "{args:?}: {}", show(&o));
        assert_eq!(err.matches("in use").count(), 1, "{args:?}: {}", show(&o));
        for never in ["stack backtrace", "Caused by", "Backtrace"] {
            assert!(!err.contains(never), "{args:?}: {}", show(&o));
        }
    }
}

#[test]
fn a_bad_config_is_printed_once_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "cs.toml",
        "cache-max-ttl = \"forever\"\n",
        0o600,
    );
    let o = mcdata(
        &["content-server", "--config", conf.to_str().unwrap()],
        &[("RUST_BACKTRACE", "1")],
    );
    assert!(!o.status.success(), "{}", show(&o));
    let err = text(&o.stderr);
    assert_eq!(err.matches("is not a duration").count(), 1, "{}", show(&o));
    assert_eq!(err.matches("cs.toml").count(), 1, "{}", show(&o));
    assert!(
        !err.contains("stack backtrace") && !err.contains("Caused by"),
        "{}",
        show(&o)
    );
}
