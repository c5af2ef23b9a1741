//! Service configuration of an MCData server (TS 24.484 10.4 elements that bear on FD):
//! its users, the partner systems it has agreements with and which users they serve, and
//! the FD limits.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::http::server_tls::{ClientAuth, ServerTlsSettings};

use crate::config::{de_duration, invalid, ConfigError};

/// A user of this system.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FdUser {
    /// MCData ID, e.g. "alice@a.example".
    pub id: String,
    /// Bearer token of the user's client.
    pub token: String,
    /// May this user send file distributions?
    #[serde(default = "yes")]
    pub may_send_fd: bool,
    /// May this user interrogate the download history?
    #[serde(default = "yes")]
    pub may_query_history: bool,
}

fn yes() -> bool {
    true
}

/// A partner system.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FdPartner {
    pub system_id: String,
    /// Base URL of its MCData server.
    pub mcdata_server: String,
    /// Base URL of its content server.
    pub content_server: String,
    /// The agreement credential (Bearer), the same both ways.
    pub credential: String,
    /// Users it serves: exact MCData IDs or `*@domain` patterns.
    #[serde(default)]
    pub users: Vec<String>,
}

impl FdPartner {
    /// Does this partner serve `user`?
    pub fn serves(&self, user: &str) -> bool {
        self.users.iter().any(|p| match p.strip_prefix('*') {
            Some(suffix) => user.ends_with(suffix),
            None => p == user,
        })
    }
}

/// Configuration of one MCData server.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct FdServerConfig {
    pub system_id: String,
    pub listen: SocketAddr,
    /// The URI clients and partners reach this server at; default `http://<listen>`.
    pub public_uri: Option<String>,
    /// Base URI of this system's own content server.
    pub content_server: String,
    /// Where records (messages, reports) are kept, as for the content server.
    pub store: String,
    pub max_data_size_fd_bytes: u64,
    pub max_data_size_auto_recv_bytes: u64,
    #[serde(deserialize_with = "de_duration")]
    pub time_temp_data_waiting: Duration,
    pub users: Vec<FdUser>,
    pub partners: Vec<FdPartner>,
    /// PEM file of extra CA certificates trusted for https partners (besides the system's).
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// Serve HTTPS (certificate chain and key, PEM; reloaded on SIGHUP and on change), and
    /// optionally verify client certificates (as for the content server).
    pub tls_cert_file: Option<std::path::PathBuf>,
    pub tls_key_file: Option<std::path::PathBuf>,
    pub tls_client_ca_file: Option<std::path::PathBuf>,
    pub tls_client_auth: ClientAuth,
    /// The longest a client may take to send a request head (and the idle keep-alive
    /// timeout), as for the content server.
    #[serde(deserialize_with = "de_duration")]
    pub client_header_timeout: Duration,
    /// The longest a client may take to send a request body; then 408.
    #[serde(deserialize_with = "de_duration")]
    pub client_body_timeout: Duration,
    /// Connections served at once; above it a new connection gets 503 and is closed.
    pub max_connections: usize,
    /// The credential with which this system's content server, run as its own process,
    /// posts removal notices (`POST /content/removals`); unset, that route is refused.
    pub content_server_credential: Option<String>,
}

impl Default for FdServerConfig {
    fn default() -> Self {
        FdServerConfig {
            system_id: "local".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 9080)),
            public_uri: None,
            content_server: "http://127.0.0.1:8080".into(),
            store: "file://./mcdata-data".into(),
            max_data_size_fd_bytes: 512 * 1024 * 1024,
            max_data_size_auto_recv_bytes: 1024 * 1024,
            time_temp_data_waiting: Duration::from_secs(3600),
            users: Vec::new(),
            partners: Vec::new(),
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            tls_client_auth: ClientAuth::Off,
            client_header_timeout: Duration::from_secs(60),
            client_body_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            content_server_credential: None,
        }
    }
}

impl FdServerConfig {
    /// The listener's TLS settings, when it serves HTTPS.
    pub fn server_tls(&self) -> Result<Option<ServerTlsSettings>, ConfigError> {
        ServerTlsSettings::from_keys(
            self.tls_cert_file.as_ref(),
            self.tls_key_file.as_ref(),
            self.tls_client_ca_file.as_ref(),
            self.tls_client_auth,
        )
    }

    /// Check what serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server_tls()?;
        if self.max_data_size_auto_recv_bytes > self.max_data_size_fd_bytes {
            return Err(invalid(
                "max-data-size-auto-recv-bytes",
                "must not exceed max-data-size-fd-bytes",
            ));
        }
        if self
            .content_server_credential
            .as_ref()
            .is_some_and(|c| c.len() < 8)
        {
            return Err(invalid(
                "content-server-credential",
                "shorter than 8 characters",
            ));
        }
        for u in &self.users {
            if u.token.len() < 8 {
                return Err(invalid(
                    "users.token",
                    format!("token of {} is shorter than 8 characters", u.id),
                ));
            }
        }
        for p in &self.partners {
            for (key, v) in [
                ("partners.mcdata-server", &p.mcdata_server),
                ("partners.content-server", &p.content_server),
            ] {
                url::Url::parse(v).map_err(|e| invalid(key, format!("{v}: {e}")))?;
            }
            if p.credential.len() < 8 {
                return Err(invalid(
                    "partners.credential",
                    format!("credential of {} is shorter than 8 characters", p.system_id),
                ));
            }
        }
        Ok(())
    }

    /// The public base without trailing slash.
    pub fn public_base(&self) -> String {
        match &self.public_uri {
            Some(u) => u.trim_end_matches('/').to_string(),
            None if self.tls_cert_file.is_some() => format!("https://{}", self.listen),
            None => format!("http://{}", self.listen),
        }
    }
}
