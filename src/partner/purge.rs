//! `DELETE /<original URL>` from the primary that owns the file: every stored response of
//! that URL (all its variants, and fills running for them) is dropped here, the memory tier
//! included; a 404 or 410 copy as much as a 200.

use http::{Request, Response};
use hyper::body::Incoming;

use super::Partner;
use crate::access::{AccessError, Caller};
use crate::cache::CacheKey;
use crate::http::body::{self, Body};
use crate::http::error::ApiError;

impl Partner {
    /// `DELETE /<original URL>` from the primary that owns the file: drop our copy.
    pub(super) async fn purge(
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
        let key = CacheKey::of(url);
        let up = &self.upstream;
        // Every stored response of the URL: all its variants (RFC 9111 §4.1).
        let cancelled = self.fills.cancel_url(&key);
        let dropped = up.index.remove_url(url.as_str()).await;
        for meta in &dropped {
            self.memory.remove(&meta.object).await;
        }
        let removed = !dropped.is_empty();
        let result = if removed || cancelled {
            "dropped"
        } else {
            "absent"
        };
        up.metrics
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
