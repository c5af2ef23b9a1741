//! The index of kept copies: a moka cache from cache key to [`EntryMeta`], with a
//! per-entry expiry (the entry's own `expires_at`) and a byte budget (weigher in KiB).
//! Whatever leaves the index — expired, evicted, purged, replaced — has its body and
//! sidecar deleted from storage by the eviction listener, so storage follows the index and
//! the byte budget holds on S3 as on local disk; but a copy another instance on the same
//! store owns is deleted only when it expires (its owner decides the rest). Copies another
//! instance published are found on a miss ([`Index::adopt`]); purge tombstones
//! (`cache::shared`) hide every copy received before them.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::Expiry;

use futures_util::StreamExt;

use super::entry::EntryMeta;
use super::key::CacheKey;
use crate::metrics::Metrics;
use crate::storage::{BlobStore, StoreError};
use crate::support::time::unix;

/// How old a body without sidecar (or a sidecar without body) must be before a start-up
/// deletes it: longer than any fill takes to publish (S3 dates a multipart upload from its
/// start), so that another instance's fill in progress is never taken for a leftover.
pub const INCOMPLETE_GRACE: Duration = Duration::from_secs(3600);

/// Sidecars read at the same time at start-up.
const LOAD_CONCURRENCY: usize = 16;

/// The index of the partner cache.
#[derive(Clone)]
pub struct Index {
    cache: Cache<String, Arc<EntryMeta>>,
    /// The `Vary` fields of each URL (by primary key) whose latest stored response had
    /// one: which secondary key a request must be looked up under (RFC 9111 §4.1).
    vary: Cache<String, Arc<Vec<String>>>,
    /// Set once any URL's response had `Vary`: until then lookups skip the markers.
    any_vary: Arc<AtomicBool>,
    /// This instance's id: the owner of the copies it stores.
    instance: Arc<str>,
    /// Purges known here (from tombstones), by primary key: when they were received.
    purged: Arc<std::sync::RwLock<HashMap<String, u64>>>,
    /// Set once a purge is known: until then a hit takes no lock for it.
    any_purge: Arc<AtomicBool>,
    store: Arc<dyn BlobStore>,
    metrics: Metrics,
}

/// URLs whose `Vary` fields are remembered at most.
const VARY_MARKERS: u64 = 100_000;

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
    pub fn new(
        store: Arc<dyn BlobStore>,
        max_bytes: u64,
        metrics: Metrics,
        instance: &str,
    ) -> Self {
        let (s, m) = (store.clone(), metrics.clone());
        let instance: Arc<str> = Arc::from(instance);
        let me = instance.clone();
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
            // Replaced by a newer sidecar of the same body (revalidated): keep the objects.
            if v.is_refreshed() {
                return;
            }
            // Another instance's copy: its owner evicts or replaces it; only its expiry is
            // the same for everyone.
            if !v.owner.is_empty() && *v.owner != *me && cause != RemovalCause::Expired {
                return;
            }
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
            vary: Cache::new(VARY_MARKERS),
            any_vary: Arc::new(AtomicBool::new(false)),
            instance,
            purged: Arc::new(std::sync::RwLock::new(HashMap::new())),
            any_purge: Arc::new(AtomicBool::new(false)),
            store,
            metrics,
        }
    }

    /// The kept entry for `key`, if any (not expired, not purged since it was received).
    pub async fn get(&self, key: &CacheKey) -> Option<Arc<EntryMeta>> {
        let k = key.as_str();
        let meta = self.cache.get(k).await?;
        if meta.expired(SystemTime::now()) || self.is_purged(key, &meta) {
            self.cache.invalidate(k).await;
            return None;
        }
        Some(meta)
    }

    /// True when a purge of the URL arrived after the second `meta`'s response was received.
    fn is_purged(&self, key: &CacheKey, meta: &EntryMeta) -> bool {
        if !self.any_purge.load(Ordering::Relaxed) {
            return false;
        }
        self.purged
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key.primary())
            // Whole seconds: a copy received in the second of the purge is kept, so that a
            // fill right after a purge is not hidden (the primary removes a file before it
            // purges, so such a copy is of the primary's answer after the removal).
            .is_some_and(|at| *at > meta.response_time)
    }

    /// A purge of the URL with primary key `primary` was received at `at` (here or by
    /// another instance): copies received before it are never served again. True when it
    /// is news.
    pub fn note_purge(&self, primary: &str, at: u64) -> bool {
        let mut map = self.purged.write().unwrap_or_else(|p| p.into_inner());
        match map.get(primary) {
            Some(known) if *known >= at => false,
            _ => {
                map.insert(primary.to_string(), at);
                self.any_purge.store(true, Ordering::Relaxed);
                true
            }
        }
    }

    /// This instance's id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// A copy of `url` another instance published, for a request whose fields (as the
    /// primary would see them) are `view`: found in the bucket, indexed here (not owned),
    /// and returned with its key. One listing of the URL's folder.
    pub async fn adopt(
        &self,
        base: &CacheKey,
        url: &str,
        view: &http::HeaderMap,
    ) -> Option<(CacheKey, Arc<EntryMeta>)> {
        let found = match super::shared::published(self.store.as_ref(), base, url).await {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(url, error = %e, "cannot look for a published copy");
                return None;
            }
        };
        let best = found
            .into_iter()
            .filter(|m| {
                m.vary.is_empty() || super::vary::secondary_key(&m.vary, view) == m.secondary
            })
            .filter(|m| !self.is_purged(base, m))
            .max_by_key(|m| m.response_time)?;
        let key = if best.vary.is_empty() {
            base.clone()
        } else {
            base.with_secondary(&best.secondary)
        };
        if !best.vary.is_empty() {
            self.set_vary(base, &best.vary).await;
        }
        let meta = Arc::new(best);
        self.insert(&key, meta.clone()).await;
        Some((key, meta))
    }

    /// Add (or replace) the entry for `key`.
    pub async fn insert(&self, key: &CacheKey, meta: Arc<EntryMeta>) {
        self.metrics.stored_bytes.add(meta.len as i64);
        self.metrics.stored_entries.inc();
        self.cache.insert(key.as_str().to_string(), meta).await;
        self.cache.run_pending_tasks().await;
    }

    /// Replace the entry for `key` by `meta`, a newer sidecar of the same body (after a
    /// revalidation): the body stays.
    pub async fn refresh(&self, key: &CacheKey, old: &EntryMeta, meta: Arc<EntryMeta>) {
        old.mark_refreshed();
        self.insert(key, meta).await;
    }

    /// The `Vary` fields under which the responses of the URL with primary key `primary`
    /// are stored, if its latest stored response had any.
    pub async fn vary_of(&self, primary: &CacheKey) -> Option<Arc<Vec<String>>> {
        if !self.any_vary.load(Ordering::Relaxed) {
            return None;
        }
        self.vary.get(primary.primary()).await
    }

    /// Remember (non-empty `fields`) or forget the `Vary` fields of a URL.
    pub async fn set_vary(&self, primary: &CacheKey, fields: &[String]) {
        if fields.is_empty() {
            if self.any_vary.load(Ordering::Relaxed) {
                self.vary.invalidate(primary.primary()).await;
            }
        } else {
            self.any_vary.store(true, Ordering::Relaxed);
            self.vary
                .insert(primary.primary().to_string(), Arc::new(fields.to_vec()))
                .await;
        }
    }

    /// Drop every entry of `url`, all its variants (their objects are deleted); the
    /// entries dropped.
    pub async fn remove_url(&self, url: &str) -> Vec<Arc<EntryMeta>> {
        let keys: Vec<Arc<String>> = self
            .cache
            .iter()
            .filter(|(_, v)| v.url == url)
            .map(|(k, _)| k)
            .collect();
        let mut removed = Vec::new();
        for k in keys {
            if let Some(meta) = self.cache.remove(k.as_str()).await {
                removed.push(meta);
            }
        }
        removed
    }

    /// Drop the entry for `key` (its objects are deleted); true if there was one.
    pub async fn remove(&self, key: &CacheKey) -> bool {
        self.cache.remove(key.as_str()).await.is_some()
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

    /// Rebuild from the sidecars in storage (a listing, then the sidecars read a few at a
    /// time). Expired copies are deleted. Of several live versions of one URL the newest is
    /// indexed and the others are left alone: on a bucket shared by several instances they
    /// may be another instance's live entries (they are deleted once expired). A body
    /// without its sidecar, or a sidecar without its body, is deleted only when older than
    /// [`INCOMPLETE_GRACE`]: younger, it may be another instance's fill being published.
    pub async fn load(&self) -> Result<LoadReport, StoreError> {
        for (primary, t) in super::shared::tombstones(self.store.as_ref()).await? {
            self.note_purge(&primary, t.at);
        }
        let listed = self.store.list("cache").await?;
        let now = SystemTime::now();
        let old = |modified: SystemTime| {
            now.duration_since(modified)
                .is_ok_and(|age| age >= INCOMPLETE_GRACE)
        };
        let keys: HashMap<String, SystemTime> =
            listed.into_iter().map(|l| (l.key, l.modified)).collect();
        let sidecars: Vec<String> = keys
            .keys()
            .filter(|k| k.ends_with(".meta"))
            .cloned()
            .collect();
        let store = self.store.clone();
        let read: Vec<(String, Result<Option<bytes::Bytes>, StoreError>)> =
            futures_util::stream::iter(sidecars)
                .map(|k| {
                    let store = store.clone();
                    async move {
                        let got = store.get_small(&k).await;
                        (k, got)
                    }
                })
                .buffer_unordered(LOAD_CONCURRENCY)
                .collect()
                .await;
        let mut report = LoadReport::default();
        let mut newest: HashMap<CacheKey, Arc<EntryMeta>> = HashMap::new();
        let mut described: HashSet<String> = HashSet::new();
        for (key, got) in read {
            let parsed = match got? {
                Some(b) => serde_json::from_slice::<EntryMeta>(&b)
                    .ok()
                    .map(EntryMeta::upgrade),
                // Deleted since the listing (another instance expired it).
                None => continue,
            };
            let modified = keys.get(&key).copied().unwrap_or(now);
            let Some(meta) = parsed else {
                if old(modified) {
                    tracing::warn!(key, "unreadable cache sidecar, deleting it");
                    self.store.delete(&key).await?;
                    report.orphans += 1;
                }
                continue;
            };
            described.insert(meta.object.clone());
            if meta.expired(now) {
                self.delete_entry_objects(&meta).await?;
                report.expired += 1;
                continue;
            }
            if !keys.contains_key(&meta.object) {
                if old(modified) {
                    self.store.delete(&key).await?;
                    report.orphans += 1;
                }
                continue;
            }
            let Some(base) = CacheKey::of_stored_url(&meta.url) else {
                tracing::warn!(
                    key,
                    url = meta.url,
                    "cache sidecar without a valid URL, skipping it"
                );
                continue;
            };
            let cache_key = if meta.vary.is_empty() {
                base
            } else {
                base.with_secondary(&meta.secondary)
            };
            if self.is_purged(&cache_key, &meta) {
                self.delete_entry_objects(&meta).await?;
                report.expired += 1;
                continue;
            }
            // Another instance's live copy: its owner indexes it; a miss here adopts it.
            if !meta.owner.is_empty() && *meta.owner != *self.instance {
                continue;
            }
            let meta = Arc::new(meta);
            match newest.get(&cache_key) {
                Some(kept) if kept.stored_at >= meta.stored_at => {}
                _ => {
                    newest.insert(cache_key, meta);
                }
            }
        }
        let mine = |body: &str| {
            body.rsplit('/')
                .next()
                .is_some_and(|name| name.starts_with(&format!("{}_", self.instance)))
        };
        for (body, modified) in &keys {
            if body.ends_with(".body")
                && !described.contains(body)
                && (old(*modified) || mine(body))
            {
                self.store.delete(body).await?;
                report.orphans += 1;
            }
        }
        for (k, meta) in newest {
            if !meta.vary.is_empty() {
                self.set_vary(&k, &meta.vary).await;
            }
            self.insert(&k, meta).await;
            report.loaded += 1;
        }
        Ok(report)
    }

    async fn delete_entry_objects(&self, meta: &EntryMeta) -> Result<(), StoreError> {
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
