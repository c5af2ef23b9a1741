//! The index of kept copies: a moka cache from cache key to [`EntryMeta`], with a
//! per-entry expiry (the entry's own `expires_at`) and a byte budget (weigher in KiB).
//! Whatever leaves the index — expired, evicted, purged, replaced — has its body and
//! sidecar deleted from storage by the eviction listener, so storage follows the index.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::Expiry;

use super::entry::{unix, EntryMeta};
use crate::metrics::Metrics;
use crate::storage::BlobStore;

/// The index of the partner cache.
#[derive(Clone)]
pub struct Index {
    cache: Cache<String, Arc<EntryMeta>>,
    store: Arc<dyn BlobStore>,
    metrics: Metrics,
}

struct ByEntryExpiry;

fn remaining(meta: &EntryMeta) -> Duration {
    Duration::from_secs(meta.expires_at.saturating_sub(unix(SystemTime::now())))
}

impl Expiry<String, Arc<EntryMeta>> for ByEntryExpiry {
    fn expire_after_create(
        &self,
        _k: &String,
        v: &Arc<EntryMeta>,
        _at: Instant,
    ) -> Option<Duration> {
        Some(remaining(v))
    }
    fn expire_after_update(
        &self,
        _k: &String,
        v: &Arc<EntryMeta>,
        _at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(remaining(v))
    }
}

/// What a start-up rebuild found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoadReport {
    pub loaded: usize,
    pub expired: usize,
    pub orphans: usize,
}

fn weight_kib(len: u64) -> u32 {
    u32::try_from(len / 1024 + 1).unwrap_or(u32::MAX)
}

impl Index {
    /// An empty index holding at most `max_bytes` of bodies.
    pub fn new(store: Arc<dyn BlobStore>, max_bytes: u64, metrics: Metrics) -> Self {
        let (s, m) = (store.clone(), metrics.clone());
        let listener = move |_k: Arc<String>, v: Arc<EntryMeta>, cause: RemovalCause| {
            let cause_name = match cause {
                RemovalCause::Expired => "expired",
                RemovalCause::Size => "evicted",
                RemovalCause::Explicit => "purged",
                RemovalCause::Replaced => "replaced",
            };
            m.cache_removals.with_label_values(&[cause_name]).inc();
            m.stored_bytes.sub(v.len as i64);
            m.stored_entries.dec();
            let (s, m) = (s.clone(), m.clone());
            // Versions have unique object keys, so deleting the old one never touches a
            // newer copy of the same URL.
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    for key in [v.object.clone(), v.meta_key()] {
                        if let Err(e) = s.delete(&key).await {
                            m.store_errors.with_label_values(&["delete"]).inc();
                            tracing::warn!(key, error = %e, "could not delete a removed cache object");
                        }
                    }
                    tracing::debug!(url = %v.url, cause = cause_name, "cache entry removed");
                });
            }
        };
        let cache = Cache::builder()
            .max_capacity((max_bytes / 1024).max(1))
            .weigher(|_k: &String, v: &Arc<EntryMeta>| weight_kib(v.len))
            .expire_after(ByEntryExpiry)
            .eviction_listener(listener)
            .build();
        Index {
            cache,
            store,
            metrics,
        }
    }

    /// The fresh entry for `key`, if any.
    pub async fn get(&self, key: &str) -> Option<Arc<EntryMeta>> {
        let meta = self.cache.get(key).await?;
        if meta.expired(SystemTime::now()) {
            self.cache.invalidate(key).await;
            return None;
        }
        Some(meta)
    }

    /// Add (or replace) the entry for `key`.
    pub async fn insert(&self, key: String, meta: Arc<EntryMeta>) {
        self.metrics.stored_bytes.add(meta.len as i64);
        self.metrics.stored_entries.inc();
        self.cache.insert(key, meta).await;
        self.cache.run_pending_tasks().await;
    }

    /// Drop the entry for `key` (its objects are deleted); true if there was one.
    pub async fn remove(&self, key: &str) -> bool {
        self.cache.remove(key).await.is_some()
    }

    /// Apply pending expirations and evictions now.
    pub async fn maintain(&self) {
        self.cache.run_pending_tasks().await;
    }

    /// Number of entries (after pending maintenance).
    pub async fn len(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }

    /// True when the index holds no entry.
    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }

    /// Rebuild from the sidecars in storage: expired copies and bodies without a sidecar
    /// are deleted; of several versions of one URL the newest is kept.
    pub async fn load(&self) -> Result<LoadReport, crate::storage::StoreError> {
        let keys: HashSet<String> = self.store.list("cache").await?.into_iter().collect();
        let mut report = LoadReport::default();
        let mut newest: HashMap<String, Arc<EntryMeta>> = HashMap::new();
        let mut bodies = Vec::new();
        let now = SystemTime::now();
        for key in &keys {
            if key.ends_with(".body") {
                bodies.push(key.clone());
                continue;
            }
            if !key.ends_with(".meta") {
                continue;
            }
            let parsed = match self.store.get_small(key).await? {
                Some(b) => serde_json::from_slice::<EntryMeta>(&b).ok(),
                None => None,
            };
            let Some(meta) = parsed else {
                tracing::warn!(key, "unreadable cache sidecar, deleting it");
                self.store.delete(key).await?;
                report.orphans += 1;
                continue;
            };
            let cache_key = super::entry::key_of_url(&meta.url);
            if meta.expired(now) || !keys.contains(&meta.object) {
                self.delete_entry_objects(&meta).await?;
                report.expired += 1;
                continue;
            }
            let meta = Arc::new(meta);
            match newest.get(&cache_key) {
                Some(old) if old.stored_at >= meta.stored_at => {
                    self.delete_entry_objects(&meta).await?
                }
                Some(old) => {
                    self.delete_entry_objects(old).await?;
                    newest.insert(cache_key, meta);
                }
                None => {
                    newest.insert(cache_key, meta);
                }
            }
        }
        let kept: HashSet<&str> = newest.values().map(|m| m.object.as_str()).collect();
        for body in &bodies {
            if !kept.contains(body.as_str()) && !keys.contains(&super::entry::meta_key_of(body)) {
                self.store.delete(body).await?;
                report.orphans += 1;
            }
        }
        for (k, meta) in newest {
            self.insert(k, meta).await;
            report.loaded += 1;
        }
        Ok(report)
    }

    async fn delete_entry_objects(
        &self,
        meta: &EntryMeta,
    ) -> Result<(), crate::storage::StoreError> {
        self.store.delete(&meta.object).await?;
        self.store.delete(&meta.meta_key()).await
    }

    /// Run expirations and evictions every `every`, so storage is freed without traffic.
    pub fn spawn_maintenance(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                me.maintain().await;
            }
        })
    }
}
