//! The memory tier of the partner cache: whole bodies of small, recently hit copies, so
//! that a hit on them costs no file open and no read on a blocking thread.
//!
//! It is keyed by the copy's object key, which is unique per stored version, so it needs
//! no invalidation to stay correct: a purged, expired, evicted or replaced copy is no
//! longer reachable from the [`crate::cache::Index`] (which is always asked first), and its
//! bytes here just age out. A purge also drops them at once. The tier only holds bytes
//! that were read back from a published (complete and verified) body.

use std::sync::Arc;

use bytes::Bytes;
use moka::future::Cache;

/// Default budget of the memory tier (`cache-memory-bytes`).
pub const DEFAULT_MEMORY_BYTES: u64 = 64 * 1024 * 1024;
/// Default largest copy held in memory (`cache-memory-max-object-bytes`).
pub const DEFAULT_MEMORY_MAX_OBJECT_BYTES: u64 = 1024 * 1024;

/// A copy's body held in memory (its head is the entry's, formatted once there).
pub struct MemoryCopy {
    pub body: Bytes,
}

/// Bodies of at most `max_object` bytes, `budget` bytes in all (least recently used out).
#[derive(Clone)]
pub struct MemoryTier {
    cache: Option<Cache<String, Arc<MemoryCopy>>>,
    max_object: u64,
}

impl MemoryTier {
    /// A tier of `budget` bytes holding objects of at most `max_object` bytes; a budget or
    /// maximum of 0 disables it.
    pub fn new(budget: u64, max_object: u64) -> Self {
        let max_object = max_object.min(budget);
        let cache = (max_object > 0).then(|| {
            Cache::builder()
                .max_capacity(budget)
                .weigher(|k: &String, v: &Arc<MemoryCopy>| {
                    u32::try_from(v.body.len() + k.len() + 1024).unwrap_or(u32::MAX)
                })
                .build()
        });
        MemoryTier { cache, max_object }
    }

    /// True when an object of `len` bytes belongs in the tier.
    pub fn admits(&self, len: u64) -> bool {
        self.cache.is_some() && len <= self.max_object
    }

    /// The copy of `object`, if held.
    pub async fn get(&self, object: &str) -> Option<Arc<MemoryCopy>> {
        self.cache.as_ref()?.get(object).await
    }

    /// Hold the copy of `object` (when it fits); returns it either way.
    pub async fn insert(&self, object: &str, copy: MemoryCopy) -> Arc<MemoryCopy> {
        let copy = Arc::new(copy);
        if let Some(c) = &self.cache {
            if self.admits(copy.body.len() as u64) {
                c.insert(object.to_string(), copy.clone()).await;
            }
        }
        copy
    }

    /// Drop the body of `object`.
    pub async fn remove(&self, object: &str) {
        if let Some(c) = &self.cache {
            c.invalidate(object).await;
        }
    }

    /// Bytes held (after pending maintenance), for tests.
    pub async fn weighted_size(&self) -> u64 {
        match &self.cache {
            Some(c) => {
                c.run_pending_tasks().await;
                c.weighted_size()
            }
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(body: impl Into<Bytes>) -> MemoryCopy {
        MemoryCopy { body: body.into() }
    }

    #[tokio::test]
    async fn admits_small_objects_within_budget() {
        let t = MemoryTier::new(4096, 1024);
        assert!(t.admits(1024));
        assert!(!t.admits(1025));
        t.insert("a", copy(&b"hello"[..])).await;
        t.insert("big", copy(vec![0u8; 2000])).await;
        assert_eq!(t.get("a").await.unwrap().body, Bytes::from_static(b"hello"));
        assert!(t.get("big").await.is_none(), "over max_object is not held");
        t.remove("a").await;
        assert!(t.get("a").await.is_none());
    }

    #[tokio::test]
    async fn zero_budget_disables() {
        let t = MemoryTier::new(0, 1024);
        assert!(!t.admits(1));
        t.insert("a", copy(&b"x"[..])).await;
        assert!(t.get("a").await.is_none());
        assert_eq!(t.weighted_size().await, 0);
    }

    #[tokio::test]
    async fn budget_evicts() {
        let t = MemoryTier::new(10_000, 2000);
        for i in 0..10 {
            t.insert(&format!("k{i}"), copy(vec![0u8; 900])).await;
        }
        assert!(t.weighted_size().await <= 10_000);
    }
}
