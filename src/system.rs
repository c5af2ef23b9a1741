//! One whole MCData system in one process: its content server and its MCData server,
//! configured from one TOML file, sharing storage and the metrics registry. The content
//! server's removals and expiries reach the MCData server, which sends the FD network
//! notifications.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use tokio::net::TcpListener;

use crate::codec::NetworkNotificationKind;
use crate::config::ConfigError;
use crate::content_server::config::{ContentServerConfig, Peer, User};
use crate::content_server::{ContentServer, Running, StartError};
use crate::fd::config::{FdPartner, FdServerConfig, FdUser};
use crate::fd::{FdServer, FdStartError, RunningFd};
use crate::metrics::Metrics;
use crate::storage::open_store;

/// The MCData server's own section.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct FdSection {
    pub listen: SocketAddr,
    pub public_uri: Option<String>,
    pub max_data_size_auto_recv_bytes: u64,
    #[serde(deserialize_with = "crate::config::de_duration")]
    pub time_temp_data_waiting: std::time::Duration,
    /// HTTPS on the MCData server's listener (see the content server's keys).
    pub tls_cert_file: Option<std::path::PathBuf>,
    pub tls_key_file: Option<std::path::PathBuf>,
    pub tls_client_ca_file: Option<std::path::PathBuf>,
    pub tls_client_auth: crate::http::server_tls::ClientAuth,
    /// Client limits of the MCData server's listener (as the content server's).
    #[serde(deserialize_with = "crate::config::de_duration")]
    pub client_header_timeout: std::time::Duration,
    #[serde(deserialize_with = "crate::config::de_duration")]
    pub client_body_timeout: std::time::Duration,
    pub max_connections: usize,
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
        }
    }
}

/// The configuration of a whole system (`mcdata system --config FILE`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct SystemConfig {
    pub system_id: String,
    /// Storage shared by both servers.
    pub store: String,
    pub max_data_size_fd_bytes: u64,
    /// PEM file of extra CA certificates trusted for https peers (both servers).
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// Content server settings (`system-id`, `store`, `peers`, `users` and the maximum
    /// data size are taken from the top level).
    pub content_server: ContentServerConfig,
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
            content_server: ContentServerConfig::default(),
            fd_server: FdSection::default(),
            users: Vec::new(),
            partners: Vec::new(),
        }
    }
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
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

impl SystemConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        crate::config::load_toml(path)
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

    /// The MCData server's configuration, given the content server's public URI.
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
        }
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
        let cl = crate::http::server::bind(cfg.content_server.listen)?;
        let fl = crate::http::server::bind(cfg.fd_server.listen)?;
        Self::start_on(cl, fl, cfg).await
    }

    /// Start on bound listeners.
    pub async fn start_on(
        content_listener: TcpListener,
        fd_listener: TcpListener,
        cfg: &SystemConfig,
    ) -> Result<RunningSystem, SystemError> {
        let ccfg = cfg.content();
        ccfg.validate()?;
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
}
