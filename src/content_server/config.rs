//! Configuration of a content server: the TOML file, the command-line flags that override
//! each of its keys, the defaults, and validation. Read through the shared loader
//! ([`crate::config`]); nothing else reads a content server's flags or file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::access::jwt::{JwtSettings, KeySource, DEFAULT_SCOPE};
use crate::config::{
    de_duration, de_opt_duration, invalid, load_toml, parse_duration, ConfigError, Secret,
};
use crate::http::server_tls::{ClientAuth, ServerTlsSettings};
use crate::storage::{S3Options, StoreOptions};

/// A service agreement with another MCData system: its content server and the shared
/// credential that both sides present (partner -> primary on file retrieve, primary ->
/// partner on purge).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Peer {
    /// The other system's id, e.g. "B".
    pub system_id: String,
    /// Base URI of the other system's content server, e.g. "http://127.0.0.1:8081".
    pub content_server: String,
    /// The agreement credential, sent as `Authorization: Bearer <credential>`.
    pub credential: String,
}

/// A local user allowed to upload and download, identified by a bearer token.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct User {
    /// The MCData ID, e.g. "alice@a.example".
    pub id: String,
    /// The bearer token the user's client presents.
    pub token: String,
}

/// The longest availability a file may be given: 100 years.
pub const MAX_AVAILABILITY: Duration = Duration::from_secs(100 * 365 * 86_400);

/// The whole configuration of one content server.
#[derive(Debug, Clone, Deserialize)]
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
    /// After a store failure, how long the partner passes fills through without trying
    /// the store (then the next fill tries again).
    #[serde(deserialize_with = "de_duration")]
    pub store_retry_after: Duration,
    /// Maximum data size for FD: larger uploads get 413.
    pub max_data_size_fd_bytes: u64,
    /// Availability of an upload that asks for none.
    #[serde(deserialize_with = "de_duration")]
    pub default_file_availability: Duration,
    /// Upper bound of any file's availability.
    #[serde(deserialize_with = "de_duration")]
    pub max_file_availability: Duration,
    /// Byte budget of the partner cache; least recently used entries are evicted past it.
    pub cache_max_bytes: u64,
    /// Local policy: the longest a partner copy is used without asking the primary again,
    /// whatever the primary allows (after it, a copy with a validator is revalidated).
    /// Clients are still told what the primary said.
    #[serde(deserialize_with = "de_duration")]
    pub cache_max_ttl: Duration,
    /// An operator override: the freshness given to a response with no explicit lifetime
    /// and no `Last-Modified` for the heuristic (RFC 9111 §4.2.2). Off by default: such a
    /// response is not kept.
    #[serde(deserialize_with = "de_opt_duration")]
    pub cache_default_ttl: Option<Duration>,
    /// The largest heuristic freshness (10% of the time since `Last-Modified`, RFC 9111
    /// §4.2.2); 0 disables heuristic freshness.
    #[serde(deserialize_with = "de_duration")]
    pub cache_heuristic_max: Duration,
    /// How long a stale copy that has a validator is kept to be revalidated (RFC 9111
    /// §4.3) instead of fetched again; 0 drops copies as soon as they are stale.
    #[serde(deserialize_with = "de_duration")]
    pub cache_keep_stale: Duration,
    /// Largest object the partner will fetch and keep.
    pub cache_max_object_bytes: u64,
    /// Budget of the partner's memory tier: small copies hit recently are also held in
    /// memory and served from there; 0 disables it.
    pub cache_memory_bytes: u64,
    /// Largest copy the memory tier holds.
    pub cache_memory_max_object_bytes: u64,
    /// Time allowed to connect to a primary and receive its response headers.
    #[serde(deserialize_with = "de_duration")]
    pub upstream_header_timeout: Duration,
    /// Longest silence allowed between two body chunks from a primary.
    #[serde(deserialize_with = "de_duration")]
    pub upstream_idle_timeout: Duration,
    /// fsync bodies before publishing them (survives power loss, costs throughput).
    pub fsync: bool,
    /// The longest a client may take to send a request head, and the longest an idle
    /// keep-alive connection is kept (nginx's `client_header_timeout`).
    #[serde(deserialize_with = "de_duration")]
    pub client_header_timeout: Duration,
    /// Connections served at once; above it a new connection gets 503 and is closed.
    pub max_connections: usize,
    /// The longest an upload may go without sending data (nginx's
    /// `client_body_timeout`); then 408 and nothing is kept.
    #[serde(deserialize_with = "de_duration")]
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
    #[serde(deserialize_with = "de_duration")]
    pub jwks_refresh: Duration,
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

    /// Check the values that serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.system_id.trim().is_empty() {
            return Err(invalid("system-id", "must not be empty"));
        }
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

fn parse_peer(s: &str) -> Result<Peer, String> {
    let mut parts = s.splitn(3, ',');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(id), Some(uri), Some(cred))
            if !id.is_empty() && !uri.is_empty() && !cred.is_empty() =>
        {
            Ok(Peer {
                system_id: id.to_string(),
                content_server: uri.to_string(),
                credential: cred.to_string(),
            })
        }
        _ => Err(format!(
            "{s:?}: expected SYSTEM_ID,CONTENT_SERVER_URI,CREDENTIAL"
        )),
    }
}

fn parse_user(s: &str) -> Result<User, String> {
    match s.split_once(',') {
        Some((id, token)) if !id.is_empty() && !token.is_empty() => Ok(User {
            id: id.into(),
            token: token.into(),
        }),
        _ => Err(format!("{s:?}: expected MCDATA_ID,TOKEN")),
    }
}

/// Flags of `mcdata content-server`. Each overrides the config file key of the same name.
#[derive(Debug, Clone, Args, Default)]
pub struct ContentServerArgs {
    /// TOML config file; flags override its keys. Example: --config /etc/mcdata/content.toml
    #[arg(long, short = 'c', env = "MCDATA_CONFIG")]
    pub config: Option<PathBuf>,
    /// This system's id, as partner systems know it [default: local]. Example: --system-id A
    #[arg(long)]
    pub system_id: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8080]. Example: --listen 0.0.0.0:8080
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    // The help text is also rustdoc: its URL and `<listen>` are not markup.
    #[allow(rustdoc::bare_urls, rustdoc::invalid_html_tags)]
    /// URI clients reach this server at [default: http://<listen>]. Example: --public-uri https://cs.a.example
    #[arg(long)]
    pub public_uri: Option<String>,
    /// Object storage [default: file://./mcdata-data]. Example: --store file:///var/lib/mcdata
    /// or --store s3://mcdata/partner-b (credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)
    #[arg(long)]
    pub store: Option<String>,
    /// S3 endpoint [default: AWS_ENDPOINT_URL]. Example: --s3-endpoint http://127.0.0.1:9000
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    /// S3 region [default: AWS_REGION, else us-east-1]
    #[arg(long)]
    pub s3_region: Option<String>,
    /// Directory for the (unlinked) spool files of running fills [default: the OS temp dir]
    #[arg(long)]
    pub spool_dir: Option<PathBuf>,
    /// PEM file of extra CA certificates trusted for https primaries and partners, besides
    /// the system's. Example: --tls-ca-file /etc/mcdata/peers-ca.pem
    #[arg(long)]
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
    #[arg(long)]
    pub mcdata_server: Option<String>,
    /// Credential for --mcdata-server (its `content-server-credential`) [env: MCDATA_SERVER_CREDENTIAL]
    #[arg(long, env = "MCDATA_SERVER_CREDENTIAL", hide_env_values = true)]
    pub mcdata_server_credential: Option<String>,
    /// After a store failure, pass fills through this long before trying the store again [default: 10s]
    #[arg(long, value_parser = parse_duration)]
    pub store_retry_after: Option<Duration>,
    /// Largest upload accepted, in bytes (TS 24.484 max-data-size-fd) [default: 536870912]
    #[arg(long)]
    pub max_data_size_fd_bytes: Option<u64>,
    /// Availability of an upload that asks for none [default: 24h]. Example: --default-file-availability 12h
    #[arg(long, value_parser = parse_duration)]
    pub default_file_availability: Option<Duration>,
    /// Upper bound on any file's availability [default: 7d]
    #[arg(long, value_parser = parse_duration)]
    pub max_file_availability: Option<Duration>,
    /// Partner cache byte budget; LRU eviction past it [default: 10737418240 = 10 GiB]
    #[arg(long)]
    pub cache_max_bytes: Option<u64>,
    /// Local policy: use a partner copy at most this long without asking the primary
    /// again [default: 24h]
    #[arg(long, value_parser = parse_duration)]
    pub cache_max_ttl: Option<Duration>,
    /// Override: keep a response with no freshness information at all this long
    /// (0 = off) [default: off]
    #[arg(long, value_parser = parse_duration)]
    pub cache_default_ttl: Option<Duration>,
    /// Largest heuristic freshness from Last-Modified (0 = no heuristic) [default: 24h]
    #[arg(long, value_parser = parse_duration)]
    pub cache_heuristic_max: Option<Duration>,
    /// Keep a stale copy with a validator this long for revalidation [default: 1h]
    #[arg(long, value_parser = parse_duration)]
    pub cache_keep_stale: Option<Duration>,
    /// Largest object the partner fetches and keeps, in bytes [default: 4 GiB]
    #[arg(long)]
    pub cache_max_object_bytes: Option<u64>,
    /// Memory tier budget for small hot partner copies, in bytes; 0 disables it [default: 67108864 = 64 MiB]
    #[arg(long)]
    pub cache_memory_bytes: Option<u64>,
    /// Largest partner copy held in the memory tier, in bytes [default: 1048576 = 1 MiB]
    #[arg(long)]
    pub cache_memory_max_object_bytes: Option<u64>,
    /// Time allowed for a primary's response headers [default: 30s]
    #[arg(long, value_parser = parse_duration)]
    pub upstream_header_timeout: Option<Duration>,
    /// Longest silence between body chunks from a primary [default: 30s]
    #[arg(long, value_parser = parse_duration)]
    pub upstream_idle_timeout: Option<Duration>,
    /// fsync bodies before publishing them [default: true]. Example: --fsync false
    #[arg(long)]
    pub fsync: Option<bool>,
    /// Longest wait for a request head or on an idle keep-alive connection [default: 60s]
    #[arg(long, value_parser = parse_duration)]
    pub client_header_timeout: Option<Duration>,
    /// Connections served at once; more get 503 [default: 10000]
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Longest an upload may go without sending data, then 408 [default: 60s]
    #[arg(long, value_parser = parse_duration)]
    pub client_body_timeout: Option<Duration>,
    /// This instance's id among instances of one system on one store [default: HOSTNAME-PORT]
    #[arg(long)]
    pub instance_id: Option<String>,
    /// A service agreement (repeatable): SYSTEM_ID,CONTENT_SERVER_URI,CREDENTIAL.
    /// Example: --peer B,http://127.0.0.1:8081,s3cret-ab
    #[arg(long = "peer", value_parser = parse_peer)]
    pub peers: Vec<Peer>,
    /// A local user (repeatable): MCDATA_ID,TOKEN. Without any (and no --jwt-issuer), no
    /// token is required. Example: --user alice@a,tok-alice
    #[arg(long = "user", value_parser = parse_user)]
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
            jwks_refresh
        );
        if self.instance_id.is_some() {
            cfg.instance_id = self.instance_id.clone();
        }
        if let Some(ttl) = self.cache_default_ttl {
            cfg.cache_default_ttl = Some(ttl);
        }
        if self.public_uri.is_some() {
            cfg.public_uri = self.public_uri.clone();
        }
        if self.s3_endpoint.is_some() {
            cfg.s3_endpoint = self.s3_endpoint.clone();
        }
        if self.s3_region.is_some() {
            cfg.s3_region = self.s3_region.clone();
        }
        if self.spool_dir.is_some() {
            cfg.spool_dir = self.spool_dir.clone();
        }
        if self.tls_ca_file.is_some() {
            cfg.tls_ca_file = self.tls_ca_file.clone();
        }
        if self.tls_cert_file.is_some() {
            cfg.tls_cert_file = self.tls_cert_file.clone();
        }
        if self.tls_key_file.is_some() {
            cfg.tls_key_file = self.tls_key_file.clone();
        }
        if self.tls_client_ca_file.is_some() {
            cfg.tls_client_ca_file = self.tls_client_ca_file.clone();
        }
        if let Some(a) = self.tls_client_auth {
            cfg.tls_client_auth = a;
        }
        if self.upstream_tls_cert_file.is_some() {
            cfg.upstream_tls_cert_file = self.upstream_tls_cert_file.clone();
        }
        if self.upstream_tls_key_file.is_some() {
            cfg.upstream_tls_key_file = self.upstream_tls_key_file.clone();
        }
        if self.mcdata_server.is_some() {
            cfg.mcdata_server = self.mcdata_server.clone();
        }
        if let Some(c) = &self.mcdata_server_credential {
            cfg.mcdata_server_credential = Some(Secret(c.clone()));
        }
        for (flag, key) in [
            (&self.jwt_issuer, &mut cfg.jwt_issuer),
            (&self.jwt_audience, &mut cfg.jwt_audience),
            (&self.jwt_scope, &mut cfg.jwt_scope),
            (&self.jwks_url, &mut cfg.jwks_url),
        ] {
            if flag.is_some() {
                key.clone_from(flag);
            }
        }
        if self.jwks_file.is_some() {
            cfg.jwks_file = self.jwks_file.clone();
        }
        cfg.peers.extend(self.peers.iter().cloned());
        cfg.users.extend(self.users.iter().cloned());
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Read and parse a content server's TOML config file.
pub fn load_file(path: &std::path::Path) -> Result<ContentServerConfig, ConfigError> {
    load_toml(path)
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
}
