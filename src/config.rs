//! The configuration loader every server shares: reading a TOML file into a server's own
//! settings type ([`load_toml`]), the errors of doing so ([`ConfigError`]), durations
//! ([`parse_duration`], through `humantime`) and byte sizes ([`parse_size`]) as they are
//! written in files and flags, [`Secret`] and secret files ([`read_secret_file`]), the
//! logging keys ([`LogFormat`], [`validate_log_level`]) and the checks every listener
//! shares ([`check_public_uri`]). Each server owns its settings in its own file:
//! `content_server/config.rs`, `fd/config.rs`, `system.rs`.

use std::cell::RefCell;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Errors in the configuration; reported at start-up, before anything listens.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid value for {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("cannot read {key} {path}: {source}")]
    SecretFile {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

pub(crate) fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// What a secret is shown as, in `Debug` and in `--check`.
pub const REDACTED: &str = "<redacted>";

/// A secret from the config file, a flag, the environment or a secret file: never
/// printed by `Debug` nor serialized (both show [`REDACTED`]).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The secret itself, for the one place that sends or compares it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// Serialize any secret kept as a plain string (a peer's credential, a user's token) as
/// [`REDACTED`].
pub fn ser_redacted<T: ?Sized, S: Serializer>(_: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(REDACTED)
}

thread_local! {
    /// Warnings of a configuration being read, while [`collecting_warnings`] runs.
    static WARNINGS: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// A warning about the configuration (a secret file others can read): collected while
/// [`collecting_warnings`] runs (the logger is set up from the configuration, so it may
/// not exist yet), else logged at once.
pub fn warn(message: String) {
    let unheard = WARNINGS.with(|w| match w.borrow_mut().as_mut() {
        Some(list) => {
            list.push(message);
            None
        }
        None => Some(message),
    });
    if let Some(message) = unheard {
        tracing::warn!("{message}");
    }
}

/// Run `f` (parsing flags, reading a configuration) and return what it returned with the
/// warnings it raised, in order, instead of logging them.
pub fn collecting_warnings<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let outer = WARNINGS.with(|w| w.borrow_mut().replace(Vec::new()));
    let out = f();
    let mine = WARNINGS.with(|w| w.replace(outer)).unwrap_or_default();
    // Nested in another collector: that one hears them too.
    WARNINGS.with(|w| {
        if let Some(list) = w.borrow_mut().as_mut() {
            list.extend(mine.iter().cloned());
        }
    });
    (out, mine)
}

/// Read a secret from a file (`credential-file`, `token-file`, `*-credential-file`,
/// `s3-secret-access-key-file`): the whole file, trailing newlines (`\n`, `\r\n`)
/// removed. An empty file is an error; a file that users other than its owner may read
/// gets a [`warn`]ing.
pub fn read_secret_file(key: &'static str, path: &Path) -> Result<Secret, ConfigError> {
    let fail = |source| ConfigError::SecretFile {
        key,
        path: path.into(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(fail)?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(invalid(key, format!("{} is empty", path.display())));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(fail)?.permissions().mode();
        if mode & 0o044 != 0 {
            warn(format!(
                "{key} {} can be read by users other than its owner (mode {:03o}): chmod 600 it",
                path.display(),
                mode & 0o777
            ));
        }
    }
    Ok(Secret(secret.to_string()))
}

/// A secret given either as its value or as a file holding it (`key` / `key-file`): the
/// value, read from the file when that was given. Both at once is an error.
pub fn secret_or_file(
    key: &'static str,
    file_key: &'static str,
    value: Option<Secret>,
    file: Option<&Path>,
) -> Result<Option<Secret>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(invalid(key, format!("give {key} or {file_key}, not both"))),
        (v, None) => Ok(v),
        (None, Some(f)) => read_secret_file(file_key, f).map(Some),
    }
}

/// A secret written in a list flag (`--peer B,URI,CREDENTIAL`, `--user ID,TOKEN`): the
/// value itself, or `@PATH` for a file holding it (read as [`read_secret_file`] does).
pub fn inline_secret(key: &'static str, text: &str) -> Result<String, String> {
    match text.strip_prefix('@') {
        Some(path) => read_secret_file(key, Path::new(path))
            .map(|s| s.0)
            .map_err(|e| e.to_string()),
        None => Ok(text.to_string()),
    }
}

/// A user's `token` or `token-file` (`[[users]]` of the content server, the MCData server
/// and a system).
pub fn user_token(
    id: &str,
    token: Option<String>,
    file: Option<&Path>,
) -> Result<String, ConfigError> {
    match (token, file) {
        (Some(t), None) => Ok(t),
        (None, Some(f)) => Ok(read_secret_file("users.token-file", f)?.0),
        (Some(_), Some(_)) => Err(invalid(
            "users.token",
            format!("user {id}: give token or token-file, not both"),
        )),
        (None, None) => Err(invalid(
            "users.token",
            format!("user {id}: give token or token-file"),
        )),
    }
}

/// Apply a secret flag and its `-file` flag over a config's pair of keys: the value
/// replaces both keys, the file is read at once (and kept, for `--check`).
pub fn override_secret(
    key: &'static str,
    file_key: &'static str,
    value: &Option<Secret>,
    file: &Option<PathBuf>,
    cfg_value: &mut Option<Secret>,
    cfg_file: &mut Option<PathBuf>,
) -> Result<(), ConfigError> {
    match (value, file) {
        (None, None) => {}
        (Some(_), Some(_)) => {
            return Err(invalid(
                key,
                format!("give --{key} or --{file_key}, not both"),
            ))
        }
        (Some(v), None) => {
            *cfg_value = Some(v.clone());
            *cfg_file = None;
        }
        (None, Some(f)) => {
            *cfg_value = Some(read_secret_file(file_key, f)?);
            *cfg_file = Some(f.clone());
        }
    }
    Ok(())
}

/// Serialize a `clap::ValueEnum` (`tls-client-auth`) by its name on the command line, which
/// is also its name in the file.
pub fn ser_value_enum<T: clap::ValueEnum, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    match v.to_possible_value() {
        Some(p) => s.serialize_str(p.get_name()),
        None => s.serialize_none(),
    }
}

/// Parse a duration: whole seconds (`90`) or what `humantime` reads: a number with a unit
/// (`30s`, `15m`, `24h`, `7d`, `2w`, `500ms`), several of them (`1h 30m`), fractions
/// (`1.5h`). `m` is minutes, `M` months (30.44 days).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("{text:?} is too long"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{text:?} is not a duration like 90, 30s, 15m, 24h or 7d ({e})"))
}

/// A duration as `--check` prints it, in a form [`parse_duration`] reads back: the
/// largest whole unit (`0s`, `90s`, `15m`, `24h`, `7d`; days from two on), else
/// humantime's (`1s 500ms`).
pub fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() != 0 {
        return humantime::format_duration(d).to_string();
    }
    let s = d.as_secs();
    match s {
        0 => "0s".into(),
        _ if s % 86400 == 0 && s >= 2 * 86400 => format!("{}d", s / 86400),
        _ if s % 3600 == 0 => format!("{}h", s / 3600),
        _ if s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

struct DurationVisitor;

impl serde::de::Visitor<'_> for DurationVisitor {
    type Value = Duration;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration: whole seconds or a string like \"30s\", \"15m\", \"24h\", \"7d\"")
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| E::custom(format!("{v} is negative: a duration is 0 or more")))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }
}

/// A duration key: whole seconds or a string [`parse_duration`] reads.
pub fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor)
}

/// An optional duration: absent, `0` or `"0s"` mean none.
pub fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let d = de_duration(d)?;
    Ok(Some(d).filter(|d| !d.is_zero()))
}

/// Serialize a duration as [`format_duration`] writes it.
pub fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

/// Serialize an optional duration (skip `None` with `skip_serializing_if`).
pub fn ser_opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}

/// `#[serde(with = "crate::config::duration")]`: [`de_duration`] and [`ser_duration`].
pub mod duration {
    pub use super::{de_duration as deserialize, ser_duration as serialize};
}

/// `#[serde(with = "crate::config::opt_duration")]`: [`de_opt_duration`] and
/// [`ser_opt_duration`].
pub mod opt_duration {
    pub use super::{de_opt_duration as deserialize, ser_opt_duration as serialize};
}

/// `#[serde(with = "crate::config::size")]`: [`de_size`] and [`ser_size`].
pub mod size {
    pub use super::{de_size as deserialize, ser_size as serialize};
}

const KIB: u64 = 1024;

/// The multiplier of a size unit, case-insensitive: none or `b` bytes; `k`, `ki`, `kib`
/// (and `m`, `g`, `t` likewise) powers of 1024, as nginx's `k`, `m`, `g`; `kb`, `mb`, `gb`,
/// `tb` powers of 1000 (SI, as disks are sold).
fn size_unit(unit: &str) -> Option<u64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "ki" | "kib" => KIB,
        "m" | "mi" | "mib" => KIB.pow(2),
        "g" | "gi" | "gib" => KIB.pow(3),
        "t" | "ti" | "tib" => KIB.pow(4),
        "kb" => 1000,
        "mb" => 1000u64.pow(2),
        "gb" => 1000u64.pow(3),
        "tb" => 1000u64.pow(4),
        _ => return None,
    })
}

/// Parse a byte size: a whole number of bytes (`1048576`) or a number with a unit,
/// case-insensitive: `k`/`m`/`g`/`t` and `KiB`/`MiB`/`GiB`/`TiB` (also `Ki`, ...) are
/// powers of 1024 (`64k` = 65536, `10g` = `10GiB`, as in nginx); `KB`/`MB`/`GB`/`TB`
/// powers of 1000 (`1.5GB` = 1500000000); `b` bytes. A space may stand between number
/// and unit; a fraction is rounded down to a whole byte.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let bad = || format!("{text:?} is not a size like 1048576, 64k, 512MiB, 10GiB or 1.5GB");
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult = size_unit(unit.trim_start()).ok_or_else(|| {
        format!(
            "unknown unit {:?} in {text:?} (use k, m, g, t or KiB, MiB, GiB, TiB for powers \
             of 1024; KB, MB, GB, TB for powers of 1000)",
            unit.trim_start()
        )
    })?;
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') || frac.len() > 18 {
        return Err(bad());
    }
    let int: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let scale = 10u128.pow(frac.len() as u32);
    let frac: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    let too_large = || format!("{text:?} is too large");
    let bytes = int
        .checked_mul(u128::from(mult))
        .and_then(|b| b.checked_add(frac * u128::from(mult) / scale))
        .ok_or_else(too_large)?;
    u64::try_from(bytes).map_err(|_| too_large())
}

/// A byte size as `--check` prints it, in a form [`parse_size`] reads back: the largest
/// binary unit it is a whole multiple of (`10GiB`, `512MiB`, `64KiB`), else bytes.
pub fn format_size(n: u64) -> String {
    for (unit, mult) in [
        ("TiB", KIB.pow(4)),
        ("GiB", KIB.pow(3)),
        ("MiB", KIB.pow(2)),
        ("KiB", KIB),
    ] {
        if n >= mult && n % mult == 0 {
            return format!("{}{unit}", n / mult);
        }
    }
    n.to_string()
}

struct SizeVisitor;

impl serde::de::Visitor<'_> for SizeVisitor {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a size: whole bytes or a string like \"64k\", \"512MiB\", \"10GiB\"")
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("{v} is negative: a size is 0 or more")))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
        Err(E::custom(format!(
            "{v}: write a fraction with a unit, as a string (\"1.5GiB\")"
        )))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
        parse_size(v).map_err(E::custom)
    }
}

/// A byte-size key: whole bytes or a string [`parse_size`] reads.
pub fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(SizeVisitor)
}

/// Serialize a byte size as [`format_size`] writes it (a string with a unit, or an
/// integer).
pub fn ser_size<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
    let text = format_size(*n);
    match text.parse::<u64>() {
        Ok(n) => s.serialize_u64(n),
        Err(_) => s.serialize_str(&text),
    }
}

/// How log lines are written to stderr (`log-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The default `log-level`.
pub const DEFAULT_LOG_LEVEL: &str = "info";

/// The default `shutdown-grace`.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Check a `log-level`: `RUST_LOG`-style directives (`info`, `mcdata=debug,hyper=warn`).
pub fn validate_log_level(key: &'static str, level: &str) -> Result<(), ConfigError> {
    if level.trim().is_empty() {
        return Err(invalid(
            key,
            "must not be empty (e.g. info, or mcdata=debug,warn)",
        ));
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(level)
        .map(|_| ())
        .map_err(|e| invalid(key, format!("{level:?}: {e}")))
}

/// A listener on every address (`0.0.0.0`, `[::]`) needs a `public-uri`: without one the
/// server would hand out `http://0.0.0.0:PORT/...` URLs (upload `Location`s, partner
/// prefixes, FD messages), which no client or partner system can use.
pub fn check_public_uri(
    listen_key: &'static str,
    listen: SocketAddr,
    public_key: &'static str,
    public_uri: Option<&str>,
) -> Result<(), ConfigError> {
    if listen.ip().is_unspecified() && public_uri.is_none() {
        return Err(invalid(
            public_key,
            format!(
                "{listen_key} = {listen} listens on every address, so it cannot tell clients \
                 and partner systems which URI reaches this server (it would hand out \
                 http://{listen}/... URLs): set {public_key} to that URI, e.g. \
                 \"http://cs.a.example:{}\"",
                listen.port()
            ),
        ));
    }
    Ok(())
}

/// Check `metrics-listen` against the listeners it must not take.
pub fn check_metrics_listen(
    key: &'static str,
    metrics: Option<SocketAddr>,
    listeners: &[(&'static str, SocketAddr)],
) -> Result<(), ConfigError> {
    let Some(m) = metrics else { return Ok(()) };
    for (name, l) in listeners {
        if m == *l && m.port() != 0 {
            return Err(invalid(key, format!("{m} is already {name}")));
        }
    }
    Ok(())
}

/// Read and parse any of our TOML config files (content server, MCData server, system).
pub fn load_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.into(),
        source: Box::new(source),
    })
}

/// The effective settings as `--check` prints them: TOML, secrets shown as
/// [`REDACTED`].
pub fn to_toml<T: Serialize>(cfg: &T) -> Result<String, ConfigError> {
    toml::to_string(cfg).map_err(|e| invalid("configuration", format!("cannot print it: {e}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The keys a config type accepts, from serde's own list (the error for an unknown key
    /// names them all).
    pub(crate) fn keys_of<T: serde::de::DeserializeOwned + std::fmt::Debug>() -> Vec<String> {
        let e = toml::from_str::<T>("no-such-key = 1")
            .unwrap_err()
            .to_string();
        let list = e
            .split("expected one of")
            .nth(1)
            .expect("serde lists the keys");
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    /// Every key of `T` is a flag of `A` (lists: the singular, repeatable) with an
    /// `MCDATA_<KEY>` variable; secrets hide their variable's value.
    pub(crate) fn every_key_is_a_flag<T, A>(skip: &[&str])
    where
        T: serde::de::DeserializeOwned + std::fmt::Debug,
        A: clap::Args,
    {
        let cmd = A::augment_args(clap::Command::new("t"));
        let keys = keys_of::<T>();
        assert!(keys.len() > 5, "{keys:?}");
        for key in keys.iter().filter(|k| !skip.contains(&k.as_str())) {
            let long = match key.as_str() {
                "peers" => "peer",
                "users" => "user",
                "partners" => "partner",
                "instances" => "instance",
                k => k,
            };
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(long))
                .unwrap_or_else(|| panic!("no flag --{long} for the key {key}"));
            let want = format!("MCDATA_{}", key.to_uppercase().replace('-', "_"))
                .replace("MCDATA_MCDATA_", "MCDATA_");
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(want.as_str()),
                "--{long}"
            );
            let secret = [
                "credential",
                "secret",
                "token",
                "peers",
                "users",
                "partners",
            ]
            .iter()
            .any(|s| key.contains(s))
                && !key.ends_with("-file");
            assert_eq!(
                arg.is_hide_env_values_set(),
                secret,
                "--{long} hides its value"
            );
        }
    }

    #[test]
    fn durations_parse_as_before_and_with_humantime() {
        // What was accepted before humantime.
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 90 "), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30 s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        // What humantime adds.
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("10min"), Ok(Duration::from_secs(600)));
        // Refused.
        for bad in ["", "7x", "s", "-5s", "1.2.3s", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_duration("99999999999999999999").is_err());
        assert!(parse_duration("7x").unwrap_err().contains("30s"));
    }

    #[test]
    fn durations_print_in_a_form_they_parse_back_from() {
        for (d, text) in [
            (0, "0s"),
            (90, "90s"),
            (900, "15m"),
            (3600, "1h"),
            (5400, "90m"),
            (86400, "24h"),
            (2 * 86400, "2d"),
            (7 * 86400, "7d"),
        ] {
            let d = Duration::from_secs(d);
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d));
        }
        let d = Duration::from_millis(1500);
        assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }

    #[derive(Deserialize, Serialize, Debug)]
    struct Keys {
        #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
        d: Duration,
        #[serde(deserialize_with = "de_size", serialize_with = "ser_size")]
        s: u64,
    }

    #[test]
    fn duration_and_size_keys_take_integers_and_strings() {
        let k: Keys = toml::from_str("d = 90\ns = 1048576").unwrap();
        assert_eq!((k.d, k.s), (Duration::from_secs(90), 1 << 20));
        let k: Keys = toml::from_str("d = \"1h 30m\"\ns = \"10GiB\"").unwrap();
        assert_eq!((k.d, k.s), (Duration::from_secs(5400), 10 << 30));
        for bad in [
            "d = -1\ns = 1",
            "d = 1\ns = -1",
            "d = 1\ns = 1.5",
            "d = 1\ns = \"5x\"",
        ] {
            let e = toml::from_str::<Keys>(bad).unwrap_err().to_string();
            assert!(
                e.contains("negative") || e.contains("fraction") || e.contains("unit"),
                "{bad}: {e}"
            );
        }
        let text = toml::to_string(&Keys {
            d: Duration::from_secs(86400),
            s: 512 << 20,
        })
        .unwrap();
        assert_eq!(text, "d = \"24h\"\ns = \"512MiB\"\n");
        let odd = toml::to_string(&Keys {
            d: Duration::from_secs(1),
            s: 1000,
        })
        .unwrap();
        assert_eq!(odd, "d = \"1s\"\ns = 1000\n");
    }

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        for (text, want) in [
            ("0", 0),
            ("1048576", 1 << 20),
            ("  42  ", 42),
            ("42b", 42),
            ("64k", 64 << 10),
            ("64K", 64 << 10),
            ("64KiB", 64 << 10),
            ("64ki", 64 << 10),
            ("64KB", 64_000),
            ("64kB", 64_000),
            ("512m", 512 << 20),
            ("512MiB", 512 << 20),
            ("512 MiB", 512 << 20),
            ("10g", 10 << 30),
            ("10G", 10 << 30),
            ("10GiB", 10 << 30),
            ("10GB", 10_000_000_000),
            ("1.5GB", 1_500_000_000),
            ("1.5GiB", 3 << 29),
            ("0.5k", 512),
            (".5k", 512),
            ("1.0001k", 1024),
            ("2t", 2 << 40),
            ("2TB", 2_000_000_000_000),
        ] {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        for bad in [
            "", "k", "1.2.3k", "10 GiBs", "-1", "1e3", "5x", "1..5k", ".",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert!(parse_size("16777216t").unwrap_err().contains("too large"));
        assert!(parse_size("18446744073709551616").is_err());
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert!(parse_size("5x").unwrap_err().contains("KiB"));
    }

    #[test]
    fn sizes_print_in_a_form_they_parse_back_from() {
        for (n, text) in [
            (0, "0"),
            (1000, "1000"),
            (1024, "1KiB"),
            (1536, "1536"),
            (64 << 20, "64MiB"),
            (10 << 30, "10GiB"),
            (3 << 40, "3TiB"),
        ] {
            assert_eq!(format_size(n), text);
            assert_eq!(parse_size(text), Ok(n));
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_serialization() {
        let s = Secret::from("hunter22-secret");
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(s.expose(), "hunter22-secret");
        #[derive(Serialize)]
        struct Holder {
            s: Secret,
            #[serde(serialize_with = "ser_redacted")]
            plain: String,
        }
        let text = toml::to_string(&Holder {
            s,
            plain: "also-secret".into(),
        })
        .unwrap();
        assert!(!text.contains("secret\""), "{text}");
        assert_eq!(text.matches(REDACTED).count(), 2);
    }

    #[test]
    fn secret_files_are_read_trimmed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.cred");
        std::fs::write(&path, "secret-ab-123\r\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let (got, warnings) = collecting_warnings(|| read_secret_file("credential-file", &path));
        assert_eq!(got.unwrap().expose(), "secret-ab-123");
        assert!(warnings.is_empty(), "{warnings:?}");

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let (got, warnings) =
                collecting_warnings(|| read_secret_file("credential-file", &path));
            assert!(got.is_ok());
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(warnings[0].contains("b.cred") && warnings[0].contains("644"));
        }

        // Spaces inside and before are the secret's own; only trailing newlines go.
        std::fs::write(&path, " a b \n\n").unwrap();
        assert_eq!(
            read_secret_file("k", &path).unwrap().expose(),
            " a b ",
            "only trailing newlines are trimmed"
        );
        std::fs::write(&path, "\n").unwrap();
        assert!(read_secret_file("k", &path)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        let missing = read_secret_file("token-file", &dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("token-file") && missing.contains("nope"),
            "{missing}"
        );

        std::fs::write(&path, "from-a-file\n").unwrap();
        assert_eq!(inline_secret("k", "plain").unwrap(), "plain");
        let at = format!("@{}", path.display());
        assert_eq!(inline_secret("k", &at).unwrap(), "from-a-file");
        assert!(inline_secret("k", "@/no/such/file").is_err());

        assert!(secret_or_file("a", "a-file", Some("x".into()), Some(&path)).is_err());
        assert_eq!(
            secret_or_file("a", "a-file", None, Some(&path)).unwrap(),
            Some(Secret::from("from-a-file"))
        );
        assert_eq!(secret_or_file("a", "a-file", None, None).unwrap(), None);
    }

    #[test]
    fn warnings_are_logged_unless_collected() {
        let ((), outer) = collecting_warnings(|| {
            warn("one".into());
            let ((), inner) = collecting_warnings(|| warn("two".into()));
            assert_eq!(inner, ["two"]);
        });
        assert_eq!(outer, ["one", "two"]);
        // Outside a collector a warning goes to the log (and nowhere else).
        warn("logged".into());
        let ((), none) = collecting_warnings(|| {});
        assert!(none.is_empty());
    }

    #[test]
    fn log_keys() {
        validate_log_level("log-level", "info").unwrap();
        validate_log_level("log-level", "mcdata=debug,hyper=warn").unwrap();
        assert!(validate_log_level("log-level", "").is_err());
        assert!(validate_log_level("log-level", "mcdata=loud").is_err());
        #[derive(Deserialize)]
        struct F {
            f: LogFormat,
        }
        assert_eq!(
            toml::from_str::<F>("f = \"json\"").unwrap().f,
            LogFormat::Json
        );
        assert!(toml::from_str::<F>("f = \"xml\"").is_err());
        assert_eq!(LogFormat::default(), LogFormat::Text);
    }

    #[test]
    fn an_unspecified_listen_address_needs_a_public_uri() {
        let any4: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let any6: SocketAddr = "[::]:8080".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        for l in [any4, any6] {
            let e = check_public_uri("listen", l, "public-uri", None)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("public-uri") && e.contains(&l.to_string()),
                "{e}"
            );
            check_public_uri("listen", l, "public-uri", Some("http://cs.a.example")).unwrap();
        }
        check_public_uri("listen", lo, "public-uri", None).unwrap();
        assert!(check_metrics_listen("metrics-listen", Some(lo), &[("listen", lo)]).is_err());
        check_metrics_listen("metrics-listen", None, &[("listen", lo)]).unwrap();
        let other: SocketAddr = "127.0.0.1:9100".parse().unwrap();
        check_metrics_listen("metrics-listen", Some(other), &[("listen", lo)]).unwrap();
    }
}
