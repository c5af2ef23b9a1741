//! Driving one fill: the file retrieve request to the primary (step 11), streaming the
//! response into a staging object (or the fill's spool, see `cache::spool`) while clients
//! read it, verifying it (length, and the `Repr-Digest` sha-256 when the primary sends
//! one), and publishing it to the index only when it is complete. A failure of the primary
//! removes the staging object and fails every reader. A failure of the store does not fail
//! the readers: the fill goes on streaming to them from its spool and keeps no copy.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{header, HeaderMap, Request, StatusCode};
use http_body_util::Empty;
use hyper::body::Incoming;

use super::upstream::Upstream;
use crate::cache::entry::EntryMeta;
use crate::cache::fill::{Fill, FillGuard, FillHead};
use crate::cache::freshness::Storability;
use crate::cache::key::CacheKey;
use crate::cache::spool::{Sink, SpoolError};
use crate::http::body::next_batch;
use crate::http::client::USER_AGENT;
use crate::http::representation::{repr_digest_sha256, Representation};
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
    #[error("the primary answered {0}")]
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
    fn reason(&self) -> &'static str {
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
    fn client_status(&self) -> StatusCode {
        match self {
            FetchError::HeaderTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            FetchError::Status(s) if *s == StatusCode::NOT_FOUND || *s == StatusCode::GONE => *s,
            FetchError::Store(_) | FetchError::Spool(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

/// Run the fill for `url` of primary `system` to its end; `try_store` false when the store
/// just failed to serve a copy (the fill then passes through without trying it).
pub async fn run(
    p: Arc<Upstream>,
    fill: Arc<Fill>,
    guard: FillGuard,
    url: url::Url,
    system: String,
    try_store: bool,
) {
    let started = Instant::now();
    p.metrics.fills_in_flight.inc();
    p.metrics.upstream_fetches.inc();
    crate::step!(11, "partner content server", url = %url, primary = system, "not stored locally: file retrieve request sent to the primary content server");
    let result = fetch(&p, &fill, &url, &system, try_store).await;
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
            if let FetchError::Status(s) = &e {
                if *s == StatusCode::UNAUTHORIZED || *s == StatusCode::FORBIDDEN {
                    tracing::error!(url = %url, system, status = %s, "the primary refused our agreement credential");
                }
            }
            tracing::warn!(url = %url, system, error = %e, "fill failed");
            fill.set_failed(e.client_status(), &e.to_string());
        }
    }
    drop(guard);
}

async fn request(
    p: &Upstream,
    url: &url::Url,
    system: &str,
) -> Result<http::Response<Incoming>, FetchError> {
    let mut req = Request::get(url.as_str())
        .header(header::USER_AGENT, USER_AGENT)
        .header(header::ACCEPT_ENCODING, "identity")
        .header("x-mcdata-system", p.settings.system_id.as_str());
    if let Some(cred) = p.credential_for(system) {
        req = req.header(header::AUTHORIZATION, format!("Bearer {cred}"));
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    match tokio::time::timeout(p.settings.header_timeout, p.client.request(req)).await {
        Err(_) => Err(FetchError::HeaderTimeout(p.settings.header_timeout)),
        Ok(Err(e)) => Err(FetchError::Connect(crate::support::error_chain::chain(&e))),
        Ok(Ok(resp)) => Ok(resp),
    }
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

fn file_name(h: &HeaderMap) -> Option<String> {
    let cd = text(h, header::CONTENT_DISPOSITION)?;
    let (_, rest) = cd.split_once("filename=")?;
    Some(rest.trim().trim_matches('"').to_string()).filter(|n| !n.is_empty())
}

async fn fetch(
    p: &Upstream,
    fill: &Fill,
    url: &url::Url,
    system: &str,
    try_store: bool,
) -> Result<&'static str, FetchError> {
    let resp = request(p, url, system).await?;
    if resp.status() != StatusCode::OK {
        return Err(FetchError::Status(resp.status()));
    }
    let (parts, mut body) = resp.into_parts();
    let h = &parts.headers;
    let total = content_length(h)?;
    let max = p.settings.max_object_bytes;
    if total.is_some_and(|t| t > max) {
        return Err(FetchError::TooLarge(max));
    }
    let now = SystemTime::now();
    let storability = p.settings.policy.decide(h, now);
    let expected = repr_digest_sha256(h);
    // The digest is computed only to check the primary's: a copy without one is checked by
    // its length alone, as nginx and Varnish do (hashing costs ~0.7 s of CPU per GiB).
    let hashing = if expected.is_some() {
        Hashing::Sha256
    } else {
        Hashing::Off
    };
    let key = fill.key().clone();
    let version = uuid::Uuid::new_v4().to_string();
    let object = EntryMeta::object_key(key.as_str(), &version);
    let (keep, expires) = match storability {
        Storability::Keep { ttl } => (true, Some(now + ttl)),
        Storability::Pass(_) => (false, None),
    };
    // A copy we may not keep never touches the store: it only goes through the spool.
    let writer = if !keep {
        None
    } else if !try_store || p.health.resting() {
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
    let rep = Representation {
        len: total,
        content_type: text(h, header::CONTENT_TYPE)
            .unwrap_or_else(|| "application/octet-stream".into()),
        etag: text(h, header::ETAG).filter(|e| !e.starts_with("W/")),
        last_modified: h
            .get(header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| httpdate::parse_http_date(s).ok()),
        expires,
        sha256: expected,
        file_name: file_name(h),
        no_store: !keep,
    };
    fill.set_ready(
        FillHead {
            rep: rep.clone(),
            file: sink.readers(),
            keep,
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
            sink.append(&chunk).await?;
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
    let Some(writer) = sink.into_writer() else {
        return Ok("served without keeping a copy: the store failed");
    };
    if fill.is_cancelled() {
        return Ok("purged during fill, not kept");
    }
    let entry = Entry {
        key: &key,
        url,
        system,
        object,
        rep: &rep,
        sha,
        version: &version,
        now,
    };
    match publish(p, writer, entry).await {
        Ok(()) => {
            p.health.succeeded();
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
    key: &'a CacheKey,
    url: &'a url::Url,
    system: &'a str,
    object: String,
    rep: &'a Representation,
    /// The verified digest, when the primary sent one.
    sha: Option<[u8; 32]>,
    version: &'a str,
    now: SystemTime,
}

/// Finish the body, write its sidecar, index it; on failure, the store operation and error.
async fn publish(
    p: &Upstream,
    writer: Box<dyn BlobWriter>,
    e: Entry<'_>,
) -> Result<(), (&'static str, StoreError)> {
    let written = writer.finish().await.map_err(|err| ("finish", err))?;
    let meta = EntryMeta {
        url: e.url.as_str().to_string(),
        system: e.system.to_string(),
        object: e.object,
        len: written.len,
        sha256: e.sha.as_ref().map(|s| to_hex(s)).unwrap_or_default(),
        content_type: e.rep.content_type.clone(),
        // Without a strong ETag from the primary, the copy's own: its digest, or else the
        // id of this copy (a new fill is a new version).
        etag: e.rep.etag.clone().or_else(|| {
            let tag = e
                .sha
                .as_ref()
                .map_or_else(|| e.version.to_string(), |s| to_hex(s));
            Some(format!("\"{tag}\""))
        }),
        last_modified: e.rep.last_modified.map(unix),
        file_name: e.rep.file_name.clone(),
        stored_at: unix(e.now),
        expires_at: e.rep.expires.map(unix).unwrap_or(0),
    };
    let json =
        serde_json::to_vec(&meta).map_err(|err| ("put", StoreError::Task(err.to_string())))?;
    if let Err(err) = p.store.put_small(&meta.meta_key(), json.into()).await {
        let _ = p.store.delete(&meta.object).await;
        return Err(("put", err));
    }
    p.index.insert(e.key, Arc::new(meta)).await;
    Ok(())
}

/// A purge that raced with publishing wins: the copy is dropped again.
async fn undo_if_cancelled(p: &Upstream, fill: &Fill, key: &CacheKey) {
    if fill.is_cancelled() {
        p.index.remove(key).await;
    }
}
