//! The partner role (TS 23.282 7.5.2.4.3 steps 10-13, NOTE 4): a streaming caching reverse
//! proxy for files of primary systems we have an agreement with.
//!
//! A client asks for `<our URI>/<original URL>`; [`target`] checks and strips the prefix.
//! `serve` answers GET and HEAD: a fresh copy in the [`crate::cache::Index`] is a hit,
//! served from storage or the [`memory`] tier; otherwise the request joins the one fill for
//! that URL, or starts it ([`fetch`], which takes only the [`upstream::Upstream`]), and is
//! served from the fill's staging file (or spool) as the bytes arrive. When the store fails,
//! the fill still serves its clients, without keeping a copy. The owning primary may purge a
//! copy (`purge`).

pub mod fetch;
pub mod forward;
pub mod memory;
mod purge;
pub mod revalidate;
mod serve;
pub mod target;
pub mod upstream;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response};
use hyper::body::Incoming;

use crate::access::SharedAccess;
use crate::cache::freshness::Policy;
use crate::cache::{Fills, Index};
use crate::http::body::Body;
use crate::http::client::HttpClient;
use crate::http::error::ApiError;
use crate::metrics::Metrics;
use crate::storage::{BlobStore, StoreHealth};
use serve::CacheCounters;
use target::Allowlist;
use upstream::Upstream;

/// Settings of the partner role.
#[derive(Debug, Clone)]
pub struct PartnerSettings {
    pub system_id: String,
    pub policy: Policy,
    pub max_object_bytes: u64,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// Where fills spool for their clients when the store has no read handle.
    pub spool_dir: PathBuf,
    /// After a store failure, how long fills pass through without trying the store.
    pub store_retry_after: Duration,
    /// Budget of the [`memory`] tier for small copies hit recently; 0 disables it.
    pub memory_bytes: u64,
    /// Largest copy the memory tier holds.
    pub memory_max_object_bytes: u64,
    /// This instance's id among the instances on one store: the owner of the copies it
    /// stores.
    pub instance_id: String,
    /// The other instances of this system (base URIs): a purge received here is forwarded
    /// to them at once (the bucket's tombstone reaches them within a second anyway).
    pub instances: Vec<String>,
}

/// The partner content server.
pub struct Partner {
    allow: arc_swap::ArcSwap<Allowlist>,
    access: SharedAccess,
    upstream: Arc<Upstream>,
    fills: Fills,
    memory: memory::MemoryTier,
    counters: CacheCounters,
}

/// The methods of a partner URL: retrieve (GET, HEAD) and purge (DELETE); the `Allow` of
/// its 405 (RFC 9110 §15.5.6).
const PREFIXED: &[Method] = &[Method::GET, Method::HEAD, Method::DELETE];

impl Partner {
    /// Build the partner role.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: PartnerSettings,
        allow: Allowlist,
        access: SharedAccess,
        index: Index,
        store: Arc<dyn BlobStore>,
        client: HttpClient,
        metrics: Metrics,
    ) -> Self {
        let memory =
            memory::MemoryTier::new(settings.memory_bytes, settings.memory_max_object_bytes);
        let counters = CacheCounters::new(&metrics);
        let upstream = Upstream {
            via: format!("1.1 {}", settings.system_id),
            rules: arc_swap::ArcSwap::from_pointee(upstream::FillRules {
                policy: settings.policy,
                max_object_bytes: settings.max_object_bytes,
            }),
            health: StoreHealth::new(settings.store_retry_after, metrics.clone()),
            settings,
            client,
            access: access.clone(),
            store,
            index,
            metrics,
        };
        Partner {
            allow: arc_swap::ArcSwap::from_pointee(allow),
            access,
            upstream: Arc::new(upstream),
            fills: Fills::default(),
            memory,
            counters,
        }
    }

    /// Use `allow` (the peers' origins), `rules` (freshness policy and size limit) for new
    /// requests and fills; the fills running keep what they started with.
    pub fn reload(&self, allow: Allowlist, rules: upstream::FillRules) {
        self.allow.store(Arc::new(allow));
        self.upstream.rules.store(Arc::new(rules));
    }

    /// Why the partner's store is not usable now (it rests after a failure), if it is not.
    pub fn store_trouble(&self) -> Option<String> {
        self.upstream.health.resting().then(|| {
            "the store failed recently (a full disk, say): new fills pass through without keeping a copy".to_string()
        })
    }

    /// Wait until no fill runs, at most `grace`; true when none does.
    pub async fn fills_done(&self, grace: Duration) -> bool {
        let end = tokio::time::Instant::now() + grace;
        while !self.fills.is_empty() {
            if tokio::time::Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Answer a request whose path is a prefixed URL.
    pub async fn handle(
        self: &Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, ApiError> {
        let url = target::parse_prefixed(req.uri().path(), req.uri().query())?;
        let system = self.allow.load().system_for(&url)?.to_string();
        // Forwarding loops (RFC 9110 §7.6.3): a request that already went through us, or
        // a target that is itself a peer's partner URL.
        let own = self.upstream.via.trim_start_matches("1.1 ");
        if crate::cache::fields::via_names(req.headers(), own) {
            return Err(ApiError::LoopDetected(format!(
                "the request already went through {own} (Via)"
            )));
        }
        if target::is_partner_prefixed(&url) {
            return Err(ApiError::Forbidden(format!(
                "{url} is itself a partner URL of system {system}: nested partner URLs are refused"
            )));
        }
        match *req.method() {
            Method::GET | Method::HEAD => self.serve(req, url, system).await,
            Method::DELETE => self.purge(&req, &url, &system).await,
            ref m => Err(ApiError::method_not_allowed(m, "a partner URL", PREFIXED)),
        }
    }
}
