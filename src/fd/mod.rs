//! The MCData server: FD signalling between clients and across two systems
//! (TS 23.282 7.5.2.4.3 steps 2-9 and 14-16, and the network notifications).
//!
//! Clients use the JSON API in [`client_api`] (documented in `docs/fd-api.md`); MCData
//! servers of partner systems exchange the 3GPP binary messages of [`crate::codec`] through
//! [`interconnect`], over HTTP or SIP ([`sip`]). [`events`] carries everything to clients as server-sent events;
//! [`records`] remembers requests and reports.

pub mod client_api;
pub mod config;
pub mod directory;
pub mod events;
pub mod interconnect;
pub mod records;
mod removals;
pub(crate) mod sip;
pub(crate) mod sip_body;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::net::TcpListener;

use crate::access::bearer;
use crate::http::body::{self, Body};
use crate::http::client::{new_body_client, tls_from_file, BodyClient};
use crate::http::error::ApiError;
use crate::http::server::{self, Routed, Routes, ServerHandle};
use crate::http::server_tls::ServerTls;
use crate::metrics::Metrics;
use crate::storage::{open_store, BlobStore};
use config::{FdPartner, FdServerConfig, FdUser};
use directory::Directory;
use events::Events;
use records::Records;

/// Failures at start-up.
#[derive(Debug, thiserror::Error)]
pub enum FdStartError {
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("storage: {0}")]
    Store(#[from] crate::storage::StoreError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] crate::http::client::TlsSetupError),
    #[error("tls-cert-file: {0}")]
    ServerTls(#[from] crate::http::server_tls::ServerTlsError),
    #[error(transparent)]
    Sip(#[from] sip::SipError),
}

/// One MCData server.
pub struct FdServer {
    pub(crate) cfg: FdServerConfig,
    pub(crate) base: String,
    /// Users and partners, replaced whole on reload (SIGHUP).
    pub(crate) dir: arc_swap::ArcSwap<Directory>,
    pub(crate) records: Records,
    pub(crate) events: Arc<Events>,
    pub(crate) client: BodyClient,
    pub(crate) metrics: Metrics,
    /// The SIP interface towards partner systems, when `sip-listen` is set.
    pub(crate) sip: Option<Arc<sip::SipInterface>>,
}

/// A running MCData server.
pub struct RunningFd {
    pub server: Arc<FdServer>,
    handle: ServerHandle,
    tls: Option<Arc<ServerTls>>,
    watch: Option<tokio::task::JoinHandle<()>>,
    /// The `/metrics` listener of `metrics-listen`, if any.
    metrics_port: Option<ServerHandle>,
}

impl RunningFd {
    /// Apply a reloaded configuration (SIGHUP): users (tokens and rights) and partners
    /// (agreements, credentials, the users they serve) for new requests, and the
    /// listener's certificate files; a key that needs a restart keeps its running value
    /// and is returned (and logged) by name. An invalid configuration changes nothing.
    pub fn reload(&self, new: FdServerConfig) -> Result<Vec<&'static str>, FdStartError> {
        let dir = Directory::new(&new)?;
        self.reload_tls()?;
        self.server.dir.store(Arc::new(dir));
        let old = &self.server.cfg;
        let d =
            |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") != format!("{b:?}");
        let secret = |s: &Option<crate::config::Secret>| s.as_ref().map(|s| s.0.clone());
        let refused: Vec<&'static str> = [
            ("system-id", d(&old.system_id, &new.system_id)),
            ("listen", d(&old.listen, &new.listen)),
            ("public-uri", old.public_base() != new.public_base()),
            (
                "content-server",
                d(&old.content_server, &new.content_server),
            ),
            ("store", d(&old.store, &new.store)),
            (
                "max-data-size-fd-bytes",
                d(&old.max_data_size_fd_bytes, &new.max_data_size_fd_bytes),
            ),
            (
                "max-data-size-auto-recv-bytes",
                d(
                    &old.max_data_size_auto_recv_bytes,
                    &new.max_data_size_auto_recv_bytes,
                ),
            ),
            (
                "time-temp-data-waiting",
                d(&old.time_temp_data_waiting, &new.time_temp_data_waiting),
            ),
            ("tls-ca-file", d(&old.tls_ca_file, &new.tls_ca_file)),
            ("tls-cert-file", d(&old.tls_cert_file, &new.tls_cert_file)),
            ("tls-key-file", d(&old.tls_key_file, &new.tls_key_file)),
            (
                "tls-client-ca-file",
                d(&old.tls_client_ca_file, &new.tls_client_ca_file),
            ),
            (
                "tls-client-auth",
                d(&old.tls_client_auth, &new.tls_client_auth),
            ),
            (
                "client-header-timeout",
                d(&old.client_header_timeout, &new.client_header_timeout),
            ),
            (
                "client-body-timeout",
                d(&old.client_body_timeout, &new.client_body_timeout),
            ),
            (
                "max-connections",
                d(&old.max_connections, &new.max_connections),
            ),
            (
                "content-server-credential",
                secret(&old.content_server_credential) != secret(&new.content_server_credential),
            ),
            (
                "shutdown-grace",
                d(&old.shutdown_grace, &new.shutdown_grace),
            ),
            (
                "metrics-listen",
                d(&old.metrics_listen, &new.metrics_listen),
            ),
            ("log-format", d(&old.log_format, &new.log_format)),
            ("sip-listen", d(&old.sip_listen, &new.sip_listen)),
            (
                "sip-tls-listen",
                d(&old.sip_tls_listen, &new.sip_tls_listen),
            ),
            ("sip-uri", d(&old.sip_uri, &new.sip_uri)),
            (
                "sip-tls-cert-file",
                d(&old.sip_tls_cert_file, &new.sip_tls_cert_file),
            ),
            (
                "sip-tls-key-file",
                d(&old.sip_tls_key_file, &new.sip_tls_key_file),
            ),
            (
                "sip-tls-ca-file",
                d(&old.sip_tls_ca_file, &new.sip_tls_ca_file),
            ),
        ]
        .into_iter()
        .filter_map(|(k, differs)| differs.then_some(k))
        .collect();
        for key in &refused {
            tracing::warn!(
                key,
                "reload: this key needs a restart; its running value stays"
            );
        }
        tracing::info!(users = new.users.len(), partners = new.partners.len(), refused = ?refused, "MCData server configuration reloaded");
        Ok(refused)
    }

    /// Read the listener's certificate and key again (SIGHUP); on error the ones in use
    /// stay.
    pub fn reload_tls(&self) -> Result<(), crate::http::server_tls::ServerTlsError> {
        if let Some(sip) = &self.server.sip {
            sip.reload_tls()?;
        }
        match &self.tls {
            Some(t) => t.reload(),
            None => Ok(()),
        }
    }
    pub fn addr(&self) -> std::net::SocketAddr {
        self.handle.addr()
    }
    pub fn base(&self) -> &str {
        &self.server.base
    }
    pub async fn shutdown(self) {
        if let Some(w) = &self.watch {
            w.abort();
        }
        self.server.events.close_streams();
        if let Some(sip) = &self.server.sip {
            sip.shutdown();
        }
        self.handle
            .shutdown_within(self.server.cfg.shutdown_grace)
            .await;
        if let Some(m) = self.metrics_port {
            m.shutdown_within(Duration::from_secs(1)).await;
        }
    }
    pub async fn wait(self) {
        self.handle.wait().await;
    }
}

const GET: &[Method] = &[Method::GET];
const GET_HEAD: &[Method] = &[Method::GET, Method::HEAD];
const POST: &[Method] = &[Method::POST];

/// The methods each route supports: the `Allow` of its 405 (RFC 9110 §15.5.6); `None` for
/// a path that is no route (404).
fn allowed(path: &str) -> Option<&'static [Method]> {
    match path {
        "/healthz" | "/metrics" => Some(GET_HEAD),
        "/fd/events" | "/fd/history" => Some(GET),
        "/fd/requests" | "/fd/responses" | "/fd/reports" | "/interconnect"
        | "/content/removals" => Some(POST),
        _ => None,
    }
}

impl FdServer {
    /// Bind `cfg.listen` and start with its own store and metrics.
    pub async fn start(cfg: FdServerConfig) -> Result<RunningFd, FdStartError> {
        let addr = cfg.listen;
        let listener = server::bind(addr).map_err(|source| FdStartError::Bind { addr, source })?;
        // S3 settings, for an s3:// store, come from the AWS_* environment here.
        let opts = crate::storage::StoreOptions {
            fsync: true,
            ..Default::default()
        };
        let store = open_store(&cfg.store, &opts).await?;
        Self::start_on(listener, cfg, store, Metrics::new()?).await
    }

    /// Start on a bound listener, sharing a store and metrics (as `mcdata system` does).
    pub async fn start_on(
        listener: TcpListener,
        mut cfg: FdServerConfig,
        store: Arc<dyn BlobStore>,
        metrics: Metrics,
    ) -> Result<RunningFd, FdStartError> {
        let addr = listener.local_addr()?;
        let tls = cfg.server_tls()?.map(ServerTls::load).transpose()?;
        if cfg.public_uri.is_none() {
            let scheme = if tls.is_some() { "https" } else { "http" };
            cfg.public_uri = Some(format!("{scheme}://{addr}"));
        }
        let dir = Directory::new(&cfg)?;
        let client_tls = tls_from_file(cfg.tls_ca_file.as_deref())?;
        let records = Records::new(store);
        let (messages, reports) = records.load().await?;
        let sip = sip::SipInterface::start(&cfg).await?;
        let server = Arc::new(FdServer {
            sip: sip.as_ref().map(|(s, _)| s.clone()),
            base: cfg.public_base(),
            events: Arc::new(Events::new(cfg.time_temp_data_waiting)),
            client: new_body_client(Duration::from_secs(5), client_tls),
            dir: arc_swap::ArcSwap::from_pointee(dir),
            records,
            metrics,
            cfg,
        });
        tracing::info!(system = server.cfg.system_id, %addr, messages, reports, users = server.cfg.users.len(), partners = server.cfg.partners.len(), "MCData server started");
        if let Some((iface, incoming)) = sip {
            tokio::spawn(sip::inbound::serve(server.clone(), iface, incoming));
        }
        let watch = tls.as_ref().map(|t| t.spawn_watch(Duration::from_secs(10)));
        let handle = server::spawn_with(
            listener,
            server.clone(),
            server::Limits {
                header_timeout: server.cfg.client_header_timeout,
                max_connections: server.cfg.max_connections,
            },
            tls.clone(),
        )?;
        let metrics_port = match server.cfg.metrics_listen {
            Some(addr) => Some(
                crate::http::metrics_listener::spawn(addr, server.metrics.clone())
                    .map_err(|source| FdStartError::Bind { addr, source })?,
            ),
            None => None,
        };
        Ok(RunningFd {
            server,
            handle,
            tls,
            watch,
            metrics_port,
        })
    }

    /// The configuration it started with.
    pub fn config(&self) -> &FdServerConfig {
        &self.cfg
    }

    /// The local user behind the request's bearer token.
    pub(crate) fn user(&self, headers: &HeaderMap) -> Result<FdUser, ApiError> {
        let token = bearer(headers)?.ok_or_else(|| {
            ApiError::Unauthorized("this API needs `Authorization: Bearer <user token>`".into())
        })?;
        self.dir
            .load()
            .user_by_token(token)
            .cloned()
            .ok_or_else(|| ApiError::Forbidden("unknown user token".into()))
    }

    /// The partner system behind the request's agreement credential.
    pub(crate) fn partner(&self, headers: &HeaderMap) -> Result<FdPartner, ApiError> {
        let token = bearer(headers)?.ok_or_else(|| {
            ApiError::Unauthorized(
                "interconnection needs the agreement credential as a bearer token".into(),
            )
        })?;
        self.dir
            .load()
            .partner_by_credential(token)
            .cloned()
            .ok_or_else(|| {
                ApiError::Forbidden("the credential matches no service agreement".into())
            })
    }

    /// Send one FD message to a partner's MCData server, over SIP or HTTP as its
    /// `interconnect` says.
    pub(crate) async fn send_to_partner(
        &self,
        partner: &FdPartner,
        out: interconnect::Outgoing<'_>,
    ) -> Result<(), ApiError> {
        let result = match (partner.interconnect, &self.sip) {
            (config::Interconnect::Http, _) => self.post_to_partner(partner, out).await,
            (config::Interconnect::Sip, Some(sip)) => sip.send(partner, out).await,
            (config::Interconnect::Sip, None) => Err(ApiError::Internal(format!(
                "partner {} is reached over SIP but sip-listen is unset",
                partner.system_id
            ))),
        };
        let label = if result.is_ok() { "ok" } else { "refused" };
        self.metrics
            .fd_messages
            .with_label_values(&["out", label])
            .inc();
        result
    }

    /// `POST /interconnect` to an HTTP partner.
    async fn post_to_partner(
        &self,
        partner: &FdPartner,
        out: interconnect::Outgoing<'_>,
    ) -> Result<(), ApiError> {
        let (recipient, bytes) = (out.to, out.signalling);
        let url = format!(
            "{}/interconnect",
            partner.mcdata_server.trim_end_matches('/')
        );
        let req = Request::post(&url)
            .header(http::header::CONTENT_TYPE, crate::codec::MIME)
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", partner.credential),
            )
            .header("x-mcdata-recipient", recipient)
            .header("x-mcdata-system", self.cfg.system_id.as_str())
            .body(http_body_util::Full::new(Bytes::from(bytes)))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .map_err(|_| {
                ApiError::GatewayTimeout(format!(
                    "the MCData server of {} did not answer",
                    partner.system_id
                ))
            })?
            .map_err(|e| {
                ApiError::BadGateway(format!(
                    "cannot reach the MCData server of {}: {e}",
                    partner.system_id
                ))
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let reason = serde_json::from_slice::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&text).into_owned());
        Err(match status {
            StatusCode::NOT_FOUND => ApiError::NotFound(format!("{}: {reason}", partner.system_id)),
            _ => ApiError::BadGateway(format!(
                "the MCData server of {} answered {status}: {reason}",
                partner.system_id
            )),
        })
    }

    async fn route(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> (&'static str, Result<Response<Body>, ApiError>) {
        let path = req.uri().path().to_string();
        let m = req.method().clone();
        match (m, path.as_str()) {
            (Method::GET | Method::HEAD, "/healthz") => (
                "healthz",
                Ok(body::json(
                    StatusCode::OK,
                    &serde_json::json!({"status": "ok"}),
                )),
            ),
            (Method::GET | Method::HEAD, "/metrics") if self.cfg.metrics_listen.is_none() => (
                "metrics",
                Ok(crate::http::metrics_listener::render(&self.metrics)),
            ),
            (Method::POST, "/fd/requests") => ("fd_requests", self.send_request(req).await),
            (Method::GET, "/fd/events") => ("fd_events", self.event_stream(&req)),
            (Method::POST, "/fd/responses") => ("fd_responses", self.respond(req).await),
            (Method::POST, "/fd/reports") => ("fd_reports", self.report(req).await),
            (Method::GET, "/fd/history") => ("fd_history", self.history(&req)),
            (Method::POST, "/interconnect") => ("interconnect", self.interconnect(req).await),
            (Method::POST, "/content/removals") => {
                ("content_removals", self.content_removal(req).await)
            }
            (m, p) => (
                "other",
                Err(match allowed(p) {
                    Some(allow) => ApiError::method_not_allowed(&m, p, allow),
                    None => ApiError::NotFound(format!("no route for {path}")),
                }),
            ),
        }
    }
}

impl FdServer {
    /// Read a request body of at most `limit` bytes, within `client-body-timeout`.
    pub(crate) async fn read_body(
        &self,
        req: Request<Incoming>,
        limit: usize,
    ) -> Result<Bytes, ApiError> {
        let within = self.cfg.client_body_timeout;
        let read = Limited::new(req.into_body(), limit).collect();
        match tokio::time::timeout(within, read).await {
            Err(_) => Err(ApiError::RequestTimeout(format!(
                "the request body did not arrive within {}s",
                within.as_secs()
            ))),
            Ok(r) => r
                .map(|c| c.to_bytes())
                .map_err(|e| ApiError::BadRequest(format!("request body: {e}"))),
        }
    }

    /// Read a JSON request body.
    pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        req: Request<Incoming>,
    ) -> Result<T, ApiError> {
        let b = self.read_body(req, 64 * 1024).await?;
        serde_json::from_slice(&b)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
    }
}

impl Routes for FdServer {
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
