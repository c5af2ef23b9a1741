//! Freshening a stored copy with a 304 (RFC 9111 §4.3.3, §4.3.4, §3.2): the primary
//! confirmed that the copy we hold is current, so its stored header fields are updated
//! from the 304, its age and lifetime start again from this response, and the new sidecar
//! replaces the old one — without moving the body again (a 1 GiB copy past the local
//! `cache-max-ttl` costs one small request). Every client of the revalidation is then
//! served from the freshened copy.

use std::sync::Arc;

use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use super::fetch::FetchError;
use super::upstream::Upstream;
use crate::cache::directives::{self, CacheControl};
use crate::cache::entry::{EntryMeta, FORMAT};
use crate::cache::fields;
use crate::cache::fill::Fill;
use crate::cache::freshness::{Decision, Timing};
use crate::storage::StoreError;
use crate::support::time::unix;

/// The stored fields as a `HeaderMap` (lines that are not valid are skipped).
pub fn header_map(stored: &[(String, String)]) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(stored.len());
    for (name, value) in stored {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.append(n, v);
        }
    }
    h
}

/// The 304 `not_modified` answered the conditional request for `stale`: freshen it and
/// serve every client of `fill` from it.
pub async fn freshen(
    p: &Upstream,
    fill: &Fill,
    stale: &Arc<EntryMeta>,
    not_modified: &HeaderMap,
    request_cc: &CacheControl,
    timing: &Timing,
) -> Result<&'static str, FetchError> {
    let merged = fields::merge_304(&stale.fields, not_modified);
    let merged_map = header_map(&merged);
    let status = StatusCode::from_u16(stale.status).unwrap_or(StatusCode::OK);
    let response_time = unix(timing.response_time);
    let mut meta = EntryMeta {
        fields: merged,
        response_time,
        format: FORMAT,
        derived: Default::default(),
        ..(**stale).clone()
    };
    match p
        .rules
        .load()
        .policy
        .decide(&Method::GET, status, request_cc, &merged_map, timing)
    {
        Decision::Keep {
            lifetime,
            initial_age,
            keep_for,
        } => {
            meta.lifetime = lifetime.as_secs();
            meta.initial_age = initial_age.as_secs();
            meta.expires_at = response_time.saturating_add(keep_for.as_secs().max(1));
            meta.no_cache = directives::parse(&merged_map).no_cache_unqualified();
            if let Some(e) = merged_map
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .filter(|e| !e.starts_with("W/"))
            {
                meta.etag = Some(e.to_string());
            }
        }
        // The freshened response may no longer be kept: it answers these clients, and the
        // index lets it go as soon as they are served.
        Decision::Pass(reason) => {
            tracing::debug!(url = meta.url, reason, "revalidated copy no longer kept");
            meta.lifetime = 0;
            meta.initial_age = 0;
            meta.expires_at = response_time.saturating_add(1);
        }
    }
    let meta = Arc::new(meta);
    if !fill.is_cancelled() {
        let saved = match serde_json::to_vec(&*meta) {
            Ok(json) => p.store.put_small(&meta.meta_key(), json.into()).await,
            Err(e) => Err(StoreError::Task(e.to_string())),
        };
        match saved {
            Ok(()) => p.index.refresh(fill.key(), stale, meta.clone()).await,
            // The clients still get the confirmed copy; the next request revalidates again.
            Err(e) => {
                p.health.failed("put", &e);
                tracing::warn!(url = meta.url, error = %e, "could not save a revalidated copy's sidecar");
            }
        }
    }
    p.metrics
        .cache_revalidations
        .with_label_values(&["not_modified"])
        .inc();
    fill.set_revalidated(meta);
    Ok("revalidated: not modified")
}
