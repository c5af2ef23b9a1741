//! Serving GET and HEAD of a prefixed URL: a hit from the store or the memory tier, or a
//! miss that starts or joins the fill for its key and streams from it as it grows. Every
//! request is counted once in `mcdata_cache_requests_total` by how it was answered.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use prometheus::IntCounter;

use super::memory::MemoryCopy;
use super::{fetch, Partner};
use crate::cache::fill::Joined;
use crate::cache::{CacheKey, EntryMeta, HeadState};
use crate::http::body::{self, Body};
use crate::http::error::ApiError;
use crate::http::file_body;
use crate::http::representation::{Prepared, Span};
use crate::http::sendfile::SendfileSlot;
use crate::http::stream_body;
use crate::metrics::Metrics;
use crate::storage::{BlobBody, Growth, StoreError};

/// How a response was produced, for the `X-Cache` header.
#[derive(Debug, Clone, Copy)]
pub(super) enum CacheStatus {
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

/// `mcdata_cache_requests_total{result}` per outcome and
/// `mcdata_bytes_served_total{role="partner"}`, resolved once: label lookups cost a hash and
/// a lock on every hit otherwise.
pub(super) struct CacheCounters {
    hit: IntCounter,
    miss: IntCounter,
    coalesced: IntCounter,
    pass: IntCounter,
    served: IntCounter,
}

impl CacheCounters {
    pub(super) fn new(metrics: &Metrics) -> Self {
        let result = |r: &str| metrics.cache_requests.with_label_values(&[r]);
        CacheCounters {
            hit: result("hit"),
            miss: result("miss"),
            coalesced: result("coalesced"),
            pass: result("pass"),
            served: metrics.bytes_served.with_label_values(&["partner"]),
        }
    }

    /// Count one request answered as `status`.
    fn count(&self, status: CacheStatus) {
        match status {
            CacheStatus::Hit => &self.hit,
            CacheStatus::Miss => &self.miss,
            CacheStatus::Coalesced => &self.coalesced,
            CacheStatus::Pass => &self.pass,
        }
        .inc();
    }
}

impl Partner {
    pub(super) async fn serve(
        self: &Arc<Self>,
        req: Request<Incoming>,
        url: url::Url,
        system: String,
    ) -> Result<Response<Body>, ApiError> {
        self.access.require_user(req.headers())?;
        let key = CacheKey::of(&url);
        let up = &self.upstream;
        // While the store rests after a failure, even indexed copies are passed through.
        let mut try_store = !up.health.resting();
        let indexed = if try_store {
            up.index.get(&key).await
        } else {
            None
        };
        if let Some(meta) = indexed {
            match self.serve_hit(&req, &meta).await {
                Ok(resp) => return Ok(resp),
                Err(StoreError::NotFound(_)) => {
                    tracing::warn!(url = %url, "indexed copy missing from storage; refetching");
                    up.index.remove(&key).await;
                }
                Err(e) => {
                    // The store fails: serve from the primary without keeping a copy.
                    up.health.failed("open", &e);
                    tracing::warn!(url = %url, error = %e, "cannot read the stored copy; passing through from the primary without caching");
                    try_store = false;
                }
            }
        }
        let (fill, status) = match self.fills.join_or_start(&key) {
            Joined::Started(fill, guard) => {
                self.counters.count(CacheStatus::Miss);
                tokio::spawn(fetch::run(
                    self.upstream.clone(),
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
        let complete = matches!(*fill.growth().borrow(), Growth::Complete { .. });
        let status = match status {
            _ if !head.keep || fill.is_bypassed() => CacheStatus::Pass,
            // The fill already holds the whole verified body: served locally, a hit.
            CacheStatus::Coalesced if complete => CacheStatus::Hit,
            s => s,
        };
        // The leader was counted as a miss when it started the fill; joiners count now.
        if joined {
            self.counters.count(status);
        }
        let plan = match head.rep.plan(req.method(), req.headers()) {
            Ok(p) => p,
            Err(resp) => return Ok(with_cache_status(*resp, status)),
        };
        let served = self.counters.served.clone();
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

    /// Serve a fresh indexed copy. Small copies are served from the memory tier (read
    /// whole from the store once); others from the store, a local file with `sendfile`
    /// when the connection allows it. Conditional and HEAD requests are answered from the
    /// index alone; a body is opened for exactly the span it sends.
    async fn serve_hit(
        &self,
        req: &Request<Incoming>,
        meta: &EntryMeta,
    ) -> Result<Response<Body>, StoreError> {
        let up = &self.upstream;
        if self.memory.admits(meta.len) {
            let copy = match self.memory.get(&meta.object).await {
                Some(copy) => copy,
                None => {
                    let body = read_whole(up.store.open(&meta.object, None).await?).await?;
                    up.health.succeeded();
                    let copy = MemoryCopy {
                        body,
                        prepared: Prepared::new(meta.representation()),
                    };
                    self.memory.insert(&meta.object, copy).await
                }
            };
            return Ok(self.hit_from_memory(req, &copy));
        }
        let plan = match meta.representation().plan(req.method(), req.headers()) {
            Ok(p) => p,
            Err(resp) => {
                self.counters.count(CacheStatus::Hit);
                return Ok(with_cache_status(*resp, CacheStatus::Hit));
            }
        };
        let blob = match plan.span {
            Span::None => None,
            span => Some(
                up.store
                    .open(&meta.object, stream_body::range_of(span))
                    .await?,
            ),
        };
        up.health.succeeded();
        self.counters.count(CacheStatus::Hit);
        let slot = req.extensions().get::<SendfileSlot>();
        let body = match blob {
            Some(b) => stream_body::from_blob_via(slot, b, plan.span, self.counters.served.clone()),
            None => body::empty(),
        };
        let resp = plan
            .response
            .body(body)
            .map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(with_cache_status(resp, CacheStatus::Hit))
    }

    /// A hit on a copy held in the memory tier: no file, no blocking read.
    fn hit_from_memory(&self, req: &Request<Incoming>, copy: &MemoryCopy) -> Response<Body> {
        self.counters.count(CacheStatus::Hit);
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
        self.counters.served.inc_by(part.len() as u64);
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
