//! Configuration of a content server: the TOML file, the command-line flags that override
//! each of its keys, the defaults, and validation. Read through the shared loader
//! ([`crate::config`]); nothing else reads a content server's flags or file.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::access::jwt::{JwtSettings, KeySource, DEFAULT_SCOPE};
use crate::config::{
    check_metrics_listen, check_public_uri, inline_secret, invalid, load_toml, override_secret,
    parse_duration, parse_size, read_secret_file, secret_or_file, ser_redacted, ser_value_enum,
    user_token, validate_log_level, ConfigError, LogFormat, Secret, DEFAULT_LOG_LEVEL,
    DEFAULT_SHUTDOWN_GRACE, REDACTED,
};
use crate::http::server_tls::{ClientAuth, ServerTlsSettings};
use crate::storage::{S3Options, StoreOptions};

/// A service agreement with another MCData system: its content server and the shared
/// credential that both sides present (partner -> primary on file retrieve, primary ->
/// partner on purge). In a file the credential is `credential`, or `credential-file`, a
/// file that holds it (read when the file is loaded).
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", try_from = "PeerToml")]
pub struct Peer {
    /// The other system's id, e.g. "B".
    pub system_id: String,
    /// Base URI of the other system's content server, e.g. "http://127.0.0.1:8081".
    pub content_server: String,
    /// The agreement credential, sent as `Authorization: Bearer <credential>`.
    #[serde(serialize_with = "ser_redacted")]
    pub credential: String,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("system_id", &self.system_id)
            .field("content_server", &self.content_server)
            .field("credential", &format_args!("{REDACTED}"))
            .finish()
    }
}

/// A `[[peers]]` table as written.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct PeerToml {
    system_id: String,
    content_server: String,
    credential: Option<String>,
    credential_file: Option<PathBuf>,
}

impl TryFrom<PeerToml> for Peer {
    type Error = ConfigError;
    fn try_from(p: PeerToml) -> Result<Self, ConfigError> {
        let credential = match (p.credential, p.credential_file) {
            (Some(c), None) => c,
            (None, Some(f)) => read_secret_file("peers.credential-file", &f)?.0,
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "peers.credential",
                    format!(
                        "peer {}: give credential or credential-file, not both",
                        p.system_id
                    ),
                ))
            }
            (None, None) => {
                return Err(invalid(
                    "peers.credential",
                    format!("peer {}: give credential or credential-file", p.system_id),
                ))
            }
        };
        Ok(Peer {
            system_id: p.system_id,
            content_server: p.content_server,
            credential,
        })
    }
}

/// A local user allowed to upload and download, identified by a bearer token (in a file
/// `token`, or `token-file`, a file that holds it).
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", try_from = "UserToml")]
pub struct User {
    /// The MCData ID, e.g. "alice@a.example".
    pub id: String,
    /// The bearer token the user's client presents.
    #[serde(serialize_with = "ser_redacted")]
    pub token: String,
}

/// The longest availability a file may be given: 100 years.
pub const MAX_AVAILABILITY: Duration = Duration::from_secs(100 * 365 * 86_400);

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("token", &format_args!("{REDACTED}"))
            .finish()
    }
}

/// A `[[users]]` table as written.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct UserToml {
    id: String,
    token: Option<String>,
    token_file: Option<PathBuf>,
}

impl TryFrom<UserToml> for User {
    type Error = ConfigError;
    fn try_from(u: UserToml) -> Result<Self, ConfigError> {
        Ok(User {
            token: user_token(&u.id, u.token, u.token_file.as_deref())?,
            id: u.id,
        })
    }
}

/// The whole configuration of one content server.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ContentServerConfig {
    /// This system's id; it names us in delivery records at primaries.
    pub system_id: String,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The URI clients reach this server at (upload `Location`s and the partner prefix).
    /// Defaults to `http://<listen>`.
    pub public_uri: Option<String>,
    /// Where objects live: `file:///abs/path`, a relative `file://./dir`, or
    /// `s3://bucket/prefix` on an S3-compatible server such as MinIO.
    pub store: String,
    /// S3 endpoint, e.g. `http://127.0.0.1:9000`; default `AWS_ENDPOINT_URL` (or AWS).
    pub s3_endpoint: Option<String>,
    /// S3 region; default `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub s3_region: Option<String>,
    /// S3 access key; default `AWS_ACCESS_KEY_ID`.
    pub s3_access_key_id: Option<String>,
    /// S3 secret key; default `AWS_SECRET_ACCESS_KEY`. Kept out of logs.
    pub s3_secret_access_key: Option<Secret>,
    /// A file holding the S3 secret key (instead of `s3-secret-access-key`).
    pub s3_secret_access_key_file: Option<PathBuf>,
    /// Allow plain http to the S3 endpoint; default: when the endpoint is `http://...`.
    pub s3_allow_http: Option<bool>,
    /// Virtual-hosted-style S3 requests (`bucket.host`) instead of path-style (`host/bucket`).
    pub s3_virtual_hosted_style: bool,
    /// Directory of the spool files that running fills keep for their clients when the
    /// store has no local file to read (S3) or fails; default the OS temp dir. The files
    /// are unlinked at creation, so nothing is ever left there.
    pub spool_dir: Option<PathBuf>,
    /// PEM file of extra CA certificates trusted for https primaries and partners, besides
    /// the system's (a private PKI between systems).
    pub tls_ca_file: Option<PathBuf>,
    /// Serve HTTPS: the listener's certificate chain and private key (PEM). Reloaded on
    /// SIGHUP and when the files change.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to (mutual TLS with the
    /// content servers of peer systems).
    pub tls_client_ca_file: Option<PathBuf>,
    /// Whether clients are asked for a certificate: `off`, `optional`, `required`; with a
    /// `tls-client-ca-file` and no choice, `required`.
    #[serde(serialize_with = "ser_value_enum")]
    pub tls_client_auth: ClientAuth,
    /// The certificate and key this server presents when it calls other systems over
    /// https (a partner fetching from a primary that asks for client certificates).
    pub upstream_tls_cert_file: Option<PathBuf>,
    pub upstream_tls_key_file: Option<PathBuf>,
    /// This system's MCData server, told over HTTP of every file removed or expired here so
    /// that it sends the network notifications (`mcdata system` tells it in-process).
    pub mcdata_server: Option<String>,
    /// The credential for that call (`content-server-credential` of the MCData server).
    pub mcdata_server_credential: Option<Secret>,
    /// A file holding that credential (instead of `mcdata-server-credential`).
    pub mcdata_server_credential_file: Option<PathBuf>,
    /// After a store failure, how long the partner passes fills through without trying
    /// the store (then the next fill tries again).
    #[serde(with = "crate::config::duration")]
    pub store_retry_after: Duration,
    /// Maximum data size for FD: larger uploads get 413.
    #[serde(with = "crate::config::size")]
    pub max_data_size_fd_bytes: u64,
    /// Availability of an upload that asks for none.
    #[serde(with = "crate::config::duration")]
    pub default_file_availability: Duration,
    /// Upper bound of any file's availability.
    #[serde(with = "crate::config::duration")]
    pub max_file_availability: Duration,
    /// Byte budget of the partner cache; least recently used entries are evicted past it.
    #[serde(with = "crate::config::size")]
    pub cache_max_bytes: u64,
    /// Local policy: the longest a partner copy is used without asking the primary again,
    /// whatever the primary allows (after it, a copy with a validator is revalidated).
    /// Clients are still told what the primary said.
    #[serde(with = "crate::config::duration")]
    pub cache_max_ttl: Duration,
    /// An operator override: the freshness given to a response with no explicit lifetime
    /// and no `Last-Modified` for the heuristic (RFC 9111 §4.2.2). Off by default: such a
    /// response is not kept.
    #[serde(
        with = "crate::config::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_default_ttl: Option<Duration>,
    /// The largest heuristic freshness (10% of the time since `Last-Modified`, RFC 9111
    /// §4.2.2); 0 disables heuristic freshness.
    #[serde(with = "crate::config::duration")]
    pub cache_heuristic_max: Duration,
    /// How long a stale copy that has a validator is kept to be revalidated (RFC 9111
    /// §4.3) instead of fetched again; 0 drops copies as soon as they are stale.
    #[serde(with = "crate::config::duration")]
    pub cache_keep_stale: Duration,
    /// Largest object the partner will fetch and keep.
    #[serde(with = "crate::config::size")]
    pub cache_max_object_bytes: u64,
    /// Budget of the partner's memory tier: small copies hit recently are also held in
    /// memory and served from there; 0 disables it.
    #[serde(with = "crate::config::size")]
    pub cache_memory_bytes: u64,
    /// Largest copy the memory tier holds.
    #[serde(with = "crate::config::size")]
    pub cache_memory_max_object_bytes: u64,
    /// Time allowed to connect to a primary and receive its response headers.
    #[serde(with = "crate::config::duration")]
    pub upstream_header_timeout: Duration,
    /// Longest silence allowed between two body chunks from a primary.
    #[serde(with = "crate::config::duration")]
    pub upstream_idle_timeout: Duration,
    /// fsync bodies before publishing them (survives power loss, costs throughput).
    pub fsync: bool,
    /// The longest a client may take to send a request head, and the longest an idle
    /// keep-alive connection is kept (nginx's `client_header_timeout`).
    #[serde(with = "crate::config::duration")]
    pub client_header_timeout: Duration,
    /// Connections served at once; above it a new connection gets 503 and is closed.
    pub max_connections: usize,
    /// The longest an upload may go without sending data (nginx's
    /// `client_body_timeout`); then 408 and nothing is kept.
    #[serde(with = "crate::config::duration")]
    pub client_body_timeout: Duration,
    /// This instance's id among several instances of one system on one store (letters,
    /// digits, `-`); names its delivery records and owns the partner copies it stores.
    /// Default: `<host name>-<listen port>`, stable across restarts.
    pub instance_id: Option<String>,
    /// The other instances of this system on the same store (base URIs, e.g.
    /// `http://10.0.0.2:8081`): a purge received by one is forwarded to them.
    pub instances: Vec<String>,
    /// Service agreements with other systems.
    pub peers: Vec<Peer>,
    /// Local users; when empty (and no `jwt-issuer`), uploads and downloads need no
    /// token (development mode).
    pub users: Vec<User>,
    /// The identity management server whose JWT access tokens are accepted (`iss`, TS
    /// 33.180 annex B); needs `jwt-audience` and `jwks-file` or `jwks-url`.
    pub jwt_issuer: Option<String>,
    /// The audience (`aud`) those tokens must name: this content server's identity,
    /// e.g. its public URI.
    pub jwt_audience: Option<String>,
    /// The scope the tokens must grant (one of their space-separated `scope` values);
    /// default `3gpp:mc:data_service`.
    pub jwt_scope: Option<String>,
    /// The issuer's public keys, a JWK Set file (re-read every `jwks-refresh`).
    pub jwks_file: Option<PathBuf>,
    /// The issuer's public keys, fetched from this http(s) URL.
    pub jwks_url: Option<String>,
    /// How often the JWK Set is read or fetched again (also, at most every 30 s, when a
    /// token names an unknown key).
    #[serde(with = "crate::config::duration")]
    pub jwks_refresh: Duration,
    /// After SIGTERM (or Ctrl-C), how long in-flight responses may still take.
    #[serde(with = "crate::config::duration")]
    pub shutdown_grace: Duration,
    /// Serve `/metrics` on this separate listener too (e.g. on an address only the
    /// monitoring network reaches).
    pub metrics_listen: Option<SocketAddr>,
    /// How log lines are written to stderr: `text` or `json`.
    pub log_format: LogFormat,
    /// Which log lines are written: `RUST_LOG`-style directives (`info`,
    /// `mcdata=debug,warn`); `RUST_LOG`, when set, wins.
    pub log_level: String,
}

impl Default for ContentServerConfig {
    fn default() -> Self {
        ContentServerConfig {
            system_id: "local".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_uri: None,
            store: "file://./mcdata-data".into(),
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_secret_access_key_file: None,
            s3_allow_http: None,
            s3_virtual_hosted_style: false,
            spool_dir: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            tls_client_auth: ClientAuth::Off,
            upstream_tls_cert_file: None,
            upstream_tls_key_file: None,
            mcdata_server: None,
            mcdata_server_credential: None,
            mcdata_server_credential_file: None,
            store_retry_after: Duration::from_secs(10),
            max_data_size_fd_bytes: 512 * 1024 * 1024,
            default_file_availability: Duration::from_secs(24 * 3600),
            max_file_availability: Duration::from_secs(7 * 24 * 3600),
            cache_max_bytes: 10 * 1024 * 1024 * 1024,
            cache_max_ttl: Duration::from_secs(24 * 3600),
            cache_default_ttl: None,
            cache_heuristic_max: Duration::from_secs(24 * 3600),
            cache_keep_stale: Duration::from_secs(3600),
            cache_max_object_bytes: 4 * 1024 * 1024 * 1024,
            cache_memory_bytes: crate::partner::memory::DEFAULT_MEMORY_BYTES,
            cache_memory_max_object_bytes: crate::partner::memory::DEFAULT_MEMORY_MAX_OBJECT_BYTES,
            upstream_header_timeout: Duration::from_secs(30),
            upstream_idle_timeout: Duration::from_secs(30),
            fsync: true,
            client_header_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            client_body_timeout: Duration::from_secs(60),
            instance_id: None,
            instances: Vec::new(),
            peers: Vec::new(),
            users: Vec::new(),
            jwt_issuer: None,
            jwt_audience: None,
            jwt_scope: None,
            jwks_file: None,
            jwks_url: None,
            jwks_refresh: Duration::from_secs(300),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            metrics_listen: None,
            log_format: LogFormat::Text,
            log_level: DEFAULT_LOG_LEVEL.into(),
        }
    }
}

impl ContentServerConfig {
    /// How to open [`ContentServerConfig::store`].
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            fsync: self.fsync,
            s3: S3Options {
                endpoint: self.s3_endpoint.clone(),
                region: self.s3_region.clone(),
                access_key_id: self.s3_access_key_id.clone(),
                secret_access_key: self.s3_secret_access_key.as_ref().map(|s| s.0.clone()),
                allow_http: self.s3_allow_http,
                virtual_hosted_style: self.s3_virtual_hosted_style,
            },
        }
    }

    /// The spool directory, the OS temp dir unless configured.
    pub fn spool_dir(&self) -> PathBuf {
        self.spool_dir.clone().unwrap_or_else(std::env::temp_dir)
    }

    /// The public URI without a trailing slash.
    pub fn public_base(&self) -> String {
        match &self.public_uri {
            Some(u) => u.trim_end_matches('/').to_string(),
            None if self.tls_cert_file.is_some() => format!("https://{}", self.listen),
            None => format!("http://{}", self.listen),
        }
    }

    /// The listener's TLS settings, when it serves HTTPS.
    pub fn server_tls(&self) -> Result<Option<ServerTlsSettings>, ConfigError> {
        ServerTlsSettings::from_keys(
            self.tls_cert_file.as_ref(),
            self.tls_key_file.as_ref(),
            self.tls_client_ca_file.as_ref(),
            self.tls_client_auth,
        )
    }

    /// The client certificate and key presented to other systems, if any.
    pub fn upstream_identity(&self) -> Result<Option<(PathBuf, PathBuf)>, ConfigError> {
        match (&self.upstream_tls_cert_file, &self.upstream_tls_key_file) {
            (None, None) => Ok(None),
            (Some(c), Some(k)) => Ok(Some((c.clone(), k.clone()))),
            _ => Err(invalid(
                "upstream-tls-cert-file",
                "upstream-tls-cert-file and upstream-tls-key-file go together",
            )),
        }
    }

    /// Read the secrets given as files (`s3-secret-access-key-file`,
    /// `mcdata-server-credential-file`) into their keys; a secret given both ways is an
    /// error. [`load_file`] does it once, when it reads the file.
    pub fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        self.s3_secret_access_key = secret_or_file(
            "s3-secret-access-key",
            "s3-secret-access-key-file",
            self.s3_secret_access_key.take(),
            self.s3_secret_access_key_file.as_deref(),
        )?;
        self.mcdata_server_credential = secret_or_file(
            "mcdata-server-credential",
            "mcdata-server-credential-file",
            self.mcdata_server_credential.take(),
            self.mcdata_server_credential_file.as_deref(),
        )?;
        Ok(())
    }

    /// The effective settings as `mcdata content-server --check` prints them: TOML, the
    /// default `public-uri` filled in, secrets redacted.
    pub fn to_check_toml(&self) -> Result<String, ConfigError> {
        let mut shown = self.as_shown();
        shown.public_uri = Some(self.public_base());
        crate::config::to_toml(&shown)
    }

    /// A copy to print: a secret read from a file is shown as its `*-file` key alone, so
    /// that what `--check` prints loads again.
    pub(crate) fn as_shown(&self) -> Self {
        let mut shown = self.clone();
        if shown.s3_secret_access_key_file.is_some() {
            shown.s3_secret_access_key = None;
        }
        if shown.mcdata_server_credential_file.is_some() {
            shown.mcdata_server_credential = None;
        }
        shown
    }

    /// Check the values that serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.system_id.trim().is_empty() {
            return Err(invalid("system-id", "must not be empty"));
        }
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
        for base in &self.instances {
            match url::Url::parse(base) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => return Err(invalid("instances", format!("{base}: not an http(s) URI"))),
            }
        }
        if let Some(id) = &self.instance_id {
            let ok = !id.is_empty()
                && id.len() <= 64
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                return Err(invalid("instance-id", "use 1 to 64 letters, digits or '-'"));
            }
        }
        if self.default_file_availability > self.max_file_availability {
            return Err(invalid(
                "default-file-availability",
                "must not exceed max-file-availability",
            ));
        }
        if self.max_file_availability > MAX_AVAILABILITY {
            // Found by fuzzing: a larger value passed and then overflowed the clock at
            // the first upload (docs/fuzzing.md).
            return Err(invalid(
                "max-file-availability",
                "must not exceed 100 years (3153600000s)",
            ));
        }
        if !self.store.starts_with("file://") && !self.store.starts_with("s3://") {
            return Err(invalid(
                "store",
                format!("{}: use file:///path or s3://bucket/prefix", self.store),
            ));
        }
        if let Some(e) = &self.s3_endpoint {
            let u =
                url::Url::parse(e).map_err(|err| invalid("s3-endpoint", format!("{e}: {err}")))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(invalid(
                    "s3-endpoint",
                    format!("{e}: need http(s)://host:port"),
                ));
            }
        }
        match (&self.mcdata_server, &self.mcdata_server_credential) {
            (None, None) => {}
            (Some(u), Some(c)) => {
                let ok = url::Url::parse(u)
                    .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.has_host());
                if !ok {
                    return Err(invalid(
                        "mcdata-server",
                        format!("{u}: need http(s)://host:port"),
                    ));
                }
                if c.0.len() < 8 {
                    return Err(invalid(
                        "mcdata-server-credential",
                        "shorter than 8 characters",
                    ));
                }
            }
            _ => {
                return Err(invalid(
                    "mcdata-server",
                    "mcdata-server and mcdata-server-credential go together",
                ))
            }
        }
        if self.cache_max_bytes < 1024 {
            return Err(invalid("cache-max-bytes", "must be at least 1024"));
        }
        self.server_tls()?;
        self.upstream_identity()?;
        url::Url::parse(&self.public_base())
            .map_err(|e| invalid("public-uri", format!("not a URL: {e}")))?;
        for p in &self.peers {
            let u = url::Url::parse(&p.content_server).map_err(|e| {
                invalid("peers.content-server", format!("{}: {e}", p.content_server))
            })?;
            if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
                return Err(invalid(
                    "peers.content-server",
                    format!("{}: need http(s)://host", p.content_server),
                ));
            }
            if p.credential.len() < 8 {
                return Err(invalid(
                    "peers.credential",
                    format!("credential of {} is shorter than 8 characters", p.system_id),
                ));
            }
            if p.system_id == self.system_id {
                return Err(invalid(
                    "peers.system-id",
                    format!("{} is this system's own id", p.system_id),
                ));
            }
        }
        self.validate_jwt()
    }

    /// The JWT keys go together: an issuer, an audience and one key set.
    fn validate_jwt(&self) -> Result<(), ConfigError> {
        let keys = self.jwks_file.is_some() || self.jwks_url.is_some();
        if self.jwks_file.is_some() && self.jwks_url.is_some() {
            return Err(invalid("jwks-url", "give jwks-file or jwks-url, not both"));
        }
        if !keys {
            for (key, set) in [
                ("jwt-issuer", self.jwt_issuer.is_some()),
                ("jwt-audience", self.jwt_audience.is_some()),
                ("jwt-scope", self.jwt_scope.is_some()),
            ] {
                if set {
                    return Err(invalid(key, "needs jwks-file or jwks-url"));
                }
            }
            return Ok(());
        }
        for (key, value) in [
            ("jwt-issuer", &self.jwt_issuer),
            ("jwt-audience", &self.jwt_audience),
        ] {
            match value {
                None => return Err(invalid(key, "required with jwks-file or jwks-url")),
                Some(v) if v.trim().is_empty() || v.trim() != v => {
                    return Err(invalid(key, "must not be empty or padded with spaces"))
                }
                Some(_) => {}
            }
        }
        if let Some(scope) = &self.jwt_scope {
            if scope.is_empty()
                || !scope
                    .chars()
                    .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
            {
                return Err(invalid(
                    "jwt-scope",
                    "one scope value: printable ASCII, no spaces, quotes or backslashes (RFC 6749 §3.3)",
                ));
            }
        }
        if let Some(u) = &self.jwks_url {
            let ok = url::Url::parse(u)
                .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.has_host());
            if !ok {
                return Err(invalid(
                    "jwks-url",
                    format!("{u}: need http(s)://host/path"),
                ));
            }
        }
        if self.jwks_refresh < Duration::from_secs(1) {
            return Err(invalid("jwks-refresh", "must be at least 1s"));
        }
        Ok(())
    }

    /// What the JWT verifier needs, when JWT access tokens are configured (after
    /// [`ContentServerConfig::validate`]).
    pub fn jwt_settings(&self) -> Option<JwtSettings> {
        let keys = match (&self.jwks_file, &self.jwks_url) {
            (Some(f), _) => KeySource::File(f.clone()),
            (None, Some(u)) => KeySource::Url(u.clone()),
            (None, None) => return None,
        };
        Some(JwtSettings {
            issuer: self.jwt_issuer.clone()?,
            audience: self.jwt_audience.clone()?,
            scope: self
                .jwt_scope
                .clone()
                .unwrap_or_else(|| DEFAULT_SCOPE.to_string()),
            keys,
            refresh: self.jwks_refresh,
        })
    }
}

/// `--peer SYSTEM_ID,CONTENT_SERVER_URI,CREDENTIAL`; the credential may be `@FILE`.
pub(crate) fn parse_peer(s: &str) -> Result<Peer, String> {
    let mut parts = s.splitn(3, ',');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(id), Some(uri), Some(cred))
            if !id.is_empty() && !uri.is_empty() && !cred.is_empty() =>
        {
            Ok(Peer {
                system_id: id.to_string(),
                content_server: uri.to_string(),
                credential: inline_secret("--peer credential", cred)?,
            })
        }
        _ => Err(format!(
            "{s:?}: expected SYSTEM_ID,CONTENT_SERVER_URI,CREDENTIAL (or ...,@CREDENTIAL_FILE)"
        )),
    }
}

/// `--user MCDATA_ID,TOKEN`; the token may be `@FILE`.
pub(crate) fn parse_user(s: &str) -> Result<User, String> {
    match s.split_once(',') {
        Some((id, token)) if !id.is_empty() && !token.is_empty() => Ok(User {
            id: id.into(),
            token: inline_secret("--user token", token)?,
        }),
        _ => Err(format!(
            "{s:?}: expected MCDATA_ID,TOKEN (or MCDATA_ID,@TOKEN_FILE)"
        )),
    }
}

/// Flags of `mcdata content-server`. Each overrides the config file key of the same name
/// and can also be given as the environment variable `MCDATA_<KEY>` (`--cache-max-ttl`:
/// `MCDATA_CACHE_MAX_TTL`; `--mcdata-server`: `MCDATA_SERVER`); a flag on the command
/// line wins over its variable. `--peer`, `--user` and `--instance` add to the file's
/// lists.
#[derive(Debug, Clone, Args, Default)]
pub struct ContentServerArgs {
    /// TOML config file; flags override its keys. Example: --config /etc/mcdata/content.toml
    #[arg(long, short = 'c', env = "MCDATA_CONFIG")]
    pub config: Option<PathBuf>,
    /// This system's id, as partner systems know it [default: local]. Example: --system-id A
    #[arg(long, env = "MCDATA_SYSTEM_ID")]
    pub system_id: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8080]. On every address (0.0.0.0:8080,
    /// [::]:8080) --public-uri is required.
    #[arg(long, env = "MCDATA_LISTEN")]
    pub listen: Option<SocketAddr>,
    // The help text is also rustdoc: its URL and `<listen>` are not markup.
    #[allow(rustdoc::bare_urls, rustdoc::invalid_html_tags)]
    /// URI clients reach this server at [default: http://<listen>]. Example: --public-uri https://cs.a.example
    #[arg(long, env = "MCDATA_PUBLIC_URI")]
    pub public_uri: Option<String>,
    /// Object storage [default: file://./mcdata-data]. Example: --store file:///var/lib/mcdata
    /// or --store s3://mcdata/partner-b
    #[arg(long, env = "MCDATA_STORE")]
    pub store: Option<String>,
    /// S3 endpoint [default: AWS_ENDPOINT_URL]. Example: --s3-endpoint http://127.0.0.1:9000
    #[arg(long, env = "MCDATA_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region [default: AWS_REGION, else us-east-1]
    #[arg(long, env = "MCDATA_S3_REGION")]
    pub s3_region: Option<String>,
    /// S3 access key id [default: AWS_ACCESS_KEY_ID]
    #[arg(long, env = "MCDATA_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,
    /// S3 secret key [default: AWS_SECRET_ACCESS_KEY]; prefer the variable or
    /// --s3-secret-access-key-file (a command line is visible in `ps`)
    #[arg(long, env = "MCDATA_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<Secret>,
    /// A file holding the S3 secret key. Example: --s3-secret-access-key-file /etc/mcdata/secrets/s3.key
    #[arg(long, env = "MCDATA_S3_SECRET_ACCESS_KEY_FILE")]
    pub s3_secret_access_key_file: Option<PathBuf>,
    /// Allow plain http to the S3 endpoint [default: when the endpoint is http://]
    #[arg(long, env = "MCDATA_S3_ALLOW_HTTP")]
    pub s3_allow_http: Option<bool>,
    /// Virtual-hosted-style S3 requests (bucket.host) instead of path-style [default: false]
    #[arg(long, env = "MCDATA_S3_VIRTUAL_HOSTED_STYLE")]
    pub s3_virtual_hosted_style: Option<bool>,
    /// Directory for the (unlinked) spool files of running fills [default: the OS temp dir]
    #[arg(long, env = "MCDATA_SPOOL_DIR")]
    pub spool_dir: Option<PathBuf>,
    /// PEM file of extra CA certificates trusted for https primaries and partners, besides
    /// the system's. Example: --tls-ca-file /etc/mcdata/peers-ca.pem
    #[arg(long, env = "MCDATA_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM); reloaded on SIGHUP and when it
    /// changes. Example: --tls-cert-file /etc/mcdata/tls/cs.pem
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
    /// The client certificate (PEM) presented to https primaries and partners that ask for one
    #[arg(long, env = "MCDATA_UPSTREAM_TLS_CERT_FILE")]
    pub upstream_tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of --upstream-tls-cert-file
    #[arg(long, env = "MCDATA_UPSTREAM_TLS_KEY_FILE")]
    pub upstream_tls_key_file: Option<PathBuf>,
    /// This system's MCData server, told of files removed or expired here (for its network
    /// notifications) when it runs as a separate `mcdata fd-server`.
    /// Example: --mcdata-server http://127.0.0.1:9080
    #[arg(long, env = "MCDATA_SERVER")]
    pub mcdata_server: Option<String>,
    /// Credential for --mcdata-server (its `content-server-credential`); prefer the
    /// variable or --mcdata-server-credential-file (a command line is visible in `ps`)
    #[arg(long, env = "MCDATA_SERVER_CREDENTIAL", hide_env_values = true)]
    pub mcdata_server_credential: Option<Secret>,
    /// A file holding the credential for --mcdata-server. Example: --mcdata-server-credential-file /etc/mcdata/secrets/fd.cred
    #[arg(long, env = "MCDATA_SERVER_CREDENTIAL_FILE")]
    pub mcdata_server_credential_file: Option<PathBuf>,
    /// After a store failure, pass fills through this long before trying the store again [default: 10s]
    #[arg(long, env = "MCDATA_STORE_RETRY_AFTER", value_parser = parse_duration)]
    pub store_retry_after: Option<Duration>,
    /// Largest upload accepted (TS 24.484 max-data-size-fd) [default: 512MiB]. Example: --max-data-size-fd-bytes 1GiB
    #[arg(long, env = "MCDATA_MAX_DATA_SIZE_FD_BYTES", value_parser = parse_size)]
    pub max_data_size_fd_bytes: Option<u64>,
    /// Availability of an upload that asks for none [default: 24h]. Example: --default-file-availability 12h
    #[arg(long, env = "MCDATA_DEFAULT_FILE_AVAILABILITY", value_parser = parse_duration)]
    pub default_file_availability: Option<Duration>,
    /// Upper bound on any file's availability [default: 7d]
    #[arg(long, env = "MCDATA_MAX_FILE_AVAILABILITY", value_parser = parse_duration)]
    pub max_file_availability: Option<Duration>,
    /// Partner cache byte budget; LRU eviction past it [default: 10GiB]
    #[arg(long, env = "MCDATA_CACHE_MAX_BYTES", value_parser = parse_size)]
    pub cache_max_bytes: Option<u64>,
    /// Local policy: use a partner copy at most this long without asking the primary
    /// again [default: 24h]
    #[arg(long, env = "MCDATA_CACHE_MAX_TTL", value_parser = parse_duration)]
    pub cache_max_ttl: Option<Duration>,
    /// Override: keep a response with no freshness information at all this long
    /// (0 = off) [default: off]
    #[arg(long, env = "MCDATA_CACHE_DEFAULT_TTL", value_parser = parse_duration)]
    pub cache_default_ttl: Option<Duration>,
    /// Largest heuristic freshness from Last-Modified (0 = no heuristic) [default: 24h]
    #[arg(long, env = "MCDATA_CACHE_HEURISTIC_MAX", value_parser = parse_duration)]
    pub cache_heuristic_max: Option<Duration>,
    /// Keep a stale copy with a validator this long for revalidation [default: 1h]
    #[arg(long, env = "MCDATA_CACHE_KEEP_STALE", value_parser = parse_duration)]
    pub cache_keep_stale: Option<Duration>,
    /// Largest object the partner fetches and keeps [default: 4GiB]
    #[arg(long, env = "MCDATA_CACHE_MAX_OBJECT_BYTES", value_parser = parse_size)]
    pub cache_max_object_bytes: Option<u64>,
    /// Memory tier budget for small hot partner copies; 0 disables it [default: 64MiB]
    #[arg(long, env = "MCDATA_CACHE_MEMORY_BYTES", value_parser = parse_size)]
    pub cache_memory_bytes: Option<u64>,
    /// Largest partner copy held in the memory tier [default: 1MiB]
    #[arg(long, env = "MCDATA_CACHE_MEMORY_MAX_OBJECT_BYTES", value_parser = parse_size)]
    pub cache_memory_max_object_bytes: Option<u64>,
    /// Time allowed for a primary's response headers [default: 30s]
    #[arg(long, env = "MCDATA_UPSTREAM_HEADER_TIMEOUT", value_parser = parse_duration)]
    pub upstream_header_timeout: Option<Duration>,
    /// Longest silence between body chunks from a primary [default: 30s]
    #[arg(long, env = "MCDATA_UPSTREAM_IDLE_TIMEOUT", value_parser = parse_duration)]
    pub upstream_idle_timeout: Option<Duration>,
    /// fsync bodies before publishing them [default: true]. Example: --fsync false
    #[arg(long, env = "MCDATA_FSYNC")]
    pub fsync: Option<bool>,
    /// Longest wait for a request head or on an idle keep-alive connection [default: 60s]
    #[arg(long, env = "MCDATA_CLIENT_HEADER_TIMEOUT", value_parser = parse_duration)]
    pub client_header_timeout: Option<Duration>,
    /// Connections served at once; more get 503 [default: 10000]
    #[arg(long, env = "MCDATA_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Longest an upload may go without sending data, then 408 [default: 60s]
    #[arg(long, env = "MCDATA_CLIENT_BODY_TIMEOUT", value_parser = parse_duration)]
    pub client_body_timeout: Option<Duration>,
    /// This instance's id among instances of one system on one store [default: HOSTNAME-PORT]
    #[arg(long, env = "MCDATA_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Another instance of this system on the same store (repeatable, or URI,URI,...):
    /// purges received are forwarded to it. Example: --instance http://10.0.0.2:8081
    #[arg(long = "instance", env = "MCDATA_INSTANCES", value_delimiter = ',')]
    pub instances: Vec<String>,
    /// A service agreement (repeatable; in MCDATA_PEERS separate them with ';'):
    /// SYSTEM_ID,CONTENT_SERVER_URI,CREDENTIAL, or @FILE for a file holding the credential.
    /// Example: --peer B,http://127.0.0.1:8081,@/etc/mcdata/secrets/b.cred
    #[arg(
        long = "peer",
        env = "MCDATA_PEERS",
        value_delimiter = ';',
        hide_env_values = true,
        value_parser = parse_peer
    )]
    pub peers: Vec<Peer>,
    /// A local user (repeatable; in MCDATA_USERS separate them with ';'): MCDATA_ID,TOKEN,
    /// or MCDATA_ID,@FILE for a file holding the token. Without any (and no --jwt-issuer),
    /// no token is required. Example: --user alice@a,@/etc/mcdata/secrets/alice.token
    #[arg(
        long = "user",
        env = "MCDATA_USERS",
        value_delimiter = ';',
        hide_env_values = true,
        value_parser = parse_user
    )]
    pub users: Vec<User>,
    /// Accept JWT access tokens of this identity management server (`iss`); needs
    /// --jwt-audience and --jwks-file or --jwks-url. Example: --jwt-issuer https://idms.a.example
    #[arg(long, env = "MCDATA_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// The audience (`aud`) JWT access tokens must name: this server. Example: --jwt-audience https://cs.a.example
    #[arg(long, env = "MCDATA_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// The scope JWT access tokens must grant [default: 3gpp:mc:data_service]
    #[arg(long, env = "MCDATA_JWT_SCOPE")]
    pub jwt_scope: Option<String>,
    /// The issuer's JWK Set file. Example: --jwks-file /etc/mcdata/idms-jwks.json
    #[arg(long, env = "MCDATA_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// The issuer's JWK Set URL. Example: --jwks-url https://idms.a.example/jwks
    #[arg(long, env = "MCDATA_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// How often the JWK Set is read or fetched again [default: 5m]
    #[arg(long, env = "MCDATA_JWKS_REFRESH", value_parser = parse_duration)]
    pub jwks_refresh: Option<Duration>,
    /// After SIGTERM, how long in-flight responses may still take [default: 30s]
    #[arg(long, env = "MCDATA_SHUTDOWN_GRACE", value_parser = parse_duration)]
    pub shutdown_grace: Option<Duration>,
    /// Also serve /metrics on this address [default: none]. Example: --metrics-listen 127.0.0.1:9100
    #[arg(long, env = "MCDATA_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Log line format on stderr [default: text]
    #[arg(long, value_enum, env = "MCDATA_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Which log lines: RUST_LOG-style directives; RUST_LOG, when set, wins [default: info].
    /// Example: --log-level mcdata=debug,warn
    #[arg(long, env = "MCDATA_LOG_LEVEL")]
    pub log_level: Option<String>,
}

impl ContentServerArgs {
    /// Load the config file (if any), apply the flags over it, and validate.
    pub fn resolve(&self) -> Result<ContentServerConfig, ConfigError> {
        let mut cfg = match &self.config {
            Some(path) => load_file(path)?,
            None => ContentServerConfig::default(),
        };
        macro_rules! over {
            ($($f:ident),*) => { $( if let Some(v) = &self.$f { cfg.$f = v.clone(); } )* };
        }
        over!(
            system_id,
            listen,
            store,
            s3_virtual_hosted_style,
            max_data_size_fd_bytes,
            default_file_availability,
            max_file_availability,
            cache_max_bytes,
            cache_max_ttl,
            cache_heuristic_max,
            cache_keep_stale,
            cache_max_object_bytes,
            cache_memory_bytes,
            cache_memory_max_object_bytes,
            upstream_header_timeout,
            upstream_idle_timeout,
            fsync,
            store_retry_after,
            client_header_timeout,
            max_connections,
            client_body_timeout,
            jwks_refresh,
            shutdown_grace,
            log_format,
            log_level,
            tls_client_auth
        );
        macro_rules! over_opt {
            ($($f:ident),*) => { $( if self.$f.is_some() { cfg.$f.clone_from(&self.$f); } )* };
        }
        over_opt!(
            instance_id,
            public_uri,
            s3_endpoint,
            s3_region,
            s3_access_key_id,
            s3_allow_http,
            spool_dir,
            tls_ca_file,
            tls_cert_file,
            tls_key_file,
            tls_client_ca_file,
            upstream_tls_cert_file,
            upstream_tls_key_file,
            mcdata_server,
            jwt_issuer,
            jwt_audience,
            jwt_scope,
            jwks_file,
            jwks_url,
            metrics_listen
        );
        override_secret(
            "s3-secret-access-key",
            "s3-secret-access-key-file",
            &self.s3_secret_access_key,
            &self.s3_secret_access_key_file,
            &mut cfg.s3_secret_access_key,
            &mut cfg.s3_secret_access_key_file,
        )?;
        override_secret(
            "mcdata-server-credential",
            "mcdata-server-credential-file",
            &self.mcdata_server_credential,
            &self.mcdata_server_credential_file,
            &mut cfg.mcdata_server_credential,
            &mut cfg.mcdata_server_credential_file,
        )?;
        if let Some(ttl) = self.cache_default_ttl {
            cfg.cache_default_ttl = Some(ttl).filter(|d| !d.is_zero());
        }
        cfg.instances.extend(self.instances.iter().cloned());
        cfg.peers.extend(self.peers.iter().cloned());
        cfg.users.extend(self.users.iter().cloned());
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Read and parse a content server's TOML config file, with the secrets its `*-file`
/// keys name.
pub fn load_file(path: &std::path::Path) -> Result<ContentServerConfig, ConfigError> {
    let mut cfg: ContentServerConfig = load_toml(path)?;
    cfg.read_secret_files()?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_keys_and_flags_override() {
        let text = r#"
            system-id = "A"
            listen = "127.0.0.1:9000"
            default-file-availability = "2h"
            cache-max-ttl = 600
            [[peers]]
            system-id = "B"
            content-server = "http://127.0.0.1:8081"
            credential = "secret-ab-123"
        "#;
        let cfg: ContentServerConfig = toml::from_str(text).unwrap();
        assert_eq!(cfg.system_id, "A");
        assert_eq!(cfg.default_file_availability, Duration::from_secs(7200));
        assert_eq!(cfg.cache_max_ttl, Duration::from_secs(600));
        assert_eq!(cfg.peers.len(), 1);
        assert_eq!(cfg.public_base(), "http://127.0.0.1:9000");
        cfg.validate().unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<ContentServerConfig>("sytem-id = \"A\"").is_err());
        let mut cfg = ContentServerConfig::default();
        cfg.peers
            .push(parse_peer("B,ftp://x,secret-secret").unwrap());
        assert!(cfg.validate().is_err());
        assert!(parse_peer("B,http://x").is_err());
        let cfg = ContentServerConfig {
            store: "ftp://x".into(),
            ..Default::default()
        };
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn mcdata_server_and_its_credential_go_together() {
        let mut cfg = ContentServerConfig {
            mcdata_server: Some("http://127.0.0.1:9080".into()),
            ..Default::default()
        };
        assert!(cfg.validate().is_err(), "credential missing");
        cfg.mcdata_server_credential = Some(Secret("short".into()));
        assert!(cfg.validate().is_err(), "credential too short");
        cfg.mcdata_server_credential = Some(Secret("content-cred-1".into()));
        cfg.validate().unwrap();
        assert!(!format!("{cfg:?}").contains("content-cred-1"));
        cfg.mcdata_server = Some("not a url".into());
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn jwt_keys_go_together() {
        let text = r#"
            jwt-issuer = "https://idms.a.example"
            jwt-audience = "https://cs.a.example"
            jwks-url = "https://idms.a.example/jwks"
            jwks-refresh = "10m"
        "#;
        let cfg: ContentServerConfig = toml::from_str(text).unwrap();
        cfg.validate().unwrap();
        let s = cfg.jwt_settings().unwrap();
        assert_eq!(s.scope, DEFAULT_SCOPE);
        assert_eq!(s.refresh, Duration::from_secs(600));
        assert_eq!(s.keys, KeySource::Url("https://idms.a.example/jwks".into()));
        assert!(ContentServerConfig::default().jwt_settings().is_none());

        let bad = |f: &dyn Fn(&mut ContentServerConfig)| {
            let mut c = cfg.clone();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(bad(&|c| c.jwt_issuer = None).contains("jwt-issuer"));
        assert!(bad(&|c| c.jwt_audience = None).contains("jwt-audience"));
        assert!(bad(&|c| c.jwks_file = Some("/k.json".into())).contains("not both"));
        assert!(bad(&|c| c.jwks_url = Some("ftp://x/k".into())).contains("jwks-url"));
        assert!(bad(&|c| c.jwt_scope = Some("a b".into())).contains("jwt-scope"));
        assert!(bad(&|c| c.jwt_scope = Some(String::new())).contains("jwt-scope"));
        assert!(bad(&|c| c.jwks_refresh = Duration::ZERO).contains("jwks-refresh"));
        assert!(bad(&|c| c.jwt_issuer = Some(" x".into())).contains("jwt-issuer"));
        assert!(bad(&|c| c.jwks_url = None).contains("needs jwks-file"));
        let only_scope = ContentServerConfig {
            jwt_scope: Some("s".into()),
            ..Default::default()
        };
        assert!(only_scope.validate().is_err());
    }

    #[test]
    fn jwt_flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "jwt-issuer = \"https://old\"\njwt-audience = \"a\"\njwks-url = \"http://127.0.0.1:1/k\"\n",
        )
        .unwrap();
        let args = ContentServerArgs {
            config: Some(path),
            jwt_issuer: Some("https://idms.a.example".into()),
            jwt_scope: Some("3gpp:mc:other".into()),
            jwks_refresh: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let cfg = args.resolve().unwrap();
        let s = cfg.jwt_settings().unwrap();
        assert_eq!(s.issuer, "https://idms.a.example");
        assert_eq!(s.audience, "a");
        assert_eq!(s.scope, "3gpp:mc:other");
        assert_eq!(s.refresh, Duration::from_secs(60));
    }

    #[test]
    fn s3_keys_and_secret_redacted() {
        let text = r#"
            store = "s3://mcdata/partner-b"
            s3-endpoint = "http://127.0.0.1:9000"
            s3-access-key-id = "mcdata"
            s3-secret-access-key = "very-secret-key"
            spool-dir = "/var/tmp/mcdata"
        "#;
        let cfg: ContentServerConfig = toml::from_str(text).unwrap();
        cfg.validate().unwrap();
        let opts = cfg.store_options();
        assert_eq!(
            opts.s3.secret_access_key.as_deref(),
            Some("very-secret-key")
        );
        assert_eq!(cfg.spool_dir(), PathBuf::from("/var/tmp/mcdata"));
        assert!(!format!("{cfg:?}").contains("very-secret-key"));
        assert!(!format!("{opts:?}").contains("very-secret-key"));
    }

    /// Found by fuzzing (docs/fuzzing.md, `config`): a huge `max-file-availability`
    /// validated, and the first upload then overflowed the clock.
    #[test]
    fn availabilities_that_overflow_the_clock_are_refused() {
        let mut cfg = ContentServerConfig {
            max_file_availability: Duration::from_secs(9_223_372_036_854_775_807),
            ..ContentServerConfig::default()
        };
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("max-file-availability"), "{e}");
        cfg.max_file_availability = MAX_AVAILABILITY;
        assert!(cfg.validate().is_ok());
        assert!(std::time::SystemTime::now()
            .checked_add(MAX_AVAILABILITY)
            .is_some());
    }

    #[test]
    fn every_key_is_a_flag_and_a_variable() {
        crate::config::tests::every_key_is_a_flag::<ContentServerConfig, ContentServerArgs>(&[]);
        let keys = crate::config::tests::keys_of::<ContentServerConfig>();
        for k in [
            "s3-access-key-id",
            "s3-secret-access-key-file",
            "log-level",
            "shutdown-grace",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k}");
        }
    }

    #[derive(clap::Parser, Debug)]
    struct Cmd {
        #[command(flatten)]
        args: ContentServerArgs,
    }

    fn parse(args: &[&str]) -> Result<ContentServerArgs, clap::Error> {
        use clap::Parser;
        Cmd::try_parse_from(std::iter::once("cs").chain(args.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn flags_keep_secrets_out_of_debug() {
        let args = parse(&[
            "--mcdata-server",
            "http://127.0.0.1:9080",
            "--mcdata-server-credential",
            "flag-credential-1",
            "--s3-secret-access-key",
            "flag-s3-secret",
            "--peer",
            "B,http://127.0.0.1:8081,flag-peer-secret",
            "--user",
            "alice@a,flag-user-token",
        ])
        .unwrap();
        let debug = format!("{args:?}");
        for s in [
            "flag-credential-1",
            "flag-s3-secret",
            "flag-peer-secret",
            "flag-user-token",
        ] {
            assert!(!debug.contains(s), "{s} in {debug}");
        }
        assert_eq!(
            args.resolve().unwrap().peers[0].credential,
            "flag-peer-secret"
        );
    }

    #[test]
    fn sizes_with_units_in_the_file_and_in_flags() {
        let cfg: ContentServerConfig = toml::from_str(
            r#"
            max-data-size-fd-bytes = "1g"
            cache-max-bytes = "20GiB"
            cache-max-object-bytes = "1.5GB"
            cache-memory-bytes = "64m"
            cache-memory-max-object-bytes = 65536
            "#,
        )
        .unwrap();
        assert_eq!(cfg.max_data_size_fd_bytes, 1 << 30);
        assert_eq!(cfg.cache_max_bytes, 20 << 30);
        assert_eq!(cfg.cache_max_object_bytes, 1_500_000_000);
        assert_eq!(cfg.cache_memory_bytes, 64 << 20);
        assert_eq!(cfg.cache_memory_max_object_bytes, 65536);
        let e = toml::from_str::<ContentServerConfig>("cache-max-bytes = \"10 parsecs\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cache-max-bytes") && e.contains("unit"), "{e}");

        let args = parse(&[
            "--cache-max-bytes",
            "2GiB",
            "--max-data-size-fd-bytes",
            "100k",
        ])
        .unwrap();
        let cfg = args.resolve().unwrap();
        assert_eq!(cfg.cache_max_bytes, 2 << 30);
        assert_eq!(cfg.max_data_size_fd_bytes, 100 << 10);
        assert!(parse(&["--cache-max-bytes", "lots"]).is_err());
        // Plain integers still work.
        let cfg = parse(&["--cache-memory-bytes", "0"])
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(cfg.cache_memory_bytes, 0);
    }

    #[test]
    fn the_new_flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "s3-access-key-id = \"file-key\"\ns3-allow-http = false\nlog-level = \"warn\"\ninstances = [\"http://10.0.0.1:8080\"]\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let args = parse(&[
            "--config",
            p,
            "--s3-access-key-id",
            "flag-key",
            "--s3-allow-http",
            "true",
            "--s3-virtual-hosted-style",
            "true",
            "--s3-secret-access-key",
            "flag-secret",
            "--instance",
            "http://10.0.0.2:8080,http://10.0.0.3:8080",
            "--shutdown-grace",
            "45s",
            "--metrics-listen",
            "127.0.0.1:9100",
            "--log-format",
            "json",
            "--log-level",
            "mcdata=debug,info",
            "--cache-default-ttl",
            "0",
        ])
        .unwrap();
        let cfg = args.resolve().unwrap();
        assert_eq!(cfg.s3_access_key_id.as_deref(), Some("flag-key"));
        assert_eq!(cfg.s3_allow_http, Some(true));
        assert!(cfg.s3_virtual_hosted_style);
        assert_eq!(
            cfg.store_options().s3.secret_access_key.as_deref(),
            Some("flag-secret")
        );
        assert_eq!(cfg.instances.len(), 3, "--instance adds to the file's");
        assert_eq!(cfg.shutdown_grace, Duration::from_secs(45));
        assert_eq!(cfg.metrics_listen, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(cfg.log_format, LogFormat::Json);
        assert_eq!(cfg.log_level, "mcdata=debug,info");
        assert_eq!(cfg.cache_default_ttl, None, "0 is off");

        let d = ContentServerConfig::default();
        assert_eq!(d.shutdown_grace, Duration::from_secs(30));
        assert_eq!(d.metrics_listen, None);
        assert_eq!(d.log_format, LogFormat::Text);
        assert_eq!(d.log_level, "info");
        let f: ContentServerConfig = toml::from_str(
            "shutdown-grace = \"2m\"\nmetrics-listen = \"127.0.0.1:9100\"\nlog-format = \"json\"\nlog-level = \"debug\"",
        )
        .unwrap();
        assert_eq!(f.shutdown_grace, Duration::from_secs(120));
        assert_eq!(f.log_format, LogFormat::Json);
        f.validate().unwrap();

        let bad = |c: ContentServerConfig| c.validate().unwrap_err().to_string();
        assert!(bad(ContentServerConfig {
            log_level: "mcdata=shouty".into(),
            ..Default::default()
        })
        .contains("log-level"));
        assert!(bad(ContentServerConfig {
            metrics_listen: Some(d.listen),
            ..Default::default()
        })
        .contains("metrics-listen"));
        assert!(parse(&["--log-format", "xml"]).is_err());
    }

    #[test]
    fn listening_on_every_address_needs_a_public_uri() {
        for listen in ["0.0.0.0:8080", "[::]:8080"] {
            let args = parse(&["--listen", listen]).unwrap();
            let e = args.resolve().unwrap_err().to_string();
            assert!(e.contains("public-uri") && e.contains(listen), "{e}");
            let ok = parse(&[
                "--listen",
                listen,
                "--public-uri",
                "http://cs.a.example:8080",
            ])
            .unwrap()
            .resolve()
            .unwrap();
            assert_eq!(ok.public_base(), "http://cs.a.example:8080");
        }
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
    fn secrets_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let cred = private_file(dir.path(), "b.cred", "secret-ab-from-file\n");
        let token = private_file(dir.path(), "alice.token", "tok-alice-from-file\n");
        let s3 = private_file(dir.path(), "s3.key", "s3-secret-from-file\n");
        let fd = private_file(dir.path(), "fd.cred", "fd-cred-from-file\n");
        let conf = dir.path().join("c.toml");
        std::fs::write(
            &conf,
            format!(
                r#"
                mcdata-server = "http://127.0.0.1:9080"
                mcdata-server-credential-file = "{}"
                s3-secret-access-key-file = "{}"
                [[peers]]
                system-id = "B"
                content-server = "http://127.0.0.1:8081"
                credential-file = "{}"
                [[users]]
                id = "alice@a"
                token-file = "{}"
                "#,
                fd.display(),
                s3.display(),
                cred.display(),
                token.display()
            ),
        )
        .unwrap();
        let (cfg, warnings) = crate::config::collecting_warnings(|| load_file(&conf));
        let cfg = cfg.unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(cfg.peers[0].credential, "secret-ab-from-file");
        assert_eq!(cfg.users[0].token, "tok-alice-from-file");
        assert_eq!(
            cfg.mcdata_server_credential.as_ref().map(Secret::expose),
            Some("fd-cred-from-file")
        );
        assert_eq!(
            cfg.s3_secret_access_key.as_ref().map(Secret::expose),
            Some("s3-secret-from-file")
        );
        cfg.validate().unwrap();
        let debug = format!("{cfg:?}");
        for secret in ["secret-ab", "tok-alice", "s3-secret", "fd-cred"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        // --check shows a secret read from a file as the file, and the printout loads again.
        let text = cfg.to_check_toml().unwrap();
        for secret in [
            "secret-ab-from-file",
            "tok-alice-from-file",
            "s3-secret-from-file",
            "fd-cred-from-file",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let mut back: ContentServerConfig = toml::from_str(&text).unwrap();
        back.read_secret_files().unwrap();
        assert_eq!(
            back.mcdata_server_credential.as_ref().map(Secret::expose),
            Some("fd-cred-from-file")
        );

        // A flag's file replaces the file's secret; @FILE in --peer and --user.
        let other = private_file(dir.path(), "other.cred", "other-credential\n");
        let args = parse(&[
            "--config",
            conf.to_str().unwrap(),
            "--mcdata-server-credential-file",
            other.to_str().unwrap(),
            "--peer",
            &format!("C,http://127.0.0.1:8082,@{}", cred.display()),
            "--user",
            &format!("bob@a,@{}", token.display()),
        ])
        .unwrap();
        let cfg = args.resolve().unwrap();
        assert_eq!(
            cfg.mcdata_server_credential.as_ref().map(Secret::expose),
            Some("other-credential")
        );
        assert_eq!(cfg.peers[1].credential, "secret-ab-from-file");
        assert_eq!(cfg.users[1].token, "tok-alice-from-file");
        assert!(parse(&["--peer", "C,http://x,@/no/such/file"]).is_err());
        let both = parse(&[
            "--mcdata-server-credential",
            "x-credential",
            "--mcdata-server-credential-file",
            other.to_str().unwrap(),
        ])
        .unwrap();
        assert!(both.resolve().unwrap_err().to_string().contains("not both"));

        // Both ways, or neither, in a [[peers]] table; both ways for a single secret.
        let e = toml::from_str::<ContentServerConfig>(
            "[[peers]]\nsystem-id = \"B\"\ncontent-server = \"http://x\"\ncredential = \"c\"\ncredential-file = \"/f\"",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not both"), "{e}");
        let e = toml::from_str::<ContentServerConfig>(
            "[[peers]]\nsystem-id = \"B\"\ncontent-server = \"http://x\"",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("credential-file"), "{e}");
        let e = toml::from_str::<ContentServerConfig>("[[users]]\nid = \"a\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("token-file"), "{e}");
        let mut c: ContentServerConfig = toml::from_str(&format!(
            "s3-secret-access-key = \"x\"\ns3-secret-access-key-file = \"{}\"",
            s3.display()
        ))
        .unwrap();
        assert!(c
            .read_secret_files()
            .unwrap_err()
            .to_string()
            .contains("not both"));
        let e = toml::from_str::<ContentServerConfig>(&format!(
            "[[peers]]\nsystem-id = \"B\"\ncontent-server = \"http://x\"\ncredential-file = \"{}\"",
            dir.path().join("missing").display()
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("peers.credential-file") && e.contains("missing"),
            "{e}"
        );
    }

    #[test]
    fn check_prints_the_effective_settings_redacted_and_reloadable() {
        let mut cfg: ContentServerConfig = toml::from_str(
            r#"
            system-id = "A"
            cache-max-bytes = "20GiB"
            cache-default-ttl = "5m"
            mcdata-server = "http://127.0.0.1:9080"
            mcdata-server-credential = "fd-credential-1"
            jwt-issuer = "https://idms.a.example"
            jwt-audience = "https://cs.a.example"
            jwks-url = "https://idms.a.example/jwks"
            [[peers]]
            system-id = "B"
            content-server = "http://127.0.0.1:8081"
            credential = "secret-ab-123"
            [[users]]
            id = "alice@a"
            token = "tok-alice-123"
            "#,
        )
        .unwrap();
        cfg.tls_client_auth = ClientAuth::Optional;
        let text = cfg.to_check_toml().unwrap();
        for secret in ["fd-credential-1", "secret-ab-123", "tok-alice-123"] {
            assert!(!text.contains(secret), "{secret} in\n{text}");
        }
        assert!(text.contains("cache-max-bytes = \"20GiB\""), "{text}");
        assert!(
            text.contains("public-uri = \"http://127.0.0.1:8080\""),
            "{text}"
        );
        assert!(text.contains("max-file-availability = \"7d\""), "{text}");
        assert!(text.contains("tls-client-auth = \"optional\""), "{text}");
        assert!(text.contains("log-format = \"text\""), "{text}");
        let back: ContentServerConfig = toml::from_str(&text).unwrap();
        assert_eq!(back.cache_max_bytes, cfg.cache_max_bytes);
        assert_eq!(back.cache_default_ttl, Some(Duration::from_secs(300)));
        assert_eq!(back.jwks_refresh, cfg.jwks_refresh);
        assert_eq!(back.peers[0].system_id, "B");
        assert_eq!(back.users[0].id, "alice@a");
        assert_eq!(back.tls_client_auth, ClientAuth::Optional);
        assert_eq!(back.peers[0].credential, crate::config::REDACTED);
    }
}
