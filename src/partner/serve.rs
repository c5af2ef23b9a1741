//! Serving GET and HEAD of a prefixed URL as an RFC 9111 shared cache: the stored response
//! for the request's key (its secondary key too when the URL's responses `Vary`, §4.1) is
//! used when fresh or when the request allows it stale (§4.2, §5.2.1); a stale one with a
//! validator is revalidated (§4.3) by a conditional fill, coalesced like any fill; otherwise
//! the request starts or joins the fill for its key and streams from it as it grows. A HEAD
//! without a usable copy is forwarded as HEAD. Every request is counted once in
//! `mcdata_cache_requests_total` by how it was answered.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{HeaderName, HeaderValue, Request, Response};
use tracing::Instrument;

use crate::http::access_log;
use hyper::body::Incoming;
use prometheus::IntCounter;

use std::time::{Duration, SystemTime};

use http::{header, HeaderMap, Method};

use super::fetch::{self, FillRequest};
use super::forward;
use super::memory::MemoryCopy;
use super::revalidate::header_map;
use super::Partner;
use crate::cache::directives::{self, CacheControl};
use crate::cache::fill::{Fill, Joined};
use crate::cache::freshness::{self, Use};
use crate::cache::vary::{self, VaryFields};
use crate::cache::{CacheKey, EntryMeta, HeadState};
use crate::http::body::{self, Body};
use crate::http::error::ApiError;
use crate::http::file_body;
use crate::http::representation::Span;
use crate::http::sendfile::SendfileSlot;
use crate::http::stream_body;
use crate::metrics::Metrics;
use crate::storage::{BlobBody, Growth, StoreError};

/// How a response was produced, for the `X-Cache` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CacheStatus {
    Hit,
    Miss,
    Coalesced,
    Pass,
    /// Served from a stale copy the primary just confirmed with a 304.
    Revalidated,
}

impl CacheStatus {
    fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Coalesced => "MISS; coalesced",
            CacheStatus::Pass => "PASS",
            CacheStatus::Revalidated => "REVALIDATED",
        }
    }

    /// Our member of the RFC 9211 `Cache-Status` field: a hit; a miss forwarded and
    /// stored; a request collapsed into another's forward request; a miss not stored; a
    /// stale copy the primary confirmed (304).
    fn rfc9211(self) -> &'static str {
        match self {
            CacheStatus::Hit => "mcdata; hit",
            CacheStatus::Miss => "mcdata; fwd=miss; stored",
            CacheStatus::Coalesced => "mcdata; fwd=miss; collapsed",
            CacheStatus::Pass => "mcdata; fwd=miss",
            CacheStatus::Revalidated => "mcdata; fwd=stale; fwd-status=304",
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
    revalidated: IntCounter,
    /// No body to serve: the primary could not be reached, refused, or timed out.
    error: IntCounter,
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
            revalidated: result("revalidated"),
            error: result("error"),
            served: metrics.bytes_served.with_label_values(&["partner"]),
        }
    }

    /// Count one request that got no body from its fill.
    fn count_error(&self) {
        self.error.inc();
    }

    /// Count one request answered as `status`.
    fn count(&self, status: CacheStatus) {
        match status {
            CacheStatus::Hit => &self.hit,
            CacheStatus::Miss => &self.miss,
            CacheStatus::Coalesced => &self.coalesced,
            CacheStatus::Pass => &self.pass,
            CacheStatus::Revalidated => &self.revalidated,
        }
        .inc();
    }
}

/// What a request asks of the cache (RFC 9111 §5.2.1), parsed only when it has any.
struct Asked {
    cc: CacheControl,
    pragma_no_cache: bool,
}

impl Asked {
    fn of(h: &HeaderMap) -> Option<Asked> {
        (h.contains_key(header::CACHE_CONTROL) || h.contains_key(header::PRAGMA)).then(|| Asked {
            cc: directives::parse(h),
            pragma_no_cache: directives::pragma_no_cache(h),
        })
    }
}

/// Whether `meta` may answer a request asking `asked` now (RFC 9111 §4.2, §5.2).
fn use_of(meta: &EntryMeta, asked: Option<&Asked>, now: SystemTime) -> Use {
    let age = meta.age(now);
    let Some(asked) = asked else {
        // The fast path: no request directives.
        return if !meta.no_cache && meta.lifetime > age {
            Use::Fresh
        } else {
            Use::Revalidate
        };
    };
    let stored_cc = directives::parse(&header_map(
        &meta
            .fields
            .iter()
            .filter(|(n, _)| n == "cache-control")
            .cloned()
            .collect::<Vec<_>>(),
    ));
    freshness::usable(
        Duration::from_secs(meta.lifetime),
        Duration::from_secs(age),
        &stored_cc,
        &asked.cc,
        asked.pragma_no_cache,
    )
}

impl Partner {
    pub(super) async fn serve(
        self: &Arc<Self>,
        req: Request<Incoming>,
        url: url::Url,
        system: String,
    ) -> Result<Response<Body>, ApiError> {
        self.access.load_full().require_user(req.headers()).await?;
        let up = &self.upstream;
        let base = CacheKey::of(&url);
        let asked = Asked::of(req.headers());
        // The fields the primary would see: only needed for a secondary key or a fill, so
        // a plain hit never builds them.
        let mut view = None;
        let key = match up.index.vary_of(&base).await {
            Some(fields) => {
                let v = view.insert(forward::view(req.headers()));
                base.with_secondary(&vary::secondary_key(&fields, v))
            }
            None => base.clone(),
        };
        // While the store rests after a failure, even indexed copies are passed through.
        let mut try_store = !up.health.resting();
        let indexed = if try_store {
            up.index.get(&key).await
        } else {
            None
        };
        let mut stale = None;
        let had_copy = indexed.is_some();
        if let Some(meta) = indexed {
            let usable = match use_of(&meta, asked.as_ref(), SystemTime::now()) {
                Use::Fresh | Use::ServeStale => true,
                Use::Revalidate => false,
            };
            if usable {
                match self.serve_hit(&req, &meta, CacheStatus::Hit).await {
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
            } else if meta.has_validator() {
                stale = Some(meta);
            }
        }
        // Nothing here: another instance on the same store may have published a copy.
        let adopted = if !had_copy && try_store && !self.fills.is_running(&key) {
            let v = view.get_or_insert_with(|| forward::view(req.headers()));
            up.index.adopt(&base, url.as_str(), v).await
        } else {
            None
        };
        if let Some((_, meta)) = adopted {
            if matches!(
                use_of(&meta, asked.as_ref(), SystemTime::now()),
                Use::Fresh | Use::ServeStale
            ) {
                if let Ok(resp) = self.serve_hit(&req, &meta, CacheStatus::Hit).await {
                    return Ok(resp);
                }
            } else if meta.has_validator() {
                stale = Some(meta);
            }
        }
        if asked.as_ref().is_some_and(|a| a.cc.only_if_cached) {
            // RFC 9111 §5.2.1.7: no stored response may be used, and the primary is not asked.
            return Err(ApiError::GatewayTimeout(
                "only-if-cached: no stored response can answer this request".into(),
            ));
        }
        let cache_control = asked.map(|a| a.cc).unwrap_or_default();
        let view = view.unwrap_or_else(|| forward::view(req.headers()));
        if req.method() == Method::HEAD && stale.is_none() && !self.fills.is_running(&key) {
            return self.forward_head(&req, &url, &system, &view).await;
        }
        let mut fill_req = FillRequest {
            via: forward::via(up, req.headers()),
            url,
            system,
            fields: view,
            cache_control,
            stale,
            try_store,
        };
        let mut key = key;
        // At most twice: a fill whose response varies on fields this request differs in
        // cannot serve it (RFC 9111 §4.1), which then starts its own.
        for _ in 0..2 {
            let (fill, status) = self.join_or_start(&key, &mut fill_req);
            if let Some(leader) = fill.leader() {
                access_log::note_fill(access_log::RequestId(leader));
            }
            match fill.head().await {
                HeadState::Ready(head) => {
                    let own = match &head.vary {
                        VaryFields::Star => Some(uuid::Uuid::new_v4().to_string()),
                        VaryFields::Fields(f) => Some(vary::secondary_key(f, &fill_req.fields))
                            .filter(|mine| *mine != head.secondary),
                        VaryFields::None => None,
                    };
                    match own {
                        Some(secondary) if status == CacheStatus::Coalesced => {
                            key = base.with_secondary(&secondary);
                            fill_req.stale = None;
                        }
                        _ => return self.serve_fill(&req, &fill, &head, status).await,
                    }
                }
                HeadState::Revalidated(meta) => {
                    self.counters.count(CacheStatus::Revalidated);
                    return self
                        .serve_hit(&req, &meta, CacheStatus::Revalidated)
                        .await
                        .map_err(ApiError::from);
                }
                HeadState::Refused(r) => {
                    self.counters.count_error();
                    return Err(match r.status.as_u16() {
                        503 => ApiError::Unavailable(r.reason.clone()),
                        504 => ApiError::GatewayTimeout(r.reason.clone()),
                        _ => ApiError::BadGateway(r.reason.clone()),
                    });
                }
                HeadState::Connecting => {
                    return Err(ApiError::Internal("fill head not ready".into()))
                }
            }
        }
        Err(ApiError::BadGateway(
            "the primary's responses vary on this request in a way no fill could serve".into(),
        ))
    }

    /// Join the fill running for `key`, or start one for `r`. Nothing is counted here: a
    /// request is counted once its outcome is known (a miss may turn out a pass, or an
    /// error).
    fn join_or_start(&self, key: &CacheKey, r: &mut FillRequest) -> (Arc<Fill>, CacheStatus) {
        match self.fills.join_or_start(key) {
            Joined::Started(fill, guard) => {
                let request = FillRequest {
                    url: r.url.clone(),
                    system: r.system.clone(),
                    fields: r.fields.clone(),
                    via: r.via.clone(),
                    cache_control: r.cache_control.clone(),
                    stale: r.stale.take(),
                    try_store: r.try_store,
                };
                let leader = access_log::current_request();
                if let Some(id) = leader {
                    fill.set_leader(id.0);
                }
                let span = tracing::info_span!(
                    "fill",
                    request_id = %leader.map_or_else(|| "-".to_string(), |id| id.to_string())
                );
                tokio::spawn(
                    fetch::run(self.upstream.clone(), fill.clone(), guard, request)
                        .instrument(span),
                );
                (fill, CacheStatus::Miss)
            }
            Joined::Joined(fill) => (fill, CacheStatus::Coalesced),
        }
    }

    /// A response streamed from a fill as its body grows. A range of a body the primary
    /// signed (`Repr-Digest`) is held until the verdict: its bytes end before the body
    /// does, so only the verdict can tell they are right.
    async fn serve_fill(
        &self,
        req: &Request<Incoming>,
        fill: &Fill,
        head: &crate::cache::fill::FillHead,
        status: CacheStatus,
    ) -> Result<Response<Body>, ApiError> {
        let complete = matches!(*fill.growth().borrow(), Growth::Complete { .. });
        let status = match status {
            _ if !head.keep || fill.is_bypassed() => CacheStatus::Pass,
            // The fill already holds the whole verified body: served locally, a hit.
            CacheStatus::Coalesced if complete => CacheStatus::Hit,
            s => s,
        };
        self.counters.count(status);
        let plan = match head.replay.plan(req.method(), req.headers(), head.age) {
            Ok(p) => p,
            Err(resp) => return Ok(with_cache_status(*resp, status)),
        };
        if head.digest_checked && matches!(plan.span, Span::Part { .. }) {
            let mut growth = fill.growth();
            let verdict = growth
                .wait_for(|g| !matches!(g, Growth::Growing { .. }))
                .await
                .map(|g| g.clone());
            match verdict {
                Ok(Growth::Complete { .. }) => {
                    // A fill whose file failed kept only a moving window in memory: past the
                    // file, these bytes are gone. A new request makes a fill of its own.
                    let past_file = matches!((plan.span, fill.tail().file_len()),
                        (Span::Part { end, .. }, Some(at)) if end > at);
                    if past_file {
                        return Err(ApiError::Unavailable(
                            "the store failed during this fill: retry".into(),
                        ));
                    }
                }
                Ok(Growth::Failed(reason)) => return Err(ApiError::BadGateway(reason.to_string())),
                _ => {
                    return Err(ApiError::BadGateway(
                        "the fill ended without a verdict".into(),
                    ))
                }
            }
        }
        let served = self.counters.served.clone();
        let slot = req.extensions().get::<SendfileSlot>();
        let (start, end) = match plan.span {
            Span::None => (0, Some(0)),
            Span::All => (0, None),
            Span::Part { start, end } => (start, Some(end)),
        };
        let body = match plan.span {
            Span::None => body::empty(),
            Span::All | Span::Part { .. } => {
                let growing = file_body::Growing {
                    file: head.file.clone(),
                    growth: fill.growth(),
                    tail: Some(fill.tail().subscribe(start)),
                };
                file_body::growing_via(slot, growing, start, end, served)
            }
        };
        let resp = plan
            .response
            .body(body)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(with_cache_status(resp, status))
    }

    /// A HEAD without a usable copy is forwarded as HEAD (RFC 9110 §9.3.2): the primary's
    /// status and fields, no body, nothing stored.
    async fn forward_head(
        &self,
        req: &Request<Incoming>,
        url: &url::Url,
        system: &str,
        view: &HeaderMap,
    ) -> Result<Response<Body>, ApiError> {
        let up = &self.upstream;
        let via = forward::via(up, req.headers());
        let request_time = SystemTime::now();
        let sent = forward::send(
            up,
            &forward::Upstreamed {
                method: Method::HEAD,
                url,
                system,
                fields: view,
                via: via.as_ref(),
                if_none_match: None,
                if_modified_since: None,
            },
        )
        .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                up.metrics
                    .upstream_failures
                    .with_label_values(&[e.reason()])
                    .inc();
                tracing::warn!(url = %url, system, error = %e, "HEAD to the primary failed");
                self.counters.count_error();
                return Err(match e.client_status().as_u16() {
                    504 => ApiError::GatewayTimeout(e.to_string()),
                    _ => ApiError::BadGateway(e.to_string()),
                });
            }
        };
        self.counters.count(CacheStatus::Pass);
        let timing = freshness::Timing {
            request_time,
            response_time: SystemTime::now(),
        };
        let h = resp.headers();
        let len = h
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok());
        let stored = crate::cache::fields::to_store(h, &directives::parse(h));
        let replay =
            crate::http::replay::Replay::new(resp.status().as_u16(), &stored, len, None, &up.via);
        let age = freshness::corrected_initial_age(h, &timing).as_secs();
        let plan = match replay.plan(&Method::HEAD, &HeaderMap::new(), age) {
            Ok(p) => p,
            Err(resp) => return Ok(with_cache_status(*resp, CacheStatus::Pass)),
        };
        let resp = plan
            .response
            .body(body::empty())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(with_cache_status(resp, CacheStatus::Pass))
    }

    /// Serve an indexed copy. Small copies are served from the memory tier (read whole from
    /// the store once); others from the store, a local file with `sendfile` when the
    /// connection allows it. Conditional and HEAD requests are answered from the index
    /// alone; a body is opened for exactly the span it sends.
    async fn serve_hit(
        &self,
        req: &Request<Incoming>,
        meta: &EntryMeta,
        status: CacheStatus,
    ) -> Result<Response<Body>, StoreError> {
        let up = &self.upstream;
        let replay = meta.replay(&up.via);
        let age = meta.age(SystemTime::now());
        let counted = |c: &CacheCounters| {
            if status == CacheStatus::Hit {
                c.count(CacheStatus::Hit);
            }
        };
        if self.memory.admits(meta.len) {
            let copy = match self.memory.get(&meta.object).await {
                Some(copy) => copy,
                None => {
                    let body = read_whole(up.store.open(&meta.object, None).await?).await?;
                    up.health.succeeded();
                    self.memory.insert(&meta.object, MemoryCopy { body }).await
                }
            };
            counted(&self.counters);
            return Ok(self.hit_from_memory(req, &replay, age, &copy, status));
        }
        let plan = match replay.plan(req.method(), req.headers(), age) {
            Ok(p) => p,
            Err(resp) => {
                counted(&self.counters);
                return Ok(with_cache_status(*resp, status));
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
        counted(&self.counters);
        let slot = req.extensions().get::<SendfileSlot>();
        let body = match blob {
            Some(b) => stream_body::from_blob_via(slot, b, plan.span, self.counters.served.clone()),
            None => body::empty(),
        };
        let resp = plan
            .response
            .body(body)
            .map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(with_cache_status(resp, status))
    }

    /// A hit on a copy held in the memory tier: no file, no blocking read.
    fn hit_from_memory(
        &self,
        req: &Request<Incoming>,
        replay: &crate::http::replay::Replay,
        age: u64,
        copy: &MemoryCopy,
        status: CacheStatus,
    ) -> Response<Body> {
        let plan = match replay.plan(req.method(), req.headers(), age) {
            Ok(p) => p,
            Err(resp) => return with_cache_status(*resp, status),
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
            Ok(resp) => with_cache_status(resp, status),
            Err(e) => ApiError::Internal(e.to_string()).into_response(),
        }
    }
}

fn with_cache_status(mut resp: Response<Body>, status: CacheStatus) -> Response<Body> {
    let h = resp.headers_mut();
    h.insert("x-cache", HeaderValue::from_static(status.as_str()));
    // RFC 9211 §2: each cache appends its member; the one nearest the origin comes first.
    let ours = status.rfc9211();
    let combined = h
        .get(CACHE_STATUS)
        .and_then(|v| v.to_str().ok())
        .and_then(|up| HeaderValue::from_str(&format!("{up}, {ours}")).ok());
    h.insert(
        CACHE_STATUS,
        combined.unwrap_or_else(|| HeaderValue::from_static(ours)),
    );
    resp
}

/// RFC 9211.
const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

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
