//! One whole MCData system in one process: its content server and its MCData server,
//! configured from one TOML file, sharing storage and the metrics registry. The content
//! server's removals and expiries reach the MCData server, which sends the FD network
//! notifications.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Deserializer, Serialize};
use tokio::net::TcpListener;

use crate::codec::NetworkNotificationKind;
use crate::config::ser_value_enum;
use crate::config::{
    check_metrics_listen, invalid, parse_duration, parse_size, validate_log_level, ConfigError,
    LogFormat, DEFAULT_LOG_LEVEL, DEFAULT_SHUTDOWN_GRACE,
};
use crate::content_server::config::{ContentServerConfig, Peer, User};
use crate::content_server::{ContentServer, Running, StartError};
use crate::fd::config::{parse_fd_user, parse_partner, FdPartner, FdServerConfig, FdUser};
use crate::fd::{FdServer, FdStartError, RunningFd};
use crate::metrics::Metrics;
use crate::storage::open_store;

/// The MCData server's own section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct FdSection {
    pub listen: SocketAddr,
    pub public_uri: Option<String>,
    #[serde(with = "crate::config::size")]
    pub max_data_size_auto_recv_bytes: u64,
    #[serde(with = "crate::config::duration")]
    pub time_temp_data_waiting: Duration,
    /// HTTPS on the MCData server's listener (see the content server's keys).
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub tls_client_ca_file: Option<PathBuf>,
    #[serde(serialize_with = "ser_value_enum")]
    pub tls_client_auth: crate::http::server_tls::ClientAuth,
    /// Client limits of the MCData server's listener (as the content server's).
    #[serde(with = "crate::config::duration")]
    pub client_header_timeout: Duration,
    #[serde(with = "crate::config::duration")]
    pub client_body_timeout: Duration,
    pub max_connections: usize,
    /// SIP towards partner systems (see the MCData server's `sip-*` keys).
    pub sip_listen: Option<SocketAddr>,
    pub sip_tls_listen: Option<SocketAddr>,
    pub sip_uri: Option<String>,
    pub sip_tls_cert_file: Option<PathBuf>,
    pub sip_tls_key_file: Option<PathBuf>,
    pub sip_tls_ca_file: Option<PathBuf>,
}

impl Default for FdSection {
    fn default() -> Self {
        let d = FdServerConfig::default();
        FdSection {
            listen: d.listen,
            public_uri: None,
            max_data_size_auto_recv_bytes: d.max_data_size_auto_recv_bytes,
            time_temp_data_waiting: d.time_temp_data_waiting,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            tls_client_auth: d.tls_client_auth,
            client_header_timeout: d.client_header_timeout,
            client_body_timeout: d.client_body_timeout,
            max_connections: d.max_connections,
            sip_listen: None,
            sip_tls_listen: None,
            sip_uri: None,
            sip_tls_cert_file: None,
            sip_tls_key_file: None,
            sip_tls_ca_file: None,
        }
    }
}

/// The configuration of a whole system (`mcdata system --config FILE`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct SystemConfig {
    pub system_id: String,
    /// Storage shared by both servers.
    pub store: String,
    #[serde(with = "crate::config::size")]
    pub max_data_size_fd_bytes: u64,
    /// PEM file of extra CA certificates trusted for https peers (both servers).
    pub tls_ca_file: Option<PathBuf>,
    /// After SIGTERM (or Ctrl-C), how long in-flight responses may still take (both
    /// servers).
    #[serde(with = "crate::config::duration")]
    pub shutdown_grace: Duration,
    /// Serve `/metrics` (of both servers: one registry) on this separate listener.
    pub metrics_listen: Option<SocketAddr>,
    /// How log lines are written to stderr: `text` or `json`.
    pub log_format: LogFormat,
    /// Which log lines are written: `RUST_LOG`-style directives; `RUST_LOG`, when set,
    /// wins.
    pub log_level: String,
    /// Content server settings. The keys that belong to the whole system (`system-id`,
    /// `store`, the maximum data size, `peers` (the `partners`), `users`, and the four
    /// process keys above) are refused here, with where they belong.
    #[serde(deserialize_with = "de_content_section")]
    pub content_server: ContentServerConfig,
    /// MCData server settings; the keys of the whole system are refused here likewise.
    #[serde(deserialize_with = "de_fd_section")]
    pub fd_server: FdSection,
    pub users: Vec<FdUser>,
    pub partners: Vec<FdPartner>,
}

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig {
            system_id: "local".into(),
            store: "file://./mcdata-data".into(),
            max_data_size_fd_bytes: ContentServerConfig::default().max_data_size_fd_bytes,
            tls_ca_file: None,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            metrics_listen: None,
            log_format: LogFormat::Text,
            log_level: DEFAULT_LOG_LEVEL.into(),
            content_server: ContentServerConfig::default(),
            fd_server: FdSection::default(),
            users: Vec::new(),
            partners: Vec::new(),
        }
    }
}

/// Keys of the whole system (or of running two servers in one process), each with where
/// it belongs instead of `[content-server]`.
const NOT_IN_CONTENT_SECTION: &[(&str, &str)] = &[
    (
        "system-id",
        "set system-id at the top level of the file: both servers use it",
    ),
    (
        "store",
        "set store at the top level of the file: both servers share it",
    ),
    (
        "max-data-size-fd-bytes",
        "set max-data-size-fd-bytes at the top level of the file: both servers enforce it",
    ),
    (
        "peers",
        "a system's agreements are its [[partners]] at the top level of the file (system-id, \
         mcdata-server, content-server, credential, users): both servers use them",
    ),
    (
        "users",
        "a system's users are its [[users]] at the top level of the file (id, token, \
         may-send-fd, may-query-history): both servers use them",
    ),
    (
        "mcdata-server",
        "in one system the content server tells its MCData server of removals directly",
    ),
    (
        "mcdata-server-credential",
        "in one system the content server tells its MCData server of removals directly",
    ),
    (
        "mcdata-server-credential-file",
        "in one system the content server tells its MCData server of removals directly",
    ),
    (
        "shutdown-grace",
        "set shutdown-grace at the top level of the file (one process)",
    ),
    (
        "metrics-listen",
        "set metrics-listen at the top level of the file (one process, one registry)",
    ),
    (
        "log-format",
        "set log-format at the top level of the file (one process)",
    ),
    (
        "log-level",
        "set log-level at the top level of the file (one process)",
    ),
];

/// The same for `[fd-server]`.
const NOT_IN_FD_SECTION: &[(&str, &str)] = &[
    (
        "system-id",
        "set system-id at the top level of the file: both servers use it",
    ),
    (
        "store",
        "set store at the top level of the file: both servers share it",
    ),
    (
        "max-data-size-fd-bytes",
        "set max-data-size-fd-bytes at the top level of the file: both servers enforce it",
    ),
    (
        "tls-ca-file",
        "set tls-ca-file at the top level of the file: both servers use it",
    ),
    (
        "users",
        "set [[users]] at the top level of the file: both servers use them",
    ),
    (
        "partners",
        "set [[partners]] at the top level of the file: both servers use them",
    ),
    (
        "content-server",
        "in one system the MCData server's content server is [content-server] of the same file",
    ),
    (
        "content-server-credential",
        "in one system the content server tells its MCData server of removals directly",
    ),
    (
        "content-server-credential-file",
        "in one system the content server tells its MCData server of removals directly",
    ),
    (
        "shutdown-grace",
        "set shutdown-grace at the top level of the file (one process)",
    ),
    (
        "metrics-listen",
        "set metrics-listen at the top level of the file (one process, one registry)",
    ),
    (
        "log-format",
        "set log-format at the top level of the file (one process)",
    ),
    (
        "log-level",
        "set log-level at the top level of the file (one process)",
    ),
];

/// Refuse the keys of a section that belong elsewhere, naming the first and where it goes.
fn refuse_misplaced(
    section: &str,
    table: &toml::Table,
    keys: &[(&str, &str)],
) -> Result<(), String> {
    for (key, hint) in keys {
        if table.contains_key(*key) {
            return Err(format!(
                "`{key}` does not belong in [{section}] of a system file: {hint}"
            ));
        }
    }
    Ok(())
}

fn de_section<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
    section: &str,
    keys: &[(&str, &str)],
) -> Result<T, D::Error> {
    use serde::de::Error;
    let table = toml::Table::deserialize(d)?;
    refuse_misplaced(section, &table, keys).map_err(D::Error::custom)?;
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| D::Error::custom(e.message()))
}

fn de_content_section<'de, D: Deserializer<'de>>(d: D) -> Result<ContentServerConfig, D::Error> {
    de_section(d, "content-server", NOT_IN_CONTENT_SECTION)
}

fn de_fd_section<'de, D: Deserializer<'de>>(d: D) -> Result<FdSection, D::Error> {
    de_section(d, "fd-server", NOT_IN_FD_SECTION)
}

/// Failures starting a system.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("content server: {0}")]
    Content(#[from] StartError),
    #[error("MCData server: {0}")]
    Fd(#[from] FdStartError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl SystemConfig {
    /// Read and parse a system's TOML file, with the secrets its `*-file` keys name.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut cfg: SystemConfig = crate::config::load_toml(path)?;
        cfg.content_server.read_secret_files()?;
        Ok(cfg)
    }

    /// The content server's configuration.
    pub fn content(&self) -> ContentServerConfig {
        let mut c = self.content_server.clone();
        c.system_id = self.system_id.clone();
        c.store = self.store.clone();
        c.max_data_size_fd_bytes = self.max_data_size_fd_bytes;
        if self.tls_ca_file.is_some() {
            c.tls_ca_file = self.tls_ca_file.clone();
        }
        c.shutdown_grace = self.shutdown_grace;
        c.metrics_listen = self.metrics_listen;
        c.log_format = self.log_format;
        c.log_level = self.log_level.clone();
        c.peers = self
            .partners
            .iter()
            .map(|p| Peer {
                system_id: p.system_id.clone(),
                content_server: p.content_server.clone(),
                credential: p.credential.clone(),
            })
            .collect();
        c.users = self
            .users
            .iter()
            .map(|u| User {
                id: u.id.clone(),
                token: u.token.clone(),
            })
            .collect();
        c
    }

    /// The MCData server's configuration, given the content server's public URI. Its
    /// `metrics-listen` is none: the two servers of a system share one registry, which
    /// the content server's side serves there.
    pub fn fd(&self, content_base: &str) -> FdServerConfig {
        FdServerConfig {
            system_id: self.system_id.clone(),
            listen: self.fd_server.listen,
            public_uri: self.fd_server.public_uri.clone(),
            content_server: content_base.to_string(),
            store: self.store.clone(),
            max_data_size_fd_bytes: self.max_data_size_fd_bytes,
            max_data_size_auto_recv_bytes: self.fd_server.max_data_size_auto_recv_bytes,
            time_temp_data_waiting: self.fd_server.time_temp_data_waiting,
            users: self.users.clone(),
            partners: self.partners.clone(),
            tls_ca_file: self.tls_ca_file.clone(),
            tls_cert_file: self.fd_server.tls_cert_file.clone(),
            tls_key_file: self.fd_server.tls_key_file.clone(),
            tls_client_ca_file: self.fd_server.tls_client_ca_file.clone(),
            tls_client_auth: self.fd_server.tls_client_auth,
            client_header_timeout: self.fd_server.client_header_timeout,
            client_body_timeout: self.fd_server.client_body_timeout,
            max_connections: self.fd_server.max_connections,
            // In one process the content server tells its MCData server directly.
            content_server_credential: None,
            content_server_credential_file: None,
            shutdown_grace: self.shutdown_grace,
            metrics_listen: None,
            sip_listen: self.fd_server.sip_listen,
            sip_tls_listen: self.fd_server.sip_tls_listen,
            sip_uri: self.fd_server.sip_uri.clone(),
            sip_tls_cert_file: self.fd_server.sip_tls_cert_file.clone(),
            sip_tls_key_file: self.fd_server.sip_tls_key_file.clone(),
            sip_tls_ca_file: self.fd_server.sip_tls_ca_file.clone(),
            log_format: self.log_format,
            log_level: self.log_level.clone(),
        }
    }

    /// Check both servers' configurations and what they share.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tls_ca_file.is_some() && self.content_server.tls_ca_file.is_some() {
            return Err(invalid(
                "content-server.tls-ca-file",
                "tls-ca-file is set at the top level (for both servers) and in \
                 [content-server]: keep the one at the top level",
            ));
        }
        let content = self.content();
        content.validate()?;
        self.fd(&content.public_base()).validate()?;
        if self.content_server.listen == self.fd_server.listen && self.fd_server.listen.port() != 0
        {
            return Err(invalid(
                "fd-server.listen",
                format!("{} is also content-server.listen", self.fd_server.listen),
            ));
        }
        check_metrics_listen(
            "metrics-listen",
            self.metrics_listen,
            &[
                ("content-server.listen", self.content_server.listen),
                ("fd-server.listen", self.fd_server.listen),
            ],
        )?;
        validate_log_level("log-level", &self.log_level)
    }

    /// The effective settings as `mcdata system --check` prints them: TOML in the layout
    /// of a system file, both servers' default `public-uri` filled in, secrets redacted.
    pub fn to_check_toml(&self) -> Result<String, ConfigError> {
        let printing =
            |e: toml::ser::Error| invalid("configuration", format!("cannot print it: {e}"));
        let content = self.content();
        let fd = self.fd(&content.public_base());
        let mut shown = self.clone();
        shown.content_server = self.content_server.as_shown();
        let toml::Value::Table(mut doc) = toml::Value::try_from(&shown).map_err(printing)? else {
            return Err(invalid("configuration", "cannot print it as a table"));
        };
        for (section, keys, public) in [
            (
                "content-server",
                NOT_IN_CONTENT_SECTION,
                content.public_base(),
            ),
            ("fd-server", NOT_IN_FD_SECTION, fd.public_base()),
        ] {
            if let Some(toml::Value::Table(t)) = doc.get_mut(section) {
                for (key, _) in keys {
                    t.remove(*key);
                }
                t.insert("public-uri".into(), toml::Value::String(public));
            }
        }
        toml::to_string(&doc).map_err(printing)
    }
}

/// Flags of `mcdata system`: the keys at the top level of a system file, and the listen
/// address and public URI of each server. Each overrides the file and can also be given
/// as the environment variable `MCDATA_<KEY>`; `--user` and `--partner` add to the file's
/// lists. The other keys of `[content-server]` and `[fd-server]` are set in the file (or
/// run the two servers as `mcdata content-server` and `mcdata fd-server`, which have a
/// flag for every key).
#[derive(Debug, Clone, Args, Default)]
pub struct SystemArgs {
    /// The system's TOML file; flags override its keys. Example: --config examples/system-a.toml
    #[arg(long, short = 'c', env = "MCDATA_CONFIG")]
    pub config: Option<PathBuf>,
    /// This system's id [default: local]
    #[arg(long, env = "MCDATA_SYSTEM_ID")]
    pub system_id: Option<String>,
    /// Storage of both servers [default: file://./mcdata-data]
    #[arg(long, env = "MCDATA_STORE")]
    pub store: Option<String>,
    /// Largest file uploaded or sent (TS 24.484 max-data-size-fd) [default: 512MiB]
    #[arg(long, env = "MCDATA_MAX_DATA_SIZE_FD_BYTES", value_parser = parse_size)]
    pub max_data_size_fd_bytes: Option<u64>,
    /// PEM file of extra CA certificates trusted for https peers (both servers)
    #[arg(long, env = "MCDATA_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// A user (repeatable; in MCDATA_USERS separate them with ';'):
    /// MCDATA_ID,TOKEN[,no-send-fd][,no-query-history]; TOKEN may be @FILE
    #[arg(
        long = "user",
        env = "MCDATA_USERS",
        value_delimiter = ';',
        hide_env_values = true,
        value_parser = parse_fd_user
    )]
    pub users: Vec<FdUser>,
    /// A partner system (repeatable; in MCDATA_PARTNERS separate them with ';'):
    /// SYSTEM_ID,MCDATA_SERVER_URI,CONTENT_SERVER_URI,CREDENTIAL[,USER...]; CREDENTIAL may be @FILE
    #[arg(
        long = "partner",
        env = "MCDATA_PARTNERS",
        value_delimiter = ';',
        hide_env_values = true,
        value_parser = parse_partner
    )]
    pub partners: Vec<FdPartner>,
    /// The content server's address [default: 127.0.0.1:8080]
    #[arg(long, env = "MCDATA_CONTENT_SERVER_LISTEN")]
    pub content_server_listen: Option<SocketAddr>,
    /// The URI clients and partners reach the content server at [default: http(s)://LISTEN]
    #[arg(long, env = "MCDATA_CONTENT_SERVER_PUBLIC_URI")]
    pub content_server_public_uri: Option<String>,
    /// The MCData server's address [default: 127.0.0.1:9080]
    #[arg(long, env = "MCDATA_FD_SERVER_LISTEN")]
    pub fd_server_listen: Option<SocketAddr>,
    /// The URI clients and partners reach the MCData server at [default: http(s)://LISTEN]
    #[arg(long, env = "MCDATA_FD_SERVER_PUBLIC_URI")]
    pub fd_server_public_uri: Option<String>,
    /// After SIGTERM, how long in-flight responses may still take [default: 30s]
    #[arg(long, env = "MCDATA_SHUTDOWN_GRACE", value_parser = parse_duration)]
    pub shutdown_grace: Option<Duration>,
    /// Also serve /metrics (both servers) on this address [default: none]
    #[arg(long, env = "MCDATA_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Log line format on stderr [default: text]
    #[arg(long, value_enum, env = "MCDATA_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Which log lines: RUST_LOG-style directives; RUST_LOG, when set, wins [default: info]
    #[arg(long, env = "MCDATA_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Any key of the file, as SECTION.KEY=VALUE or KEY=VALUE (repeatable; in MCDATA_SET
    /// separate them with ';'); VALUE is TOML (a number, true, "text") or else plain text.
    /// Example: --set content-server.cache-max-ttl=1h --set fd-server.max-connections=500
    #[arg(
        long = "set",
        env = "MCDATA_SET",
        value_delimiter = ';',
        value_name = "KEY=VALUE"
    )]
    pub set: Vec<String>,
}

/// The file's table with each `--set` applied.
fn with_sets(mut table: toml::Table, sets: &[String]) -> Result<toml::Table, ConfigError> {
    for set in sets {
        let Some((path, value)) = set.split_once('=') else {
            return Err(invalid("--set", format!("{set}: use SECTION.KEY=VALUE")));
        };
        let value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        let mut parts: Vec<&str> = path.trim().split('.').collect();
        let Some(key) = parts.pop().filter(|k| !k.is_empty()) else {
            return Err(invalid("--set", format!("{set}: no key")));
        };
        let mut at = &mut table;
        for section in parts {
            let entry = at
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            at = match entry {
                toml::Value::Table(t) => t,
                _ => {
                    return Err(invalid(
                        "--set",
                        format!("{set}: {section} is not a section"),
                    ))
                }
            };
        }
        at.insert(key.to_string(), value);
    }
    Ok(table)
}

impl SystemArgs {
    /// Load the file (if any), apply the flags over it, and validate.
    pub fn resolve(&self) -> Result<SystemConfig, ConfigError> {
        let mut cfg = match (&self.config, self.set.is_empty()) {
            (Some(path), true) => SystemConfig::load(path)?,
            (None, true) => SystemConfig::default(),
            (file, false) => {
                let table = match file {
                    Some(path) => crate::config::load_toml::<toml::Table>(path)?,
                    None => toml::Table::new(),
                };
                let table = with_sets(table, &self.set)?;
                let mut cfg: SystemConfig = toml::Value::Table(table)
                    .try_into()
                    .map_err(|e: toml::de::Error| invalid("--set", e.to_string()))?;
                cfg.content_server.read_secret_files()?;
                cfg
            }
        };
        macro_rules! over {
            ($($f:ident),*) => { $( if let Some(v) = &self.$f { cfg.$f = v.clone(); } )* };
        }
        over!(
            system_id,
            store,
            max_data_size_fd_bytes,
            shutdown_grace,
            log_format,
            log_level
        );
        if self.tls_ca_file.is_some() {
            cfg.tls_ca_file.clone_from(&self.tls_ca_file);
        }
        if self.metrics_listen.is_some() {
            cfg.metrics_listen = self.metrics_listen;
        }
        if let Some(l) = self.content_server_listen {
            cfg.content_server.listen = l;
        }
        if let Some(l) = self.fd_server_listen {
            cfg.fd_server.listen = l;
        }
        if self.content_server_public_uri.is_some() {
            cfg.content_server
                .public_uri
                .clone_from(&self.content_server_public_uri);
        }
        if self.fd_server_public_uri.is_some() {
            cfg.fd_server
                .public_uri
                .clone_from(&self.fd_server_public_uri);
        }
        cfg.users.extend(self.users.iter().cloned());
        cfg.partners.extend(self.partners.iter().cloned());
        cfg.validate()?;
        Ok(cfg)
    }
}

/// A running system.
pub struct RunningSystem {
    pub content: Running,
    pub fd: RunningFd,
}

impl RunningSystem {
    /// Reload both listeners' TLS certificates (SIGHUP); the first error is returned,
    /// and a listener whose files are wrong keeps the certificate it has.
    pub fn reload_tls(&self) -> Result<(), crate::http::server_tls::ServerTlsError> {
        let content = self.content.reload_tls();
        let fd = self.fd.reload_tls();
        content.and(fd)
    }

    /// Bind both listeners from the configuration and start.
    pub async fn start(cfg: &SystemConfig) -> Result<RunningSystem, SystemError> {
        let bind = |addr| {
            crate::http::server::bind(addr).map_err(|source| SystemError::Bind { addr, source })
        };
        let cl = bind(cfg.content_server.listen)?;
        let fl = bind(cfg.fd_server.listen)?;
        Self::start_on(cl, fl, cfg).await
    }

    /// Start on bound listeners.
    pub async fn start_on(
        content_listener: TcpListener,
        fd_listener: TcpListener,
        cfg: &SystemConfig,
    ) -> Result<RunningSystem, SystemError> {
        cfg.validate()?;
        let ccfg = cfg.content();
        let store = open_store(&ccfg.store, &ccfg.store_options())
            .await
            .map_err(StartError::from)?;
        let metrics = Metrics::new().map_err(StartError::from)?;
        let content =
            ContentServer::start_with(content_listener, ccfg, store.clone(), metrics.clone())
                .await?;
        let fd = FdServer::start_on(fd_listener, cfg.fd(content.base()), store, metrics).await?;
        let server = fd.server.clone();
        let files_base = format!("{}/files/", content.base());
        content.server.primary.on_removal(Arc::new(move |rec, why| {
            let kind = if why == "expired" {
                NetworkNotificationKind::FileExpired
            } else {
                NetworkNotificationKind::FileDeleted
            };
            let url = format!("{files_base}{}", rec.id);
            let server = server.clone();
            tokio::spawn(async move { server.file_unavailable(&url, kind).await });
        }));
        Ok(RunningSystem { content, fd })
    }

    /// Drain both servers at once (each within the default grace).
    pub async fn shutdown(self) {
        tokio::join!(self.fd.shutdown(), self.content.shutdown());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_system_files_load_and_agree() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let a = SystemConfig::load(&dir.join("system-a.toml")).unwrap();
        let b = SystemConfig::load(&dir.join("system-b.toml")).unwrap();
        a.content().validate().unwrap();
        b.content().validate().unwrap();
        a.fd("http://127.0.0.1:8080").validate().unwrap();
        assert_eq!(a.partners[0].credential, b.partners[0].credential);
        assert_eq!(
            a.partners[0].content_server,
            format!("http://{}", b.content_server.listen)
        );
        assert_eq!(
            b.partners[0].mcdata_server,
            format!("http://{}", a.fd_server.listen)
        );
        for f in ["content-server-a.toml", "content-server-b.toml"] {
            crate::content_server::config::load_file(&dir.join(f))
                .unwrap()
                .validate()
                .unwrap();
        }
    }

    #[test]
    fn one_tls_ca_file_for_both_servers() {
        let cfg: SystemConfig =
            toml::from_str("system-id = \"A\"\ntls-ca-file = \"/etc/mcdata/peers-ca.pem\"\n")
                .unwrap();
        let want = Some(std::path::PathBuf::from("/etc/mcdata/peers-ca.pem"));
        assert_eq!(cfg.content().tls_ca_file, want);
        assert_eq!(cfg.fd("http://127.0.0.1:8080").tls_ca_file, want);
    }

    #[test]
    fn keys_of_the_whole_system_are_refused_in_the_sections() {
        for (section, keys) in [
            ("content-server", NOT_IN_CONTENT_SECTION),
            ("fd-server", NOT_IN_FD_SECTION),
        ] {
            for (key, _) in keys {
                let value = match *key {
                    "peers" | "users" | "partners" => "[]",
                    "metrics-listen" => "\"127.0.0.1:9100\"",
                    "shutdown-grace" => "\"5s\"",
                    _ => "\"x\"",
                };
                let text = format!("[{section}]\n{key} = {value}\n");
                let e = toml::from_str::<SystemConfig>(&text)
                    .unwrap_err()
                    .to_string();
                assert!(
                    e.contains(&format!("`{key}` does not belong in [{section}]")),
                    "{text}: {e}"
                );
            }
        }
        // The case of the issue: a store in [content-server] was silently ignored.
        let e = toml::from_str::<SystemConfig>("[content-server]\nstore = \"file:///srv/a\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("store") && e.contains("top level"), "{e}");
        let e = toml::from_str::<SystemConfig>(
            "[content-server]\n[[content-server.peers]]\nsystem-id = \"B\"\ncontent-server = \"http://x\"\ncredential = \"secret-ab-123\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("[[partners]]"), "{e}");
        // What the sections do take still works, with its own errors.
        let ok: SystemConfig = toml::from_str(
            "[content-server]\nlisten = \"127.0.0.1:8090\"\ncache-max-bytes = \"1GiB\"\n[fd-server]\nmax-data-size-auto-recv-bytes = \"2m\"\n",
        )
        .unwrap();
        assert_eq!(ok.content().cache_max_bytes, 1 << 30);
        assert_eq!(ok.fd_server.max_data_size_auto_recv_bytes, 2 << 20);
        let e = toml::from_str::<SystemConfig>("[content-server]\ncache-max-bytes = \"lots\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lots"), "{e}");
        let e = toml::from_str::<SystemConfig>("[content-server]\nsytem-id = \"A\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sytem-id"), "{e}");
    }

    #[test]
    fn the_process_keys_are_at_the_top_level() {
        let cfg: SystemConfig = toml::from_str(
            "shutdown-grace = \"1m\"\nmetrics-listen = \"127.0.0.1:9100\"\nlog-format = \"json\"\nlog-level = \"mcdata=debug\"\nmax-data-size-fd-bytes = \"64MiB\"\n",
        )
        .unwrap();
        cfg.validate().unwrap();
        let c = cfg.content();
        assert_eq!(c.shutdown_grace, Duration::from_secs(60));
        assert_eq!(c.metrics_listen, cfg.metrics_listen);
        assert_eq!(
            (c.log_format, c.log_level.as_str()),
            (LogFormat::Json, "mcdata=debug")
        );
        assert_eq!(c.max_data_size_fd_bytes, 64 << 20);
        let f = cfg.fd(&c.public_base());
        assert_eq!(f.shutdown_grace, Duration::from_secs(60));
        assert_eq!(
            f.metrics_listen, None,
            "served once, by the content server's side"
        );
        assert_eq!(
            (f.log_format, f.log_level.as_str()),
            (LogFormat::Json, "mcdata=debug")
        );
        let d = SystemConfig::default();
        assert_eq!(d.shutdown_grace, Duration::from_secs(30));
        assert_eq!(
            (d.log_format, d.log_level.as_str()),
            (LogFormat::Text, "info")
        );

        let clash = |text: &str| {
            toml::from_str::<SystemConfig>(text)
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string()
        };
        assert!(clash("metrics-listen = \"127.0.0.1:9080\"").contains("fd-server.listen"));
        assert!(clash("[fd-server]\nlisten = \"127.0.0.1:8080\"").contains("content-server.listen"));
        assert!(clash("[fd-server]\nlisten = \"0.0.0.0:9080\"").contains("public-uri"));
        assert!(clash("[content-server]\nlisten = \"[::]:8080\"").contains("public-uri"));
        assert!(
            clash("tls-ca-file = \"/a.pem\"\n[content-server]\ntls-ca-file = \"/b.pem\"")
                .contains("tls-ca-file")
        );
        assert!(clash("log-level = \"a=b=c\"").contains("log-level"));
    }

    #[derive(clap::Parser, Debug)]
    struct Cmd {
        #[command(flatten)]
        args: SystemArgs,
    }

    fn parse(args: &[&str]) -> SystemArgs {
        use clap::Parser;
        Cmd::try_parse_from(std::iter::once("system").chain(args.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn every_top_level_key_is_a_flag_and_flags_override_the_file() {
        crate::config::tests::every_key_is_a_flag::<SystemConfig, SystemArgs>(&[
            "content-server",
            "fd-server",
        ]);
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/system-a.toml");
        let args = parse(&[
            "--config",
            file.to_str().unwrap(),
            "--system-id",
            "Z",
            "--max-data-size-fd-bytes",
            "2GiB",
            "--content-server-listen",
            "0.0.0.0:8080",
            "--content-server-public-uri",
            "http://cs.z.example:8080",
            "--fd-server-listen",
            "127.0.0.1:9999",
            "--user",
            "zed@z,tok-zed-123,no-query-history",
            "--partner",
            "C,http://127.0.0.1:9082,http://127.0.0.1:8082,secret-zc-123,*@c",
            "--log-level",
            "warn",
        ]);
        let cfg = args.resolve().unwrap();
        assert_eq!(cfg.system_id, "Z");
        assert_eq!(cfg.max_data_size_fd_bytes, 2 << 30);
        assert_eq!(cfg.content().public_base(), "http://cs.z.example:8080");
        assert_eq!(cfg.fd_server.listen.port(), 9999);
        assert_eq!((cfg.users.len(), cfg.partners.len()), (2, 2));
        assert_eq!(cfg.content().peers.len(), 2);
        assert_eq!(cfg.log_level, "warn");
        let e = parse(&[
            "--config",
            file.to_str().unwrap(),
            "--content-server-listen",
            "0.0.0.0:8080",
        ])
        .resolve()
        .unwrap_err()
        .to_string();
        assert!(e.contains("public-uri"), "{e}");
    }

    #[test]
    fn check_prints_a_system_file_that_loads_again() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let cfg = SystemConfig::load(&dir.join("system-a.toml")).unwrap();
        let text = cfg.to_check_toml().unwrap();
        assert!(
            !text.contains("secret-ab-123") && !text.contains("tok-alice-a-123"),
            "{text}"
        );
        assert!(
            text.contains("public-uri = \"http://127.0.0.1:8080\""),
            "{text}"
        );
        assert!(
            text.contains("public-uri = \"http://127.0.0.1:9080\""),
            "{text}"
        );
        assert!(
            text.contains("max-data-size-fd-bytes = \"512MiB\""),
            "{text}"
        );
        let back: SystemConfig = toml::from_str(&text).unwrap();
        assert_eq!(back.content_server.listen, cfg.content_server.listen);
        assert_eq!(
            back.fd_server.time_temp_data_waiting,
            cfg.fd_server.time_temp_data_waiting
        );
        assert_eq!(back.partners[0].users, cfg.partners[0].users);
    }

    /// Issue "5 of 6": every key of a system file has a flag (`--set SECTION.KEY=VALUE`)
    /// and a variable (`MCDATA_SET`), the keys inside its sections too.
    #[test]
    fn every_key_of_a_system_file_can_be_set_from_the_command_line() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: SystemArgs,
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("system.toml");
        std::fs::write(
            &file,
            "system-id = \"A\"\n[content-server]\ncache-max-ttl = \"5m\"\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "x",
            "--config",
            file.to_str().unwrap(),
            "--set",
            "content-server.cache-max-ttl=1h",
            "--set",
            "fd-server.max-connections=500",
            "--set",
            "content-server.cache-max-bytes=2GiB",
            "--set",
            "store=file:///srv/mcdata",
        ])
        .unwrap();
        let cfg = cli.args.resolve().unwrap();
        assert_eq!(cfg.system_id, "A", "the file's keys stay");
        assert_eq!(
            cfg.content_server.cache_max_ttl,
            std::time::Duration::from_secs(3600)
        );
        assert_eq!(cfg.content_server.cache_max_bytes, 2 << 30);
        assert_eq!(cfg.fd_server.max_connections, 500);
        assert_eq!(cfg.store, "file:///srv/mcdata");
        // A key in the wrong place is refused as in the file.
        let cli = Cli::try_parse_from(["x", "--set", "content-server.store=file:///x"]).unwrap();
        let e = cli.args.resolve().unwrap_err().to_string();
        assert!(e.contains("store"), "{e}");
        let cli = Cli::try_parse_from(["x", "--set", "nonsense"]).unwrap();
        assert!(cli.args.resolve().is_err());
    }
}
