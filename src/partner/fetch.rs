//! Driving one fill: the file retrieve request to the primary (step 11, built by
//! [`super::forward`]), streaming the response — whatever its status — into a staging
//! object (or the fill's spool, see `cache::spool`) while clients read it, verifying it
//! (length, and the `Repr-Digest` sha-256 when the primary sends one), and publishing it to
//! the index only when it is complete and RFC 9111 lets us keep it ([`Policy::decide`]),
//! with the header fields to replay ([`fields::to_store`]) and the clock readings of its
//! age. A fill that revalidates a stored copy sends its validators; a 304 freshens the copy
//! without moving the body again ([`super::revalidate`]). A failure of the primary removes
//! the staging object and fails every reader. A failure of the store does not fail the
//! readers: the fill goes on streaming to them from its spool and keeps no copy.
//!
//! [`Policy::decide`]: crate::cache::freshness::Policy::decide

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::{header, HeaderMap, HeaderValue, Method, StatusCode};

use super::forward::{self, Upstreamed};
use super::upstream::Upstream;
use crate::cache::directives::{self, CacheControl};
use crate::cache::entry::{EntryMeta, FORMAT};
use crate::cache::fields;
use crate::cache::fill::{Fill, FillGuard, FillHead};
use crate::cache::freshness::{Decision, Timing};
use crate::cache::key::CacheKey;
use crate::cache::spool::{FileFailed, Sink, SpoolError};
use crate::cache::vary::{self, VaryFields};
use crate::http::body::next_batch;
use crate::http::replay::Replay;
use crate::http::representation::repr_digest_sha256;
use crate::storage::{BlobWriter, Hashing, StoreError};
use crate::support::hex::to_hex;
use crate::support::time::unix;

/// Largest write batch.
const BATCH: usize = 512 * 1024;

/// Why a fill failed, as told to logs, metrics and clients.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot reach the primary: {0}")]
    Connect(String),
    #[error("the primary did not answer within {0:?}")]
    HeaderTimeout(std::time::Duration),
    #[error("the primary answered {0} to an unconditional request")]
    Status(StatusCode),
    #[error("the primary sent a bad response: {0}")]
    BadResponse(String),
    #[error("the primary stalled for {0:?} mid-body")]
    Stalled(std::time::Duration),
    #[error("the primary's body broke off: {0}")]
    Body(String),
    #[error("the body is {got} bytes, the primary announced {want}")]
    Length { got: u64, want: u64 },
    #[error("the body does not match the primary's Repr-Digest")]
    Digest,
    #[error("the object exceeds the partner's maximum object size ({0} bytes)")]
    TooLarge(u64),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Spool(SpoolError),
}

impl From<SpoolError> for FetchError {
    fn from(e: SpoolError) -> Self {
        match e {
            SpoolError::Store(s) => FetchError::Store(s),
            other => FetchError::Spool(other),
        }
    }
}

impl FetchError {
    pub(super) fn reason(&self) -> &'static str {
        match self {
            FetchError::Connect(_) => "connect",
            FetchError::HeaderTimeout(_) => "timeout",
            FetchError::Status(_) => "status",
            FetchError::BadResponse(_) => "bad_response",
            FetchError::Stalled(_) => "stalled",
            FetchError::Body(_) => "body",
            FetchError::Length { .. } => "length",
            FetchError::Digest => "digest",
            FetchError::TooLarge(_) => "too_large",
            FetchError::Store(_) => "store",
            FetchError::Spool(_) => "spool",
        }
    }

    /// The status clients get when the fill fails before its head.
    pub(super) fn client_status(&self) -> StatusCode {
        match self {
            FetchError::HeaderTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            FetchError::Store(_) | FetchError::Spool(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

/// What a fill is for: the request that started it.
pub struct FillRequest {
    pub url: url::Url,
    pub system: String,
    /// The client's fields as the primary sees them ([`forward::view`]).
    pub fields: HeaderMap,
    /// Our `Via` line for the upstream request.
    pub via: Option<HeaderValue>,
    /// The request's `Cache-Control` (its `no-store` keeps the response from being stored).
    pub cache_control: CacheControl,
    /// The stored copy this fill revalidates (RFC 9111 §4.3), if any.
    pub stale: Option<Arc<EntryMeta>>,
    /// False when the store just failed to serve a copy: the fill passes through.
    pub try_store: bool,
}

/// Run the fill to its end.
pub async fn run(p: Arc<Upstream>, fill: Arc<Fill>, guard: FillGuard, r: FillRequest) {
    let started = Instant::now();
    p.metrics.fills_in_flight.inc();
    p.metrics.upstream_fetches.inc();
    let (url, system) = (&r.url, r.system.as_str());
    if r.stale.is_some() {
        tracing::debug!(url = %url, primary = system, "stale copy: conditional request sent to the primary");
    } else {
        crate::step!(11, "partner content server", url = %url, primary = system, "not stored locally: file retrieve request sent to the primary content server");
    }
    let result = fetch(&p, &fill, &r).await;
    p.metrics.fills_in_flight.dec();
    p.metrics
        .fill_duration
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok(outcome) => {
            tracing::info!(url = %url, system, outcome, ms = started.elapsed().as_millis() as u64, "fill finished");
        }
        Err(e) => {
            p.metrics
                .upstream_failures
                .with_label_values(&[e.reason()])
                .inc();
            tracing::warn!(url = %url, system, error = %e, "fill failed");
            fill.set_failed(e.client_status(), &e.to_string());
        }
    }
    drop(guard);
}

fn content_length(h: &HeaderMap) -> Result<Option<u64>, FetchError> {
    match h.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| FetchError::BadResponse("invalid Content-Length".into())),
    }
}

fn text(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// True for a status whose response never has content (RFC 9110 §6.4.1).
fn bodiless(status: StatusCode) -> bool {
    status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// What a fill learned of the primary's response head, for publishing.
struct Head {
    status: StatusCode,
    fields: Vec<(String, String)>,
    timing: Timing,
    lifetime: u64,
    initial_age: u64,
    keep_for: u64,
    no_cache: bool,
    vary: Vec<String>,
    secondary: String,
    etag: Option<String>,
    content_type: String,
    last_modified: Option<SystemTime>,
    file_name: Option<String>,
}

async fn fetch(p: &Upstream, fill: &Fill, r: &FillRequest) -> Result<&'static str, FetchError> {
    let url = &r.url;
    let request_time = SystemTime::now();
    let resp = forward::send(
        p,
        &Upstreamed {
            method: Method::GET,
            url,
            system: &r.system,
            fields: &r.fields,
            via: r.via.as_ref(),
            if_none_match: r.stale.as_ref().and_then(|m| m.field("etag")),
            if_modified_since: r.stale.as_ref().and_then(|m| m.field("last-modified")),
        },
    )
    .await?;
    let timing = Timing {
        request_time,
        response_time: SystemTime::now(),
    };
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        tracing::error!(url = %url, system = r.system, status = %status, "the primary refused our agreement credential");
        p.metrics
            .upstream_failures
            .with_label_values(&["status"])
            .inc();
    }
    if status == StatusCode::NOT_MODIFIED {
        return match &r.stale {
            Some(stale) => {
                super::revalidate::freshen(
                    p,
                    fill,
                    stale,
                    resp.headers(),
                    &r.cache_control,
                    &timing,
                )
                .await
            }
            None => Err(FetchError::Status(status)),
        };
    }
    let (parts, mut body) = resp.into_parts();
    let h = &parts.headers;
    let total = if bodiless(status) {
        Some(0)
    } else {
        content_length(h)?
    };
    let rules = p.rules.load_full();
    let max = rules.max_object_bytes;
    if total.is_some_and(|t| t > max) {
        return Err(FetchError::TooLarge(max));
    }
    let decision = rules
        .policy
        .decide(&Method::GET, status, &r.cache_control, h, &timing);
    let resp_cc = directives::parse(h);
    let stored = fields::to_store(h, &resp_cc);
    let vary_fields = vary::vary_fields(h);
    let (vary, secondary) = match &vary_fields {
        VaryFields::Fields(f) => (f.clone(), vary::secondary_key(f, &r.fields)),
        _ => (Vec::new(), String::new()),
    };
    let head = match decision {
        Decision::Keep {
            lifetime,
            initial_age,
            keep_for,
        } => Some(Head {
            status,
            fields: stored.clone(),
            timing,
            lifetime: lifetime.as_secs(),
            initial_age: initial_age.as_secs(),
            keep_for: keep_for.as_secs().max(1),
            no_cache: resp_cc.no_cache_unqualified(),
            vary: vary.clone(),
            secondary: secondary.clone(),
            etag: text(h, header::ETAG).filter(|e| !e.starts_with("W/")),
            content_type: text(h, header::CONTENT_TYPE)
                .unwrap_or_else(|| "application/octet-stream".into()),
            last_modified: h
                .get(header::LAST_MODIFIED)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| httpdate::parse_http_date(s).ok()),
            // Only a note in the sidecar: what is replayed is the primary's own field, as
            // it sent it (`stored`), `filename*` and all.
            file_name: crate::http::disposition::file_name_of(h),
        }),
        Decision::Pass(reason) => {
            tracing::debug!(url = %url, status = %status, reason, "response not kept");
            // A full answer to a revalidation replaces the stored copy; one we may not keep
            // leaves nothing behind (a 5xx leaves the stale copy alone).
            if r.stale.is_some() && !status.is_server_error() {
                p.index.remove(fill.key()).await;
            }
            None
        }
    };
    let keep = head.is_some();
    let expected = repr_digest_sha256(h);
    // The digest is computed only to check the primary's: a copy without one is checked by
    // its length alone, as nginx and Varnish do (hashing costs ~0.7 s of CPU per GiB).
    let hashing = if expected.is_some() {
        Hashing::Sha256
    } else {
        Hashing::Off
    };
    // The instance's id first: at start-up, a body of ours without its sidecar is a crash's
    // leftover (none of our fills can still be running), deleted at once.
    // 64 random bits are plenty within one URL's folder, and keep keys short (some S3
    // servers put the whole key in one file name).
    let random = uuid::Uuid::new_v4().simple().to_string();
    let version = format!("{}_{}", p.settings.instance_id, &random[..16]);
    let object = EntryMeta::object_key(fill.key().primary(), &version);
    // A copy we may not keep never touches the store: it only goes through the spool.
    let writer = if !keep {
        None
    } else if !r.try_store || p.health.resting() {
        tracing::debug!(url = %url, "the store rests after a failure: passing through");
        bypass(p, fill, url, "rest", None);
        None
    } else {
        match p.store.create(&object, hashing).await {
            Ok(w) => Some(w),
            Err(e) => {
                bypass(p, fill, url, "create", Some(&e));
                None
            }
        }
    };
    let mut sink = Sink::new(writer, &p.settings.spool_dir, hashing).await?;
    if sink.memory_from().is_some() {
        // Not even a spool: every byte goes through memory, to the clients this fill has.
        fill.continue_in_memory(0);
    }
    let initial_age = crate::cache::freshness::corrected_initial_age(h, &timing).as_secs();
    fill.set_ready(
        FillHead {
            replay: Arc::new(Replay::new(status.as_u16(), &stored, total, None, &p.via)),
            file: sink.readers(),
            keep,
            age: initial_age,
            vary: vary_fields,
            secondary,
            digest_checked: expected.is_some(),
        },
        total,
    );

    // Pipelined: the next batch is read from the primary while the previous one is written,
    // so the network and the disk (or S3) work at the same time.
    let idle = p.settings.idle_timeout;
    let mut next = tokio::time::timeout(idle, next_batch(&mut body, BATCH)).await;
    loop {
        let chunk = match next {
            Err(_) => return Err(FetchError::Stalled(p.settings.idle_timeout)),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(FetchError::Body(e.to_string())),
            Ok(Some(Ok(c))) => c,
        };
        let got = sink.len() + chunk.len() as u64;
        if let Some(want) = total {
            if got > want {
                return Err(FetchError::Length { got, want });
            }
        }
        if got > max {
            return Err(FetchError::TooLarge(max));
        }
        p.metrics.bytes_fetched.inc_by(chunk.len() as u64);
        let write = async {
            // Clients first, then the store: the bytes already here never wait for the store.
            let at = sink.len();
            if let Some(failed) = sink.append(&chunk).await? {
                file_failed(p, fill, url, failed);
            }
            if sink.memory_from().is_some() {
                fill.tail().push(at, chunk.clone(), idle).await;
            }
            fill.set_written(sink.len());
            sink.store(chunk).await
        };
        let read = tokio::time::timeout(idle, next_batch(&mut body, BATCH));
        let (stored, following) = tokio::join!(write, read);
        if let Some(e) = stored? {
            bypass(p, fill, url, "write", Some(&e));
        }
        next = following;
    }
    let len = sink.len();
    if let Some(want) = total {
        if len != want {
            return Err(FetchError::Length { got: len, want });
        }
    }
    let sha = sink.sha256();
    if expected.is_some() && sha != expected {
        return Err(FetchError::Digest);
    }
    fill.set_complete(len);
    if !keep {
        return Ok("passed through");
    }
    let (Some(writer), Some(head)) = (sink.into_writer(), head) else {
        return Ok("served without keeping a copy: the store failed");
    };
    if fill.is_cancelled() {
        return Ok("purged during fill, not kept");
    }
    let base = CacheKey::of(url);
    let key = if head.vary.is_empty() {
        base.clone()
    } else {
        base.with_secondary(&head.secondary)
    };
    let entry = Entry {
        url,
        system: &r.system,
        object,
        head,
        sha,
        version: &version,
    };
    match publish(p, writer, entry).await {
        Ok(meta) => {
            p.health.succeeded();
            if r.stale.is_some() {
                p.metrics
                    .cache_revalidations
                    .with_label_values(&["replaced"])
                    .inc();
            }
            p.index.set_vary(&base, &meta.vary).await;
            if key != *fill.key() && r.stale.is_some() {
                // The revalidated copy was stored under another variant: drop it.
                p.index.remove(fill.key()).await;
            }
            p.index.insert(&key, meta).await;
            undo_if_cancelled(p, fill, &key).await;
            Ok("stored")
        }
        // The clients already have the whole verified body: only the copy is lost.
        Err((op, e)) => {
            bypass(p, fill, url, op, Some(&e));
            Ok("served without keeping a copy: the store failed")
        }
    }
}

/// The clients' file failed (the disk is full): the rest of the body reaches the fill's
/// clients through memory, and new requests start fills of their own. The copy is lost
/// when that file was the store's.
fn file_failed(p: &Upstream, fill: &Fill, url: &url::Url, failed: FileFailed) {
    fill.continue_in_memory(failed.at);
    p.metrics.fills_in_memory.inc();
    match &failed.store {
        Some(e) => bypass(p, fill, url, "write", Some(e)),
        None => tracing::warn!(
            url = %url,
            at = failed.at,
            error = %failed.reason,
            "the spool failed: this fill goes on through memory"
        ),
    }
}

/// The store failed (`op`): the fill goes on for its clients without keeping a copy.
fn bypass(p: &Upstream, fill: &Fill, url: &url::Url, op: &str, error: Option<&StoreError>) {
    if let Some(e) = error {
        p.health.failed(op, e);
        tracing::warn!(url = %url, op, error = %e, "object store failed: the partner serves this file from the primary without caching it");
    }
    if !fill.is_bypassed() {
        fill.set_bypassed();
        p.metrics.store_bypassed_fills.inc();
    }
}

/// What the index will know of a stored copy.
struct Entry<'a> {
    url: &'a url::Url,
    system: &'a str,
    object: String,
    head: Head,
    /// The verified digest, when the primary sent one.
    sha: Option<[u8; 32]>,
    version: &'a str,
}

/// Finish the body and write its sidecar; on failure, the store operation and error.
async fn publish(
    p: &Upstream,
    writer: Box<dyn BlobWriter>,
    e: Entry<'_>,
) -> Result<Arc<EntryMeta>, (&'static str, StoreError)> {
    let written = writer.finish().await.map_err(|err| ("finish", err))?;
    let h = e.head;
    let response_time = unix(h.timing.response_time);
    let meta = EntryMeta {
        url: e.url.as_str().to_string(),
        system: e.system.to_string(),
        object: e.object,
        len: written.len,
        sha256: e.sha.as_ref().map(|s| to_hex(s)).unwrap_or_default(),
        content_type: h.content_type,
        // Without a strong ETag from the primary, the copy's own: its digest, or else the
        // id of this copy (a new fill is a new version). Served only when the primary sent
        // no validator at all.
        etag: h.etag.or_else(|| {
            let tag = e
                .sha
                .as_ref()
                .map_or_else(|| e.version.to_string(), |s| to_hex(s));
            Some(format!("\"{tag}\""))
        }),
        last_modified: h.last_modified.map(unix),
        file_name: h.file_name,
        stored_at: response_time,
        expires_at: response_time.saturating_add(h.keep_for),
        format: FORMAT,
        status: h.status.as_u16(),
        fields: h.fields,
        response_time,
        initial_age: h.initial_age,
        lifetime: h.lifetime,
        no_cache: h.no_cache,
        vary: h.vary,
        secondary: h.secondary,
        owner: p.settings.instance_id.clone(),
        derived: Default::default(),
    };
    let json =
        serde_json::to_vec(&meta).map_err(|err| ("put", StoreError::Task(err.to_string())))?;
    if let Err(err) = p.store.put_small(&meta.meta_key(), json.into()).await {
        let _ = p.store.delete(&meta.object).await;
        return Err(("put", err));
    }
    Ok(Arc::new(meta))
}

/// A purge that raced with publishing wins: the copy is dropped again.
async fn undo_if_cancelled(p: &Upstream, fill: &Fill, key: &CacheKey) {
    if fill.is_cancelled() {
        p.index.remove(key).await;
    }
}
