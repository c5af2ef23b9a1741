//! The partner role (TS 23.282 7.5.2.4.3 steps 10-13, NOTE 4): a streaming caching reverse
//! proxy for files of primary systems we have an agreement with.
//!
//! A client asks for `<our URI>/<original URL>`; [`target`] checks and strips the prefix.
//! A fresh copy in the [`crate::cache::Index`] is a hit, served from storage. Otherwise the
//! request joins the one fill for that URL, or starts it ([`fetch`]), and is served from
//! the fill's staging file (or spool) as the bytes arrive. When the store fails, the fill
//! still serves its clients, without keeping a copy. The owning primary may purge a copy.

pub mod fetch;
pub mod hot;
pub mod target;

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use prometheus::IntCounter;
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response};
use hyper::body::Incoming;

use crate::access::{Access, AccessError, Caller};
use crate::cache::fill::Joined;
use crate::cache::freshness::Policy;
use crate::cache::{Fills, HeadState, Index};
use crate::http::body::{self, Body};
use crate::http::client::HttpClient;
use crate::http::error::ApiError;
use crate::http::file_body;
use crate::http::representation::Prepared;
use crate::http::representation::Span;
use crate::http::sendfile::SendfileSlot;
use crate::http::stream_body;
use crate::metrics::Metrics;
use crate::storage::{BlobBody, BlobStore, StoreError, StoreHealth};
use target::Allowlist;

/// Settings of the partner role.
#[derive(Debug, Clone)]
pub struct PartnerSettings {
    pub system_id: String,
    pub policy: Policy,
    pub max_object_bytes: u64,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// Where fills spool for their clients when the store has no read handle.
    pub spool_dir: std::path::PathBuf,
    /// After a store failure, how long fills pass through without trying the store.
    pub store_retry_after: Duration,
    /// Budget of the in-memory tier for small hot copies ([`hot`]); 0 disables it.
    pub memory_bytes: u64,
    /// Largest copy the in-memory tier holds.
    pub memory_max_object_bytes: u64,
}

/// Default budget of the in-memory tier.
pub const DEFAULT_MEMORY_BYTES: u64 = 64 * 1024 * 1024;
/// Default largest copy held in memory.
pub const DEFAULT_MEMORY_MAX_OBJECT_BYTES: u64 = 1024 * 1024;

/// The partner content server.
pub struct Partner {
    pub(crate) settings: PartnerSettings,
    pub(crate) allow: Allowlist,
    pub(crate) access: Arc<Access>,
    pub(crate) index: Index,
    pub(crate) fills: Fills,
    pub(crate) store: Arc<dyn BlobStore>,
    pub(crate) client: HttpClient,
    pub(crate) metrics: Metrics,
    pub(crate) health: StoreHealth,
    hot: hot::HotTier,
    /// `mcdata_cache_requests_total{result="hit"}` and `mcdata_bytes_served_total{role="partner"}`,
    /// resolved once: label lookups cost a hash and a lock on every hit otherwise.
    hits: IntCounter,
    served: IntCounter,
}

/// How a response was produced, for the `X-Cache` header.
#[derive(Debug, Clone, Copy)]
enum CacheStatus {
    Hit,
    Miss,
    Coalesced,
    Pass,
}

impl CacheStatus {
    fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Coalesced => "MISS; coalesced",
            CacheStatus::Pass => "PASS",
        }
    }
}

impl Partner {
    /// Build the partner role.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: PartnerSettings,
        allow: Allowlist,
        access: Arc<Access>,
        index: Index,
        store: Arc<dyn BlobStore>,
        client: HttpClient,
        metrics: Metrics,
    ) -> Self {
        let hot = hot::HotTier::new(settings.memory_bytes, settings.memory_max_object_bytes);
        let hits = metrics.cache_requests.with_label_values(&["hit"]);
        let served = metrics.bytes_served.with_label_values(&["partner"]);
        Partner {
            health: StoreHealth::new(settings.store_retry_after, metrics.clone()),
            hot,
            hits,
            served,
            settings,
            allow,
            access,
            index,
            fills: Fills::default(),
            store,
            client,
            metrics,
        }
    }

    /// The cache index (for tests and the admin surface).
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Answer a request whose path is a prefixed URL.
    pub async fn handle(
        self: &Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, ApiError> {
        let url = target::parse_prefixed(req.uri().path(), req.uri().query())?;
        let system = self.allow.system_for(&url)?.to_string();
        match *req.method() {
            Method::GET | Method::HEAD => self.serve(req, url, system).await,
            Method::DELETE => self.purge(&req, &url, &system).await,
            _ => Err(ApiError::MethodNotAllowed(
                "use GET, HEAD or DELETE on a prefixed URL".into(),
            )),
        }
    }

    async fn serve(
        self: &Arc<Self>,
        req: Request<Incoming>,
        url: url::Url,
        system: String,
    ) -> Result<Response<Body>, ApiError> {
        self.access.require_user(req.headers())?;
        let key = target::cache_key(&url);
        // While the store rests after a failure, even indexed copies are passed through.
        let mut try_store = !self.health.resting();
        let indexed = if try_store {
            self.index.get(&key).await
        } else {
            None
        };
        if let Some(meta) = indexed {
            match self.serve_hit(&req, &meta).await {
                Ok(resp) => return Ok(resp),
                Err(StoreError::NotFound(_)) => {
                    tracing::warn!(url = %url, "indexed copy missing from storage; refetching");
                    self.index.remove(&key).await;
                }
                Err(e) => {
                    // The store fails: serve from the primary without keeping a copy.
                    self.health.failed("open", &e);
                    tracing::warn!(url = %url, error = %e, "cannot read the stored copy; passing through from the primary without caching");
                    try_store = false;
                }
            }
        }
        let (fill, status) = match self.fills.join_or_start(&key) {
            Joined::Started(fill, guard) => {
                self.metrics
                    .cache_requests
                    .with_label_values(&["miss"])
                    .inc();
                tokio::spawn(fetch::run(
                    self.clone(),
                    fill.clone(),
                    guard,
                    url.clone(),
                    system,
                    try_store,
                ));
                (fill, CacheStatus::Miss)
            }
            Joined::Joined(fill) => (fill, CacheStatus::Coalesced),
        };
        let head = match fill.head().await {
            HeadState::Ready(h) => h,
            HeadState::Refused(r) => {
                return Err(match r.status.as_u16() {
                    404 => ApiError::NotFound(r.reason.clone()),
                    410 => ApiError::Gone(r.reason.clone()),
                    503 => ApiError::Unavailable(r.reason.clone()),
                    504 => ApiError::GatewayTimeout(r.reason.clone()),
                    _ => ApiError::BadGateway(r.reason.clone()),
                })
            }
            HeadState::Connecting => return Err(ApiError::Internal("fill head not ready".into())),
        };
        let joined = matches!(status, CacheStatus::Coalesced);
        let complete = matches!(
            *fill.growth().borrow(),
            crate::http::file_body::Growth::Complete { .. }
        );
        let status = match status {
            _ if !head.keep || fill.is_bypassed() => CacheStatus::Pass,
            // The fill already holds the whole verified body: served locally, a hit.
            CacheStatus::Coalesced if complete => CacheStatus::Hit,
            s => s,
        };
        // The leader was counted as a miss when it started the fill; joiners count now.
        if joined {
            let label = match status {
                CacheStatus::Hit => "hit",
                CacheStatus::Pass => "pass",
                _ => "coalesced",
            };
            self.metrics
                .cache_requests
                .with_label_values(&[label])
                .inc();
        }
        let plan = match head.rep.plan(req.method(), req.headers()) {
            Ok(p) => p,
            Err(resp) => return Ok(with_cache_status(*resp, status)),
        };
        let served = self.served.clone();
        let growth = fill.growth();
        let slot = req.extensions().get::<SendfileSlot>();
        let file = head.file.clone();
        let body = match plan.span {
            Span::None => body::empty(),
            Span::All => file_body::growing_via(slot, file, 0, None, growth, served),
            Span::Part { start, end } => {
                file_body::growing_via(slot, file, start, Some(end), growth, served)
            }
        };
        let resp = plan
            .response
            .body(body)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(with_cache_status(resp, status))
    }

    /// Serve a fresh indexed copy. Small copies are served from the in-memory tier (read
    /// whole from the store once); others from the store, a local file with `sendfile`
    /// when the connection allows it. Conditional and HEAD requests are answered from the
    /// index alone; a body is opened for exactly the span it sends.
    async fn serve_hit(
        &self,
        req: &Request<Incoming>,
        meta: &crate::cache::EntryMeta,
    ) -> Result<Response<Body>, StoreError> {
        if self.hot.admits(meta.len) {
            let copy = match self.hot.get(&meta.object).await {
                Some(copy) => copy,
                None => {
                    let body = read_whole(self.store.open(&meta.object, None).await?).await?;
                    self.health.succeeded();
                    let copy = hot::HotCopy {
                        body,
                        prepared: Prepared::new(meta.representation()),
                    };
                    self.hot.insert(&meta.object, copy).await
                }
            };
            return Ok(self.hit_from_memory(req, &copy));
        }
        let plan = match meta.representation().plan(req.method(), req.headers()) {
            Ok(p) => p,
            Err(resp) => {
                self.hits.inc();
                return Ok(with_cache_status(*resp, CacheStatus::Hit));
            }
        };
        let blob = match plan.span {
            Span::None => None,
            span => Some(
                self.store
                    .open(&meta.object, stream_body::range_of(span))
                    .await?,
            ),
        };
        self.health.succeeded();
        self.hits.inc();
        let slot = req.extensions().get::<SendfileSlot>();
        let body = match blob {
            Some(b) => stream_body::from_blob_via(slot, b, plan.span, self.served.clone()),
            None => body::empty(),
        };
        let resp = plan
            .response
            .body(body)
            .map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(with_cache_status(resp, CacheStatus::Hit))
    }

    /// A hit on a copy held in the in-memory tier: no file, no blocking read.
    fn hit_from_memory(&self, req: &Request<Incoming>, copy: &hot::HotCopy) -> Response<Body> {
        self.hits.inc();
        let plan = match copy.prepared.plan(req.method(), req.headers()) {
            Ok(p) => p,
            Err(resp) => return with_cache_status(*resp, CacheStatus::Hit),
        };
        let part = match plan.span {
            Span::None => Bytes::new(),
            Span::All => copy.body.clone(),
            Span::Part { start, end } => copy.body.slice(start as usize..end as usize),
        };
        // Counted when the body is handed to hyper, like a file body's chunk.
        self.served.inc_by(part.len() as u64);
        let body = if part.is_empty() {
            body::empty()
        } else {
            body::full(part)
        };
        match plan.response.body(body) {
            Ok(resp) => with_cache_status(resp, CacheStatus::Hit),
            Err(e) => ApiError::Internal(e.to_string()).into_response(),
        }
    }

    /// `DELETE /<original URL>` from the primary that owns the file: drop our copy.
    async fn purge(
        &self,
        req: &Request<Incoming>,
        url: &url::Url,
        system: &str,
    ) -> Result<Response<Body>, ApiError> {
        match self.access.identify(req.headers())? {
            Caller::Peer(p) if p == system => {}
            Caller::Anonymous => return Err(AccessError::Missing.into()),
            _ => {
                return Err(ApiError::Forbidden(format!(
                    "only the primary system {system} that owns this file may purge it"
                )))
            }
        }
        let key = target::cache_key(url);
        let cancelled = self.fills.cancel(&key);
        if let Some(meta) = self.index.get(&key).await {
            self.hot.remove(&meta.object).await;
        }
        let removed = self.index.remove(&key).await;
        let result = if removed || cancelled {
            "dropped"
        } else {
            "absent"
        };
        self.metrics
            .purges_received
            .with_label_values(&[result])
            .inc();
        tracing::info!(url = %url, system, result, "purge from primary");
        Ok(body::json(
            http::StatusCode::OK,
            &serde_json::json!({"url": url.as_str(), "purged": removed || cancelled}),
        ))
    }
}

fn with_cache_status(mut resp: Response<Body>, status: CacheStatus) -> Response<Body> {
    resp.headers_mut()
        .insert("x-cache", HeaderValue::from_static(status.as_str()));
    resp
}

/// All of a small stored object.
async fn read_whole(blob: BlobBody) -> Result<Bytes, StoreError> {
    match blob {
        BlobBody::File { file, len } => crate::storage::read_at(file, 0..len)
            .await
            .map_err(|e| StoreError::io("cached copy", e)),
        BlobBody::Stream { len, stream } => {
            let parts: Vec<Bytes> = stream.try_collect().await?;
            let body: Bytes = parts.concat().into();
            if body.len() as u64 != len {
                return Err(StoreError::Task(format!(
                    "the stored copy has {} bytes, {len} expected",
                    body.len()
                )));
            }
            Ok(body)
        }
    }
}
