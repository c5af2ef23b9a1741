//! What a fill needs to bring a copy in from a primary: the outbound HTTP client and the
//! agreement credentials it presents, the store and the index the copy goes to, the store's
//! health, the partner's settings and metrics. One value, shared by the partner's serving
//! side and every fill it starts, so that `fetch` depends on exactly this and nothing else
//! of the partner.

use std::sync::Arc;

use crate::access::SharedAccess;
use crate::cache::Index;
use crate::http::client::HttpClient;
use crate::metrics::Metrics;
use crate::storage::{BlobStore, StoreHealth};

use super::PartnerSettings;

/// Everything on the way to and from the primary.
pub struct Upstream {
    pub settings: PartnerSettings,
    pub client: HttpClient,
    /// Agreement credentials by primary system (`Access::credential_for`).
    pub access: SharedAccess,
    /// The freshness policy and size limit of fills, replaced on reload.
    pub rules: arc_swap::ArcSwap<FillRules>,
    pub store: Arc<dyn BlobStore>,
    pub index: Index,
    pub health: StoreHealth,
    pub metrics: Metrics,
    /// Our `Via` entry, `1.1 <system id>` (RFC 9110 §7.6.3), on requests and responses.
    pub via: String,
}

impl Upstream {
    /// The agreement credential we present to the primary `system`.
    pub fn credential_for(&self, system: &str) -> Option<String> {
        self.access
            .load()
            .credential_for(system)
            .map(str::to_string)
    }
}

/// What decides whether and how long a fill's response is kept, and how big it may be.
#[derive(Debug, Clone)]
pub struct FillRules {
    pub policy: crate::cache::freshness::Policy,
    pub max_object_bytes: u64,
}
