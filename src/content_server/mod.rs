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
use crate::metrics::{self, Metrics};
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
}

/// How long a shutdown waits for running fills to publish.
const SHUTDOWN_FILL_GRACE: Duration = Duration::from_secs(10);

/// A running content server.
pub struct Running {
    pub server: Arc<ContentServer>,
    handle: ServerHandle,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    tls: Option<Arc<ServerTls>>,
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

    /// Stop serving and stop background tasks; fills still running (a fill whose last
    /// client finished during the grace period is still publishing its copy) are given the
    /// same grace to end, so that their copies are kept.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.handle.shutdown().await;
        if !self.server.partner.fills_done(SHUTDOWN_FILL_GRACE).await {
            tracing::warn!("fills still running at shutdown: their copies are not kept");
        }
    }

    /// Serve until the server stops.
    pub async fn wait(self) {
        self.handle.wait().await;
    }
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
        let listener = server::bind(cfg.listen)?;
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
        let mut access = Access::new(
            cfg.users.iter().map(|u| (u.id.as_str(), u.token.as_str())),
            cfg.peers
                .iter()
                .map(|p| (p.system_id.as_str(), p.credential.as_str())),
        );
        let identity = cfg.upstream_identity()?;
        let tls = tls_from_files(
            cfg.tls_ca_file.as_deref(),
            identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
        )?;
        let client = new_client(cfg.upstream_header_timeout, tls.clone());
        let jwt = match cfg.jwt_settings() {
            Some(settings) => Some(JwtVerifier::start(settings, client.clone()).await?),
            None => None,
        };
        if let Some(v) = &jwt {
            access = access.with_jwt(v.clone());
        }
        let access = Arc::new(access);

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
                policy: Policy {
                    max_ttl: cfg.cache_max_ttl,
                    default_ttl: cfg.cache_default_ttl.filter(|d| !d.is_zero()),
                    heuristic: Heuristic {
                        max: cfg.cache_heuristic_max,
                        ..Heuristic::default()
                    },
                    keep_stale: cfg.cache_keep_stale,
                },
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
            client,
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
        if !access.users_required() {
            tracing::warn!(
                "no users configured: uploads and downloads need no token (development mode)"
            );
        }
        let mut tasks = vec![
            index.spawn_maintenance(Duration::from_secs(1)),
            primary.spawn_expiry(Duration::from_secs(1)),
            partner.spawn_tombstones(Duration::from_secs(1)),
        ];
        tasks.extend(jwt.map(|v| v.spawn_refresh()));
        let server = Arc::new(ContentServer {
            metrics,
            primary,
            partner,
            public_base,
        });
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
        })
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
            let reasons: Vec<String> = self.partner.store_trouble().into_iter().collect();
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
        if path == "/metrics" {
            let mut resp = Response::new(body::full(self.metrics.render()));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(metrics::CONTENT_TYPE),
            );
            return ("metrics", Ok(resp));
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
