//! One content server: builds the storage, index, primary and partner roles from the
//! configuration, routes requests between them, and logs and counts every request.
//!
//! Routes: `POST /files`, `GET|HEAD|DELETE /files/{id}`, `GET /files/{id}/deliveries`
//! (primary); `GET|HEAD|DELETE /<http(s)://original URL>` (partner); `/healthz` (alive), `/readyz` (usable: 503 with the reasons
//! while the store rests after a failure), `/metrics`.

pub mod config;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::net::TcpListener;

use crate::access::jwks::JwksError;
use crate::access::jwt::JwtVerifier;
use crate::access::Access;
use crate::cache::freshness::{Heuristic, Policy};
use crate::cache::Index;
use crate::http::body::{self, Body};
use crate::http::client::{new_body_client, new_client, tls_from_files};
use crate::http::error::ApiError;
use crate::http::server::{self, Routed, Routes, ServerHandle};
use crate::http::server_tls::ServerTls;
use crate::metrics::Metrics;
use crate::partner::target::Allowlist;
use crate::partner::{Partner, PartnerSettings};
use crate::primary::notify::Notifier;
use crate::primary::purge::Purger;
use crate::primary::{Primary, PrimarySettings};
use crate::storage::{open_store, StoreError};
use config::ContentServerConfig;

/// Failures at start-up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("peer {0}: content-server is not a URL")]
    PeerUrl(String),
    #[error(transparent)]
    Tls(#[from] crate::http::client::TlsSetupError),
    #[error("tls-cert-file: {0}")]
    ServerTls(#[from] crate::http::server_tls::ServerTlsError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("JWT access tokens: {0}")]
    Jwks(#[from] JwksError),
    #[error("spool directory {dir}: {source}")]
    Spool {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The assembled server.
pub struct ContentServer {
    pub metrics: Metrics,
    pub primary: Arc<Primary>,
    pub partner: Arc<Partner>,
    public_base: String,
    store: Arc<dyn crate::storage::BlobStore>,
    max_connections: usize,
    /// Set when a shutdown begins: `/readyz` answers 503 from then on.
    draining: std::sync::atomic::AtomicBool,
    /// False when `/metrics` is served on its own listener (`metrics-listen`).
    metrics_here: bool,
}

/// The key `/readyz` reads to see that the store answers (it need not exist).
const READY_PROBE: &str = "readyz-probe";

/// How long `/readyz` waits for the store to answer.
const READY_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A running content server.
pub struct Running {
    pub server: Arc<ContentServer>,
    handle: ServerHandle,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    tls: Option<Arc<ServerTls>>,
    /// The `/metrics` listener of `metrics-listen`, if any.
    metrics_port: Option<ServerHandle>,
    /// `shutdown-grace`.
    grace: Duration,
    reload: Reloadable,
}

/// What a reload replaces, and the configuration it compares the new one with.
struct Reloadable {
    access: crate::access::SharedAccess,
    purger: Arc<Purger>,
    client: crate::http::client::HttpClient,
    jwt_refresh: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    cfg: std::sync::Mutex<ContentServerConfig>,
}

/// What a reload did: the keys applied, and those that need a restart (left as they were).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reloaded {
    pub applied: Vec<&'static str>,
    pub refused: Vec<&'static str>,
}

impl Running {
    /// Read the listener's certificate and key again (SIGHUP); on error the ones in use
    /// stay, and the error says which file is wrong.
    pub fn reload_tls(&self) -> Result<(), crate::http::server_tls::ServerTlsError> {
        match &self.tls {
            Some(t) => t.reload(),
            None => Ok(()),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.handle.addr()
    }

    /// Its public base URI.
    pub fn base(&self) -> &str {
        &self.server.public_base
    }

    /// Apply a reloaded configuration (SIGHUP) without a restart, keeping the cache, the
    /// fills in flight and the connections: peers and their credentials, users, tokens and
    /// the JWT issuer, the cache policy and the largest object, and the listener's
    /// certificate files (read again). A key that needs a restart (the listener, the
    /// store, the cache's byte budget, ...) keeps its running value and is named in
    /// [`Reloaded::refused`]; an invalid configuration changes nothing.
    pub async fn reload(&self, new: ContentServerConfig) -> Result<Reloaded, StartError> {
        new.validate()?;
        let r = &self.reload;
        let old = r.cfg.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let refused = restart_keys(&old, &new);
        let (allow, partners) = peers_of(&new)?;
        let (access, jwt) = access_of(&new, &r.client).await?;
        self.reload_tls()?;
        // Everything is built: switch.
        r.access.store(Arc::new(access));
        r.purger.set_partners(partners);
        self.server.partner.reload(
            Allowlist::new(allow),
            crate::partner::upstream::FillRules {
                policy: policy_of(&new),
                max_object_bytes: new.cache_max_object_bytes,
            },
        );
        let mut refresh = r.jwt_refresh.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = refresh.take() {
            old.abort();
        }
        *refresh = jwt.map(|v| v.spawn_refresh());
        drop(refresh);
        let applied = applied_keys(&old, &new);
        // The keys that need a restart keep their running values, so that the next
        // reload compares with what runs.
        let mut kept = new;
        keep_running_values(&old, &mut kept, &refused);
        *r.cfg.lock().unwrap_or_else(|p| p.into_inner()) = kept;
        for key in &refused {
            tracing::warn!(
                key,
                "reload: this key needs a restart; its running value stays"
            );
        }
        tracing::info!(applied = ?applied, refused = ?refused, "configuration reloaded");
        Ok(Reloaded { applied, refused })
    }

    /// [`Running::shutdown_within`] `shutdown-grace`.
    pub async fn shutdown(self) {
        let grace = self.grace;
        self.shutdown_within(grace).await
    }

    /// Drain and stop, as nginx does on QUIT: readiness flips to 503 first, the port is
    /// closed (no new connections), responses in flight go on for up to `grace`, and
    /// fills still running then (a fill publishes its copy just after its last byte)
    /// get what is left of it, so that their copies are kept.
    pub async fn shutdown_within(self, grace: Duration) {
        let started = std::time::Instant::now();
        self.server
            .draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(
            grace_s = grace.as_secs(),
            "draining: no new connections, in-flight responses finish"
        );
        for t in &self.tasks {
            t.abort();
        }
        self.handle.shutdown_within(grace).await;
        let left = grace
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(1));
        if !self.server.partner.fills_done(left).await {
            tracing::warn!("fills still running at shutdown: their copies are not kept");
        }
        if let Some(m) = self.metrics_port {
            m.shutdown_within(Duration::from_secs(1)).await;
        }
    }

    /// Serve until the server stops.
    pub async fn wait(self) {
        self.handle.wait().await;
    }
}

/// The access table of `cfg`: users, peers' credentials, and the JWT verifier (started).
async fn access_of(
    cfg: &ContentServerConfig,
    client: &crate::http::client::HttpClient,
) -> Result<(Access, Option<Arc<JwtVerifier>>), StartError> {
    let mut access = Access::new(
        cfg.users.iter().map(|u| (u.id.as_str(), u.token.as_str())),
        cfg.peers
            .iter()
            .map(|p| (p.system_id.as_str(), p.credential.as_str())),
    );
    let jwt = match cfg.jwt_settings() {
        Some(settings) => Some(JwtVerifier::start(settings, client.clone()).await?),
        None => None,
    };
    if let Some(v) = &jwt {
        access = access.with_jwt(v.clone());
    }
    Ok((access, jwt))
}

/// The peers' origins (for the allowlist) and where purges go.
#[allow(clippy::type_complexity)]
fn peers_of(
    cfg: &ContentServerConfig,
) -> Result<(Vec<(String, url::Url)>, HashMap<String, (String, String)>), StartError> {
    let mut allow = Vec::new();
    let mut partners = HashMap::new();
    for p in &cfg.peers {
        let u = url::Url::parse(&p.content_server)
            .map_err(|_| StartError::PeerUrl(p.system_id.clone()))?;
        allow.push((p.system_id.clone(), u));
        partners.insert(
            p.system_id.clone(),
            (p.content_server.clone(), p.credential.clone()),
        );
    }
    Ok((allow, partners))
}

/// The freshness policy of `cfg` (RFC 9111 §4.2 and the local limits).
fn policy_of(cfg: &ContentServerConfig) -> Policy {
    Policy {
        max_ttl: cfg.cache_max_ttl,
        default_ttl: cfg.cache_default_ttl.filter(|d| !d.is_zero()),
        heuristic: Heuristic {
            max: cfg.cache_heuristic_max,
            ..Heuristic::default()
        },
        keep_stale: cfg.cache_keep_stale,
    }
}

/// Compares the keys of two configurations, by file key name.
macro_rules! keys {
    ($old:expr, $new:expr, $($key:literal => $field:ident),+ $(,)?) => {
        [$(($key, format!("{:?}", $old.$field) != format!("{:?}", $new.$field))),+]
    };
}

/// The keys whose change needs a restart and that differ.
fn restart_keys(old: &ContentServerConfig, new: &ContentServerConfig) -> Vec<&'static str> {
    let secret = |s: &Option<crate::config::Secret>| s.as_ref().map(|s| s.0.clone());
    let mut changed: Vec<&'static str> = keys!(old, new,
        "system-id" => system_id, "listen" => listen,
        "store" => store, "s3-endpoint" => s3_endpoint, "s3-region" => s3_region,
        "s3-access-key-id" => s3_access_key_id, "s3-allow-http" => s3_allow_http,
        "s3-virtual-hosted-style" => s3_virtual_hosted_style, "spool-dir" => spool_dir,
        "tls-ca-file" => tls_ca_file, "tls-cert-file" => tls_cert_file,
        "tls-key-file" => tls_key_file, "tls-client-ca-file" => tls_client_ca_file,
        "tls-client-auth" => tls_client_auth,
        "upstream-tls-cert-file" => upstream_tls_cert_file,
        "upstream-tls-key-file" => upstream_tls_key_file, "mcdata-server" => mcdata_server,
        "store-retry-after" => store_retry_after,
        "max-data-size-fd-bytes" => max_data_size_fd_bytes,
        "default-file-availability" => default_file_availability,
        "max-file-availability" => max_file_availability,
        "cache-max-bytes" => cache_max_bytes, "cache-memory-bytes" => cache_memory_bytes,
        "cache-memory-max-object-bytes" => cache_memory_max_object_bytes,
        "upstream-header-timeout" => upstream_header_timeout,
        "upstream-idle-timeout" => upstream_idle_timeout, "fsync" => fsync,
        "client-header-timeout" => client_header_timeout,
        "max-connections" => max_connections, "client-body-timeout" => client_body_timeout,
        "instance-id" => instance_id, "instances" => instances,
        "shutdown-grace" => shutdown_grace, "metrics-listen" => metrics_listen,
        "log-format" => log_format,
    )
    .into_iter()
    .filter_map(|(k, differs)| differs.then_some(k))
    .collect();
    if old.public_base() != new.public_base() {
        changed.push("public-uri");
    }
    if secret(&old.s3_secret_access_key) != secret(&new.s3_secret_access_key) {
        changed.push("s3-secret-access-key");
    }
    if secret(&old.mcdata_server_credential) != secret(&new.mcdata_server_credential) {
        changed.push("mcdata-server-credential");
    }
    changed
}

/// The reloadable keys that differ.
fn applied_keys(old: &ContentServerConfig, new: &ContentServerConfig) -> Vec<&'static str> {
    let creds = |c: &ContentServerConfig| -> Vec<(String, String, String)> {
        c.peers
            .iter()
            .map(|p| {
                (
                    p.system_id.clone(),
                    p.content_server.clone(),
                    p.credential.clone(),
                )
            })
            .collect()
    };
    let tokens = |c: &ContentServerConfig| -> Vec<(String, String)> {
        c.users
            .iter()
            .map(|u| (u.id.clone(), u.token.clone()))
            .collect()
    };
    let mut changed: Vec<&'static str> = keys!(old, new,
        "cache-max-ttl" => cache_max_ttl, "cache-default-ttl" => cache_default_ttl,
        "cache-heuristic-max" => cache_heuristic_max, "cache-keep-stale" => cache_keep_stale,
        "cache-max-object-bytes" => cache_max_object_bytes, "log-level" => log_level,
        "jwt-issuer" => jwt_issuer, "jwt-audience" => jwt_audience, "jwt-scope" => jwt_scope,
        "jwks-file" => jwks_file, "jwks-url" => jwks_url, "jwks-refresh" => jwks_refresh,
    )
    .into_iter()
    .filter_map(|(k, differs)| differs.then_some(k))
    .collect();
    if creds(old) != creds(new) {
        changed.push("peers");
    }
    if tokens(old) != tokens(new) {
        changed.push("users");
    }
    changed
}

/// Put back the running values of the keys a reload refused.
fn keep_running_values(old: &ContentServerConfig, new: &mut ContentServerConfig, refused: &[&str]) {
    // Simplest and safe: every key that needs a restart keeps its running value, whether
    // or not it was named (they are all listed in restart_keys).
    let _ = refused;
    let reloadable = new.clone();
    *new = old.clone();
    new.peers = reloadable.peers;
    new.users = reloadable.users;
    new.cache_max_ttl = reloadable.cache_max_ttl;
    new.cache_default_ttl = reloadable.cache_default_ttl;
    new.cache_heuristic_max = reloadable.cache_heuristic_max;
    new.cache_keep_stale = reloadable.cache_keep_stale;
    new.cache_max_object_bytes = reloadable.cache_max_object_bytes;
    new.log_level = reloadable.log_level;
    new.jwt_issuer = reloadable.jwt_issuer;
    new.jwt_audience = reloadable.jwt_audience;
    new.jwt_scope = reloadable.jwt_scope;
    new.jwks_file = reloadable.jwks_file;
    new.jwks_url = reloadable.jwks_url;
    new.jwks_refresh = reloadable.jwks_refresh;
}

/// How often the listener's certificate files are checked for a change.
const TLS_WATCH_INTERVAL: Duration = Duration::from_secs(10);

/// This machine's host name and the port we listen on: stable across restarts (an instance
/// finds its own copies again) and distinct between instances on one host or several.
fn default_instance_id(addr: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    let host = if host.is_empty() { "host".into() } else { host };
    format!("{host}-{}", addr.port())
}

impl ContentServer {
    /// Bind `cfg.listen` and start.
    pub async fn start(cfg: ContentServerConfig) -> Result<Running, StartError> {
        let addr = cfg.listen;
        let listener = server::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
        Self::start_on(listener, cfg).await
    }

    /// Start on an already bound listener (tests bind port 0 first to learn the address).
    pub async fn start_on(
        listener: TcpListener,
        cfg: ContentServerConfig,
    ) -> Result<Running, StartError> {
        let store = open_store(&cfg.store, &cfg.store_options()).await?;
        Self::start_with(listener, cfg, store, Metrics::new()?).await
    }

    /// Start on a bound listener with a store and metrics shared with the other server of
    /// the same process (`mcdata system`).
    pub async fn start_with(
        listener: TcpListener,
        mut cfg: ContentServerConfig,
        store: Arc<dyn crate::storage::BlobStore>,
        metrics: Metrics,
    ) -> Result<Running, StartError> {
        let addr = listener.local_addr()?;
        let server_tls = cfg.server_tls()?.map(ServerTls::load).transpose()?;
        if cfg.public_uri.is_none() {
            let scheme = if server_tls.is_some() {
                "https"
            } else {
                "http"
            };
            cfg.public_uri = Some(format!("{scheme}://{addr}"));
        }
        let public_base = cfg.public_base();
        let swept = store.sweep_staging().await?;
        let spool_dir = cfg.spool_dir();
        crate::cache::spool::check_dir(&spool_dir).map_err(|source| StartError::Spool {
            dir: spool_dir.clone(),
            source,
        })?;
        let identity = cfg.upstream_identity()?;
        let tls = tls_from_files(
            cfg.tls_ca_file.as_deref(),
            identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
        )?;
        let client = new_client(cfg.upstream_header_timeout, tls.clone());
        let (access, jwt) = access_of(&cfg, &client).await?;
        let access = crate::access::shared(access);

        let (allow, partners) = peers_of(&cfg)?;
        let purger = Arc::new(Purger::new(
            store.clone(),
            client.clone(),
            partners,
            metrics.clone(),
        ));
        // Names what this instance writes on a store several instances may share.
        let instance_id = cfg
            .instance_id
            .clone()
            .unwrap_or_else(|| default_instance_id(addr));
        let primary = Arc::new(Primary::new(
            PrimarySettings {
                public_base: public_base.clone(),
                max_upload_bytes: cfg.max_data_size_fd_bytes,
                default_availability: cfg.default_file_availability,
                max_availability: cfg.max_file_availability,
                instance_id: instance_id.clone(),
                body_timeout: cfg.client_body_timeout,
            },
            store.clone(),
            access.clone(),
            metrics.clone(),
            purger.clone(),
        ));
        if let (Some(base), Some(cred)) = (&cfg.mcdata_server, &cfg.mcdata_server_credential) {
            let notifier = Notifier::new(
                new_body_client(cfg.upstream_header_timeout, tls),
                base,
                &cred.0,
                store.clone(),
                metrics.clone(),
            );
            primary.on_removal(notifier.hook(format!("{public_base}/files/")));
            let resumed = notifier.resume().await?;
            tracing::info!(mcdata_server = %base, resumed, "removals and expiries are told to the MCData server");
        }
        let files = primary.load().await?;
        let purges = purger.resume().await?;

        let index = Index::new(
            store.clone(),
            cfg.cache_max_bytes,
            metrics.clone(),
            &instance_id,
        );
        let report = index.load().await?;
        let partner = Arc::new(Partner::new(
            PartnerSettings {
                system_id: cfg.system_id.clone(),
                policy: policy_of(&cfg),
                max_object_bytes: cfg.cache_max_object_bytes,
                header_timeout: cfg.upstream_header_timeout,
                idle_timeout: cfg.upstream_idle_timeout,
                spool_dir: spool_dir.clone(),
                store_retry_after: cfg.store_retry_after,
                memory_bytes: cfg.cache_memory_bytes,
                memory_max_object_bytes: cfg.cache_memory_max_object_bytes,
                instance_id: instance_id.clone(),
                instances: cfg.instances.clone(),
            },
            Allowlist::new(allow),
            access.clone(),
            index.clone(),
            store.clone(),
            client.clone(),
            metrics.clone(),
        ));
        tracing::info!(
            system = cfg.system_id,
            %addr,
            public = public_base,
            store = store.describe(),
            spool = %spool_dir.display(),
            files,
            cached = report.loaded,
            expired_at_start = report.expired,
            orphans_removed = report.orphans + swept,
            purges_resumed = purges,
            peers = cfg.peers.len(),
            "content server started"
        );
        if !access.load().users_required() {
            tracing::warn!(
                "no users configured: uploads and downloads need no token (development mode)"
            );
        }
        let tasks = vec![
            index.spawn_maintenance(Duration::from_secs(1)),
            primary.spawn_expiry(Duration::from_secs(1)),
            partner.spawn_tombstones(Duration::from_secs(1)),
        ];
        let jwt_refresh = std::sync::Mutex::new(jwt.map(|v| v.spawn_refresh()));
        let server = Arc::new(ContentServer {
            metrics,
            primary,
            partner,
            public_base,
            store: store.clone(),
            max_connections: cfg.max_connections,
            draining: std::sync::atomic::AtomicBool::new(false),
            metrics_here: cfg.metrics_listen.is_none(),
        });
        let metrics_port = match cfg.metrics_listen {
            Some(addr) => Some(
                crate::http::metrics_listener::spawn(addr, server.metrics.clone())
                    .map_err(|source| StartError::Bind { addr, source })?,
            ),
            None => None,
        };
        let limits = server::Limits {
            header_timeout: cfg.client_header_timeout,
            max_connections: cfg.max_connections,
        };
        let mut tasks = tasks;
        if let Some(t) = &server_tls {
            // A renewed certificate is picked up without a signal, too.
            tasks.push(t.spawn_watch(TLS_WATCH_INTERVAL));
        }
        let handle = server::spawn_with(listener, server.clone(), limits, server_tls.clone())?;
        Ok(Running {
            server,
            handle,
            tasks,
            tls: server_tls,
            metrics_port,
            grace: cfg.shutdown_grace,
            reload: Reloadable {
                access,
                purger,
                client,
                jwt_refresh,
                cfg: std::sync::Mutex::new(cfg),
            },
        })
    }

    /// Why this server should not get new requests now (empty: it should): draining, the
    /// connection cap reached, the store resting after a failure or not answering.
    async fn unready(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.draining.load(std::sync::atomic::Ordering::SeqCst) {
            reasons.push("draining: the server is shutting down".to_string());
        }
        let open = self.metrics.open_connections.get();
        if open >= 0 && open as usize >= self.max_connections {
            reasons.push(format!(
                "at the connection cap ({} of max-connections {})",
                open, self.max_connections
            ));
        }
        reasons.extend(self.partner.store_trouble());
        match tokio::time::timeout(READY_PROBE_TIMEOUT, self.store.get_small(READY_PROBE)).await {
            Ok(Ok(_)) | Ok(Err(StoreError::NotFound(_))) => {}
            Ok(Err(e)) => reasons.push(format!("the store does not answer: {e}")),
            Err(_) => reasons.push(format!(
                "the store does not answer within {}s",
                READY_PROBE_TIMEOUT.as_secs()
            )),
        }
        reasons
    }

    async fn route(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> (&'static str, Result<Response<Body>, ApiError>) {
        let path = req.uri().path();
        if matches!(path, "/healthz" | "/readyz" | "/metrics")
            && !matches!(*req.method(), http::Method::GET | http::Method::HEAD)
        {
            let e = ApiError::method_not_allowed(req.method(), path, GET_HEAD);
            return ("other", Err(e));
        }
        if path == "/healthz" {
            return (
                "healthz",
                Ok(body::json(
                    StatusCode::OK,
                    &serde_json::json!({"status": "ok"}),
                )),
            );
        }
        if path == "/readyz" {
            let reasons = self.unready().await;
            let (status, ready) = if reasons.is_empty() {
                (StatusCode::OK, true)
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, false)
            };
            return (
                "readyz",
                Ok(body::json(
                    status,
                    &serde_json::json!({"ready": ready, "reasons": reasons}),
                )),
            );
        }
        if path == "/metrics" && self.metrics_here {
            return (
                "metrics",
                Ok(crate::http::metrics_listener::render(&self.metrics)),
            );
        }
        if path == "/files" || path.starts_with("/files/") {
            let route = if path.ends_with("/deliveries") {
                "deliveries"
            } else {
                "files"
            };
            return (route, self.primary.handle(req).await);
        }
        let scheme = path.get(1..7).unwrap_or("").to_ascii_lowercase();
        if scheme.starts_with("http:") || scheme.starts_with("https:") {
            return ("partner", self.partner.handle(req).await);
        }
        (
            "other",
            Err(ApiError::NotFound(format!("no route for {path}"))),
        )
    }
}

/// The methods of `/healthz`, `/readyz` and `/metrics` (the `Allow` of their 405s).
const GET_HEAD: &[http::Method] = &[http::Method::GET, http::Method::HEAD];

impl Routes for ContentServer {
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn dispatch(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Pin<Box<dyn Future<Output = Routed> + Send>> {
        Box::pin(self.route(req))
    }
}
