//! Service configuration of an MCData server (TS 24.484 10.4 elements that bear on FD):
//! its users, the partner systems it has agreements with and which users they serve, and
//! the FD limits; the TOML file of `mcdata fd-server`, the flags that override each of its
//! keys ([`FdServerArgs`]), the defaults and validation.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::config::{
    check_metrics_listen, check_public_uri, inline_secret, invalid, load_toml, override_secret,
    parse_duration, parse_size, read_secret_file, secret_or_file, ser_redacted, ser_value_enum,
    user_token, validate_log_level, ConfigError, LogFormat, Secret, DEFAULT_LOG_LEVEL,
    DEFAULT_SHUTDOWN_GRACE, REDACTED,
};
use crate::http::server_tls::{ClientAuth, ServerTlsSettings};

/// A user of this system (in a file, `token` or `token-file`, a file that holds it).
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", try_from = "FdUserToml")]
pub struct FdUser {
    /// MCData ID, e.g. "alice@a.example".
    pub id: String,
    /// Bearer token of the user's client.
    #[serde(serialize_with = "ser_redacted")]
    pub token: String,
    /// May this user send file distributions?
    pub may_send_fd: bool,
    /// May this user interrogate the download history?
    pub may_query_history: bool,
}

impl fmt::Debug for FdUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FdUser")
            .field("id", &self.id)
            .field("token", &format_args!("{REDACTED}"))
            .field("may_send_fd", &self.may_send_fd)
            .field("may_query_history", &self.may_query_history)
            .finish()
    }
}

fn yes() -> bool {
    true
}

/// A `[[users]]` table as written.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FdUserToml {
    id: String,
    token: Option<String>,
    token_file: Option<PathBuf>,
    #[serde(default = "yes")]
    may_send_fd: bool,
    #[serde(default = "yes")]
    may_query_history: bool,
}

impl TryFrom<FdUserToml> for FdUser {
    type Error = ConfigError;
    fn try_from(u: FdUserToml) -> Result<Self, ConfigError> {
        Ok(FdUser {
            token: user_token(&u.id, u.token, u.token_file.as_deref())?,
            id: u.id,
            may_send_fd: u.may_send_fd,
            may_query_history: u.may_query_history,
        })
    }
}

/// A partner system (in a file, `credential` or `credential-file`, a file that holds it).
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", try_from = "FdPartnerToml")]
pub struct FdPartner {
    pub system_id: String,
    /// Base URL of its MCData server.
    pub mcdata_server: String,
    /// Base URL of its content server.
    pub content_server: String,
    /// The agreement credential (Bearer), the same both ways.
    #[serde(serialize_with = "ser_redacted")]
    pub credential: String,
    /// Users it serves: exact MCData IDs or `*@domain` patterns.
    pub users: Vec<String>,
    /// How FD messages travel to and from it: `http` (`POST /interconnect`, the
    /// credential as a bearer token) or `sip` (SIP MESSAGE, TS 24.282; then
    /// `mcdata-server` is its PSI, a `sip:` or `sips:` URI).
    pub interconnect: Interconnect,
    /// SIP: where to send (the SIP core or gateway in between), `host:port`; default the
    /// host and port of its PSI.
    pub sip_next_hop: Option<String>,
    /// SIP: the addresses (IP or CIDR) its requests may come from; default the address
    /// of its next hop. With SIP over TLS, a client certificate valid for the PSI's host
    /// name is trusted as well.
    pub sip_trusted_sources: Vec<ipnet::IpNet>,
}

/// How FD messages travel between this MCData server and a partner's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Interconnect {
    /// `POST /interconnect` with the binary message (our own simpler transport).
    #[default]
    Http,
    /// SIP MESSAGE with a multipart mcdata-info + mcdata-signalling body (TS 24.282).
    Sip,
}

impl fmt::Debug for FdPartner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FdPartner")
            .field("system_id", &self.system_id)
            .field("mcdata_server", &self.mcdata_server)
            .field("content_server", &self.content_server)
            .field("credential", &format_args!("{REDACTED}"))
            .field("users", &self.users)
            .field("interconnect", &self.interconnect)
            .field("sip_next_hop", &self.sip_next_hop)
            .field("sip_trusted_sources", &self.sip_trusted_sources)
            .finish()
    }
}

/// A `[[partners]]` table as written.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FdPartnerToml {
    system_id: String,
    mcdata_server: String,
    content_server: String,
    credential: Option<String>,
    credential_file: Option<PathBuf>,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    interconnect: Interconnect,
    sip_next_hop: Option<String>,
    #[serde(default)]
    sip_trusted_sources: Vec<ipnet::IpNet>,
}

impl TryFrom<FdPartnerToml> for FdPartner {
    type Error = ConfigError;
    fn try_from(p: FdPartnerToml) -> Result<Self, ConfigError> {
        let credential = match (p.credential, p.credential_file) {
            (Some(c), None) => c,
            (None, Some(f)) => read_secret_file("partners.credential-file", &f)?.0,
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "partners.credential",
                    format!(
                        "partner {}: give credential or credential-file, not both",
                        p.system_id
                    ),
                ))
            }
            // Over SIP the SIP core authenticates the peer, not a bearer token.
            (None, None) if p.interconnect == Interconnect::Sip => String::new(),
            (None, None) => {
                return Err(invalid(
                    "partners.credential",
                    format!(
                        "partner {}: give credential or credential-file",
                        p.system_id
                    ),
                ))
            }
        };
        Ok(FdPartner {
            system_id: p.system_id,
            mcdata_server: p.mcdata_server,
            content_server: p.content_server,
            credential,
            users: p.users,
            interconnect: p.interconnect,
            sip_next_hop: p.sip_next_hop,
            sip_trusted_sources: p.sip_trusted_sources,
        })
    }
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
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    #[serde(with = "crate::config::size")]
    pub max_data_size_fd_bytes: u64,
    #[serde(with = "crate::config::size")]
    pub max_data_size_auto_recv_bytes: u64,
    #[serde(with = "crate::config::duration")]
    pub time_temp_data_waiting: Duration,
    /// PEM file of extra CA certificates trusted for https partners (besides the system's).
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// Serve HTTPS (certificate chain and key, PEM; reloaded on SIGHUP and on change), and
    /// optionally verify client certificates (as for the content server).
    pub tls_cert_file: Option<std::path::PathBuf>,
    pub tls_key_file: Option<std::path::PathBuf>,
    pub tls_client_ca_file: Option<std::path::PathBuf>,
    #[serde(serialize_with = "ser_value_enum")]
    pub tls_client_auth: ClientAuth,
    /// The longest a client may take to send a request head (and the idle keep-alive
    /// timeout), as for the content server.
    #[serde(with = "crate::config::duration")]
    pub client_header_timeout: Duration,
    /// The longest a client may take to send a request body; then 408.
    #[serde(with = "crate::config::duration")]
    pub client_body_timeout: Duration,
    /// Connections served at once; above it a new connection gets 503 and is closed.
    pub max_connections: usize,
    /// The credential with which this system's content server, run as its own process,
    /// posts removal notices (`POST /content/removals`); unset, that route is refused.
    pub content_server_credential: Option<Secret>,
    /// A file holding that credential (instead of `content-server-credential`).
    pub content_server_credential_file: Option<PathBuf>,
    /// After SIGTERM (or Ctrl-C), how long in-flight responses may still take.
    #[serde(with = "crate::config::duration")]
    pub shutdown_grace: Duration,
    /// Serve `/metrics` on this separate listener.
    pub metrics_listen: Option<SocketAddr>,
    /// SIP towards partner systems (TS 24.282 over SIP-3): UDP and TCP on this address.
    pub sip_listen: Option<SocketAddr>,
    /// SIP over TLS on this address (with `sip-tls-cert-file` and `sip-tls-key-file`).
    pub sip_tls_listen: Option<SocketAddr>,
    /// This MCData server's PSI: the From and P-Asserted-Identity of what it sends over
    /// SIP; default `sip:mcdata-fd@<sip-listen>`.
    pub sip_uri: Option<String>,
    /// The certificate chain and key (PEM) of SIP over TLS, as server and as client.
    pub sip_tls_cert_file: Option<std::path::PathBuf>,
    pub sip_tls_key_file: Option<std::path::PathBuf>,
    /// CA certificates (PEM) that partners' SIP TLS certificates chain to, as servers and
    /// as clients; unset, the system's roots (and no client certificates are asked for).
    pub sip_tls_ca_file: Option<std::path::PathBuf>,
    /// How log lines are written to stderr: `text` or `json`.
    pub log_format: LogFormat,
    /// Which log lines are written: `RUST_LOG`-style directives; `RUST_LOG`, when set,
    /// wins.
    pub log_level: String,
    // The lists last: in TOML their tables follow the plain keys.
    pub users: Vec<FdUser>,
    pub partners: Vec<FdPartner>,
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
            content_server_credential_file: None,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            metrics_listen: None,
            sip_listen: None,
            sip_tls_listen: None,
            sip_uri: None,
            sip_tls_cert_file: None,
            sip_tls_key_file: None,
            sip_tls_ca_file: None,
            log_format: LogFormat::Text,
            log_level: DEFAULT_LOG_LEVEL.into(),
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

    /// Read `content-server-credential-file` into `content-server-credential`; both at
    /// once is an error. [`load_file`] does it once, when it reads the file.
    pub fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        self.content_server_credential = secret_or_file(
            "content-server-credential",
            "content-server-credential-file",
            self.content_server_credential.take(),
            self.content_server_credential_file.as_deref(),
        )?;
        Ok(())
    }

    /// The effective settings as `mcdata fd-server --check` prints them: TOML, the
    /// default `public-uri` filled in, secrets redacted.
    pub fn to_check_toml(&self) -> Result<String, ConfigError> {
        let mut shown = self.clone();
        shown.public_uri = Some(self.public_base());
        // A secret read from a file is shown as its file alone: the printout loads again.
        if shown.content_server_credential_file.is_some() {
            shown.content_server_credential = None;
        }
        crate::config::to_toml(&shown)
    }

    /// Check what serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_public_uri(
            "listen",
            self.listen,
            "public-uri",
            self.public_uri.as_deref(),
        )?;
        check_metrics_listen(
            "metrics-listen",
            self.metrics_listen,
            &[("listen", self.listen)],
        )?;
        validate_log_level("log-level", &self.log_level)?;
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
            .is_some_and(|c| c.0.len() < 8)
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
        super::sip::settings::validate(self)?;
        for p in &self.partners {
            for (key, v) in [
                ("partners.mcdata-server", &p.mcdata_server),
                ("partners.content-server", &p.content_server),
            ] {
                url::Url::parse(v).map_err(|e| invalid(key, format!("{v}: {e}")))?;
            }
            if p.interconnect == Interconnect::Http && p.credential.len() < 8 {
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

/// `--user MCDATA_ID,TOKEN[,no-send-fd][,no-query-history]`; the token may be `@FILE`.
pub(crate) fn parse_fd_user(s: &str) -> Result<FdUser, String> {
    let usage = || {
        format!("{s:?}: expected MCDATA_ID,TOKEN (or MCDATA_ID,@TOKEN_FILE), then optionally ,no-send-fd and ,no-query-history")
    };
    let mut parts = s.split(',');
    let (Some(id), Some(token)) = (parts.next(), parts.next()) else {
        return Err(usage());
    };
    if id.is_empty() || token.is_empty() {
        return Err(usage());
    }
    let mut user = FdUser {
        id: id.into(),
        token: inline_secret("--user token", token)?,
        may_send_fd: true,
        may_query_history: true,
    };
    for opt in parts {
        match opt {
            "no-send-fd" => user.may_send_fd = false,
            "no-query-history" => user.may_query_history = false,
            _ => return Err(usage()),
        }
    }
    Ok(user)
}

/// `--partner SYSTEM_ID,MCDATA_SERVER_URI,CONTENT_SERVER_URI,CREDENTIAL[,USER...]`; the
/// credential may be `@FILE`; users are MCData IDs or `*@domain` patterns. A `sip:` URI
/// (the partner's PSI) means SIP interconnect; its credential may then be `-`.
pub(crate) fn parse_partner(s: &str) -> Result<FdPartner, String> {
    let parts: Vec<&str> = s.split(',').collect();
    match parts.as_slice() {
        [id, fd, cs, cred, users @ ..]
            if [id, fd, cs, cred].iter().all(|p| !p.is_empty())
                && users.iter().all(|u| !u.is_empty()) =>
        {
            // A `sip:` or `sips:` MCData server URI is the partner's PSI: SIP interconnect.
            let sip = fd.starts_with("sip:") || fd.starts_with("sips:");
            Ok(FdPartner {
                system_id: id.to_string(),
                mcdata_server: fd.to_string(),
                content_server: cs.to_string(),
                credential: match (sip, *cred) {
                    (true, "-") => String::new(),
                    _ => inline_secret("--partner credential", cred)?,
                },
                users: users.iter().map(|u| u.to_string()).collect(),
                interconnect: if sip {
                    Interconnect::Sip
                } else {
                    Interconnect::Http
                },
                sip_next_hop: None,
                sip_trusted_sources: Vec::new(),
            })
        }
        _ => Err(format!(
            "{s:?}: expected SYSTEM_ID,MCDATA_SERVER_URI,CONTENT_SERVER_URI,CREDENTIAL (or @CREDENTIAL_FILE), then the users it serves (*@b.example,...)"
        )),
    }
}

/// Flags of `mcdata fd-server`. Each overrides the config file key of the same name and
/// can also be given as the environment variable `MCDATA_<KEY>` (`--listen`:
/// `MCDATA_LISTEN`); a flag on the command line wins over its variable. `--user` and
/// `--partner` add to the file's lists.
#[derive(Debug, Clone, Args, Default)]
pub struct FdServerArgs {
    /// The MCData server's TOML file; flags override its keys. Example: --config examples/fd-server.toml
    #[arg(long, short = 'c', env = "MCDATA_CONFIG")]
    pub config: Option<PathBuf>,
    /// This system's id, as partner systems know it [default: local]
    #[arg(long, env = "MCDATA_SYSTEM_ID")]
    pub system_id: Option<String>,
    /// Address to listen on [default: 127.0.0.1:9080]. On every address (0.0.0.0:9080,
    /// [::]:9080) --public-uri is required.
    #[arg(long, env = "MCDATA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// URI clients and partner systems reach this server at [default: http(s)://LISTEN]
    #[arg(long, env = "MCDATA_PUBLIC_URI")]
    pub public_uri: Option<String>,
    /// Base URI of this system's content server [default: http://127.0.0.1:8080]
    #[arg(long, env = "MCDATA_CONTENT_SERVER")]
    pub content_server: Option<String>,
    /// Where records (messages, reports) are kept [default: file://./mcdata-data]
    #[arg(long, env = "MCDATA_STORE")]
    pub store: Option<String>,
    /// Largest file that may be sent (TS 24.484 max-data-size-fd) [default: 512MiB]
    #[arg(long, env = "MCDATA_MAX_DATA_SIZE_FD_BYTES", value_parser = parse_size)]
    pub max_data_size_fd_bytes: Option<u64>,
    /// Files up to this size are sent with mandatory download [default: 1MiB]
    #[arg(long, env = "MCDATA_MAX_DATA_SIZE_AUTO_RECV_BYTES", value_parser = parse_size)]
    pub max_data_size_auto_recv_bytes: Option<u64>,
    /// How long events for an offline user are kept [default: 1h]
    #[arg(long, env = "MCDATA_TIME_TEMP_DATA_WAITING", value_parser = parse_duration)]
    pub time_temp_data_waiting: Option<Duration>,
    /// A user (repeatable; in MCDATA_USERS separate them with ';'):
    /// MCDATA_ID,TOKEN[,no-send-fd][,no-query-history]; TOKEN may be @FILE, a file holding
    /// it. Example: --user alice@a.example,@/etc/mcdata/secrets/alice.token
    #[arg(
        long = "user",
        env = "MCDATA_USERS",
        value_delimiter = ';',
        hide_env_values = true,
        value_parser = parse_fd_user
    )]
    pub users: Vec<FdUser>,
    /// A partner system (repeatable; in MCDATA_PARTNERS separate them with ';'):
    /// SYSTEM_ID,MCDATA_SERVER_URI,CONTENT_SERVER_URI,CREDENTIAL[,USER...]; CREDENTIAL may
    /// be @FILE. Example: --partner B,http://fd.b:9081,http://cs.b:8081,@/etc/mcdata/secrets/b.cred,*@b.example
    #[arg(
        long = "partner",
        env = "MCDATA_PARTNERS",
        value_delimiter = ';',
        hide_env_values = true,
        value_parser = parse_partner
    )]
    pub partners: Vec<FdPartner>,
    /// PEM file of extra CA certificates trusted for https partners
    #[arg(long, env = "MCDATA_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM); reloaded on SIGHUP and on change
    #[arg(long, env = "MCDATA_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert-file
    #[arg(long, env = "MCDATA_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to (mutual TLS)
    #[arg(long, env = "MCDATA_TLS_CLIENT_CA_FILE")]
    pub tls_client_ca_file: Option<PathBuf>,
    /// Ask clients for a certificate [default: off; with --tls-client-ca-file: required]
    #[arg(long, value_enum, env = "MCDATA_TLS_CLIENT_AUTH")]
    pub tls_client_auth: Option<ClientAuth>,
    /// Longest wait for a request head or on an idle keep-alive connection [default: 60s]
    #[arg(long, env = "MCDATA_CLIENT_HEADER_TIMEOUT", value_parser = parse_duration)]
    pub client_header_timeout: Option<Duration>,
    /// Longest a client may take to send a request body, then 408 [default: 60s]
    #[arg(long, env = "MCDATA_CLIENT_BODY_TIMEOUT", value_parser = parse_duration)]
    pub client_body_timeout: Option<Duration>,
    /// Connections served at once; more get 503 [default: 10000]
    #[arg(long, env = "MCDATA_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// The credential the content server (run on its own) posts removal notices with;
    /// prefer the variable or --content-server-credential-file (a command line is
    /// visible in `ps`)
    #[arg(long, env = "MCDATA_CONTENT_SERVER_CREDENTIAL", hide_env_values = true)]
    pub content_server_credential: Option<Secret>,
    /// A file holding --content-server-credential. Example: --content-server-credential-file /etc/mcdata/secrets/cs.cred
    #[arg(long, env = "MCDATA_CONTENT_SERVER_CREDENTIAL_FILE")]
    pub content_server_credential_file: Option<PathBuf>,
    /// After SIGTERM, how long in-flight responses may still take [default: 30s]
    #[arg(long, env = "MCDATA_SHUTDOWN_GRACE", value_parser = parse_duration)]
    pub shutdown_grace: Option<Duration>,
    /// Also serve /metrics on this address [default: none]
    #[arg(long, env = "MCDATA_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// SIP towards partner systems: UDP and TCP on this address [default: none]
    #[arg(long, env = "MCDATA_SIP_LISTEN")]
    pub sip_listen: Option<SocketAddr>,
    /// SIP over TLS on this address [default: none]
    #[arg(long, env = "MCDATA_SIP_TLS_LISTEN")]
    pub sip_tls_listen: Option<SocketAddr>,
    /// This server's PSI, the From of what it sends over SIP [default: sip:mcdata-fd@SIP_LISTEN]
    #[arg(long, env = "MCDATA_SIP_URI")]
    pub sip_uri: Option<String>,
    /// Certificate chain (PEM) of SIP over TLS, as server and client
    #[arg(long, env = "MCDATA_SIP_TLS_CERT_FILE")]
    pub sip_tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of --sip-tls-cert-file
    #[arg(long, env = "MCDATA_SIP_TLS_KEY_FILE")]
    pub sip_tls_key_file: Option<PathBuf>,
    /// CA certificates (PEM) partners' SIP TLS certificates chain to
    #[arg(long, env = "MCDATA_SIP_TLS_CA_FILE")]
    pub sip_tls_ca_file: Option<PathBuf>,
    /// Log line format on stderr [default: text]
    #[arg(long, value_enum, env = "MCDATA_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Which log lines: RUST_LOG-style directives; RUST_LOG, when set, wins [default: info]
    #[arg(long, env = "MCDATA_LOG_LEVEL")]
    pub log_level: Option<String>,
}

impl FdServerArgs {
    /// Load the config file (if any), apply the flags over it, and validate.
    pub fn resolve(&self) -> Result<FdServerConfig, ConfigError> {
        let mut cfg = match &self.config {
            Some(path) => load_file(path)?,
            None => FdServerConfig::default(),
        };
        macro_rules! over {
            ($($f:ident),*) => { $( if let Some(v) = &self.$f { cfg.$f = v.clone(); } )* };
        }
        over!(
            system_id,
            listen,
            content_server,
            store,
            max_data_size_fd_bytes,
            max_data_size_auto_recv_bytes,
            time_temp_data_waiting,
            tls_client_auth,
            client_header_timeout,
            client_body_timeout,
            max_connections,
            shutdown_grace,
            log_format,
            log_level
        );
        macro_rules! over_opt {
            ($($f:ident),*) => { $( if self.$f.is_some() { cfg.$f.clone_from(&self.$f); } )* };
        }
        over_opt!(
            public_uri,
            tls_ca_file,
            tls_cert_file,
            tls_key_file,
            tls_client_ca_file,
            metrics_listen,
            sip_listen,
            sip_tls_listen,
            sip_uri,
            sip_tls_cert_file,
            sip_tls_key_file,
            sip_tls_ca_file
        );
        override_secret(
            "content-server-credential",
            "content-server-credential-file",
            &self.content_server_credential,
            &self.content_server_credential_file,
            &mut cfg.content_server_credential,
            &mut cfg.content_server_credential_file,
        )?;
        cfg.users.extend(self.users.iter().cloned());
        cfg.partners.extend(self.partners.iter().cloned());
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Read and parse an MCData server's TOML config file, with the secret its
/// `content-server-credential-file` names.
pub fn load_file(path: &std::path::Path) -> Result<FdServerConfig, ConfigError> {
    let mut cfg: FdServerConfig = load_toml(path)?;
    cfg.read_secret_files()?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser, Debug)]
    struct Cmd {
        #[command(flatten)]
        args: FdServerArgs,
    }

    fn parse(args: &[&str]) -> Result<FdServerArgs, clap::Error> {
        use clap::Parser;
        Cmd::try_parse_from(std::iter::once("fd").chain(args.iter().copied())).map(|c| c.args)
    }

    fn private_file(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        path
    }

    #[test]
    fn every_key_is_a_flag_and_a_variable() {
        crate::config::tests::every_key_is_a_flag::<FdServerConfig, FdServerArgs>(&[]);
    }

    #[test]
    fn users_and_partners_in_flag_form() {
        let u = parse_fd_user("carol@a,tok-carol-1,no-send-fd").unwrap();
        assert_eq!(
            (u.id.as_str(), u.token.as_str()),
            ("carol@a", "tok-carol-1")
        );
        assert!(!u.may_send_fd && u.may_query_history);
        let u = parse_fd_user("dave@a,tok-dave-12,no-send-fd,no-query-history").unwrap();
        assert!(!u.may_send_fd && !u.may_query_history);
        assert!(parse_fd_user("alice@a,tok-alice-1").unwrap().may_send_fd);
        for bad in ["alice@a", "alice@a,", ",tok", "a,tok,maybe"] {
            assert!(parse_fd_user(bad).is_err(), "{bad}");
        }
        let p = parse_partner(
            "B,http://127.0.0.1:9081,http://127.0.0.1:8081,secret-ab-123,*@b.example,x@c",
        )
        .unwrap();
        assert_eq!(p.system_id, "B");
        assert_eq!(p.mcdata_server, "http://127.0.0.1:9081");
        assert_eq!(p.content_server, "http://127.0.0.1:8081");
        assert_eq!(p.credential, "secret-ab-123");
        assert!(p.serves("bob@b.example") && p.serves("x@c") && !p.serves("y@c"));
        assert!(parse_partner("B,http://f,http://c").is_err());
        assert!(parse_partner("B,http://f,http://c,cred,").is_err());
        assert!(!format!("{p:?}").contains("secret-ab-123"));
        assert!(!format!("{u:?}").contains("tok-dave"));
    }

    #[test]
    fn flags_secrets_and_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let cred = private_file(dir.path(), "cs.cred", "content-cred-file\n");
        let b = private_file(dir.path(), "b.cred", "secret-ab-file\n");
        let tok = private_file(dir.path(), "alice.token", "tok-alice-file\n");
        let conf = dir.path().join("fd.toml");
        std::fs::write(
            &conf,
            format!(
                r#"
                system-id = "A"
                max-data-size-fd-bytes = "1GiB"
                max-data-size-auto-recv-bytes = "64k"
                content-server-credential-file = "{}"
                [[users]]
                id = "alice@a"
                token-file = "{}"
                may-send-fd = false
                [[partners]]
                system-id = "B"
                mcdata-server = "http://127.0.0.1:9081"
                content-server = "http://127.0.0.1:8081"
                credential-file = "{}"
                users = ["*@b"]
                "#,
                cred.display(),
                tok.display(),
                b.display()
            ),
        )
        .unwrap();
        let cfg = load_file(&conf).unwrap();
        assert_eq!(cfg.max_data_size_fd_bytes, 1 << 30);
        assert_eq!(cfg.max_data_size_auto_recv_bytes, 64 << 10);
        assert_eq!(
            cfg.content_server_credential.as_ref().map(Secret::expose),
            Some("content-cred-file")
        );
        assert_eq!(cfg.users[0].token, "tok-alice-file");
        assert!(!cfg.users[0].may_send_fd && cfg.users[0].may_query_history);
        assert_eq!(cfg.partners[0].credential, "secret-ab-file");
        let debug = format!("{cfg:?}");
        for s in ["content-cred", "tok-alice", "secret-ab"] {
            assert!(!debug.contains(s), "{s}");
        }

        let args = parse(&[
            "--config",
            conf.to_str().unwrap(),
            "--listen",
            "127.0.0.1:9999",
            "--max-data-size-auto-recv-bytes",
            "1m",
            "--time-temp-data-waiting",
            "2h",
            "--content-server-credential",
            "flag-credential",
            "--user",
            &format!("bob@a,@{}", tok.display()),
            "--partner",
            "C,http://127.0.0.1:9082,http://127.0.0.1:8082,secret-ac-123,*@c",
            "--shutdown-grace",
            "5s",
            "--log-format",
            "json",
        ])
        .unwrap();
        let cfg = args.resolve().unwrap();
        assert_eq!(cfg.listen.port(), 9999);
        assert_eq!(cfg.max_data_size_auto_recv_bytes, 1 << 20);
        assert_eq!(cfg.time_temp_data_waiting, Duration::from_secs(7200));
        assert_eq!(
            cfg.content_server_credential.as_ref().map(Secret::expose),
            Some("flag-credential")
        );
        assert_eq!(cfg.content_server_credential_file, None);
        assert_eq!((cfg.users.len(), cfg.partners.len()), (2, 2));
        assert_eq!(cfg.shutdown_grace, Duration::from_secs(5));
        assert_eq!(cfg.log_format, LogFormat::Json);

        let text = cfg.to_check_toml().unwrap();
        for s in ["flag-credential", "tok-alice", "secret-ab", "secret-ac"] {
            assert!(!text.contains(s), "{s} in\n{text}");
        }
        assert!(
            text.contains("public-uri = \"http://127.0.0.1:9999\""),
            "{text}"
        );
        assert!(
            text.contains("max-data-size-auto-recv-bytes = \"1MiB\""),
            "{text}"
        );
        let back: FdServerConfig = toml::from_str(&text).unwrap();
        assert_eq!(back.time_temp_data_waiting, cfg.time_temp_data_waiting);
        assert_eq!(back.partners[1].users, ["*@c"]);
        assert!(!back.users[0].may_send_fd);
    }

    #[test]
    fn listening_on_every_address_needs_a_public_uri() {
        let e = parse(&["--listen", "0.0.0.0:9080"])
            .unwrap()
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("public-uri") && e.contains("0.0.0.0:9080"),
            "{e}"
        );
        parse(&[
            "--listen",
            "[::]:9080",
            "--public-uri",
            "https://fd.a.example",
        ])
        .unwrap()
        .resolve()
        .unwrap();
        let d = FdServerConfig::default();
        assert_eq!(d.shutdown_grace, Duration::from_secs(30));
        assert_eq!((d.metrics_listen, d.log_format), (None, LogFormat::Text));
        assert_eq!(d.log_level, "info");
        let bad = FdServerConfig {
            metrics_listen: Some(d.listen),
            ..Default::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("metrics-listen"));
        let bad = FdServerConfig {
            log_level: "=".into(),
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
