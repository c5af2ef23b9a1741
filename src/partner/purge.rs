//! `DELETE /<original URL>` from the primary that owns the file: every stored response of
//! that URL (all its variants, and fills running for them) is dropped, the memory tier
//! included; a 404 or 410 copy as much as a 200. When several instances of this system
//! share the store, the purge closes everywhere: every version of the URL in the bucket is
//! deleted, whichever instance wrote it; a tombstone (`cache::shared`) is left that every
//! instance applies within a second ([`Partner::spawn_tombstones`]) and at start-up; and
//! the purge is forwarded at once to the `instances` configured.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;

use super::Partner;
use crate::access::{AccessError, Caller};
use crate::cache::{shared, CacheKey};
use crate::http::body::{self, Body};
use crate::http::error::ApiError;

/// Marks a purge forwarded by another instance of this system (not forwarded again).
const FORWARDED: &str = "x-mcdata-forwarded-purge";

impl Partner {
    /// `DELETE /<original URL>` from the primary that owns the file: drop every copy.
    pub(super) async fn purge(
        &self,
        req: &Request<Incoming>,
        url: &url::Url,
        system: &str,
    ) -> Result<Response<Body>, ApiError> {
        match self.access.load_full().identify(req.headers()).await? {
            Caller::Peer(p) if p == system => {}
            Caller::Anonymous => return Err(AccessError::Missing.into()),
            _ => {
                return Err(ApiError::Forbidden(format!(
                    "only the primary system {system} that owns this file may purge it"
                )))
            }
        }
        let key = CacheKey::of(url);
        let up = &self.upstream;
        let forwarded = req.headers().contains_key(FORWARDED);
        let mut dropped_here = self.drop_local(&key, url.as_str()).await;
        if !forwarded {
            // The bucket: every version of the URL, and a tombstone for the other instances.
            match shared::write_tombstone(up.store.as_ref(), &key, url.as_str()).await {
                Ok(t) => {
                    up.index.note_purge(key.primary(), t.at);
                }
                Err(e) => {
                    tracing::warn!(url = %url, error = %e, "could not leave a purge tombstone")
                }
            }
            match shared::delete_all_versions(up.store.as_ref(), &key).await {
                Ok(n) => dropped_here |= n > 0,
                Err(e) => {
                    tracing::warn!(url = %url, error = %e, "could not delete every stored version")
                }
            }
            self.forward_purge(req, url);
        }
        let result = if dropped_here { "dropped" } else { "absent" };
        up.metrics
            .purges_received
            .with_label_values(&[result])
            .inc();
        tracing::info!(url = %url, system, result, forwarded, "purge from primary");
        Ok(body::json(
            http::StatusCode::OK,
            &serde_json::json!({"url": url.as_str(), "purged": dropped_here}),
        ))
    }

    /// Drop what this instance holds of `url`: fills, index entries, memory tier. True when
    /// there was something.
    async fn drop_local(&self, key: &CacheKey, url: &str) -> bool {
        let cancelled = self.fills.cancel_url(key);
        let dropped = self.upstream.index.remove_url(url).await;
        for meta in &dropped {
            self.memory.remove(&meta.object).await;
        }
        cancelled || !dropped.is_empty()
    }

    /// Send the purge to the other instances of this system, once each (the tombstone is
    /// the durable part: an instance that misses this applies it within a second).
    fn forward_purge(&self, req: &Request<Incoming>, url: &url::Url) {
        let Some(auth) = req.headers().get(header::AUTHORIZATION).cloned() else {
            return;
        };
        for base in &self.upstream.settings.instances {
            let target = format!("{}/{}", base.trim_end_matches('/'), url.as_str());
            let up = self.upstream.clone();
            let auth = auth.clone();
            tokio::spawn(async move {
                let req = Request::delete(&target)
                    .header(header::AUTHORIZATION, auth)
                    .header(FORWARDED, HeaderValue::from_static("1"))
                    .body(Empty::<Bytes>::new());
                let Ok(req) = req else { return };
                match tokio::time::timeout(Duration::from_secs(10), up.client.request(req)).await {
                    Ok(Ok(r)) if r.status().is_success() => {
                        tracing::debug!(target, "purge forwarded")
                    }
                    Ok(Ok(r)) => {
                        tracing::warn!(target, status = %r.status(), "forwarded purge refused")
                    }
                    Ok(Err(e)) => tracing::warn!(target, error = %e, "could not forward a purge"),
                    Err(_) => tracing::warn!(target, "forwarded purge timed out"),
                }
            });
        }
    }

    /// Apply the purges other instances received: every `every`, the bucket's tombstones
    /// not yet known here drop the URL's copies from this instance (index, memory tier,
    /// fills); tombstones past their time are deleted.
    pub fn spawn_tombstones(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                me.apply_tombstones().await;
            }
        })
    }

    async fn apply_tombstones(&self) {
        let up = &self.upstream;
        let found = match shared::tombstones(up.store.as_ref()).await {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read purge tombstones");
                return;
            }
        };
        for (primary, t) in found {
            if up.index.note_purge(&primary, t.at) {
                if let Ok(u) = url::Url::parse(&t.url) {
                    let key = CacheKey::of(&u);
                    if key.primary() == primary && self.drop_local(&key, &t.url).await {
                        tracing::info!(url = t.url, "purge received by another instance applied");
                    }
                }
            }
        }
    }
}
