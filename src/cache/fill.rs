//! Fills: bringing one object from a primary into the cache while serving it.
//!
//! There is at most one fill per cache key ([`Fills`]). Every client that asks for the key
//! while it runs — the first one and all that join later — reads the same staging file as
//! the bytes land, following the fill's [`Growth`]; nobody waits for the whole body. A fill
//! goes through explicit states: its head is `Connecting`, then `Ready` (headers known),
//! `Revalidated` (a 304 freshened the stored copy) or `Refused`; its body is `Growing`, then `Complete` or `Failed`. The registration in
//! [`Fills`] is removed by a guard, so a fill that ends in any way — including a panic —
//! frees its key for the next request.
//!
//! When the file fails mid-fill (the disk is full), the rest of the body reaches the
//! fill's clients through its [`MemoryTail`] and the fill is *detached*: it finishes for
//! the clients it has, keeps no copy, and the next request starts a fill of its own.

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use http::StatusCode;
use tokio::sync::watch;

use super::entry::EntryMeta;
use super::key::CacheKey;
use super::vary::VaryFields;
use crate::http::replay::Replay;
use crate::storage::{Growth, MemoryTail};

/// The response head of a fill, once the primary has answered.
#[derive(Debug)]
pub struct FillHead {
    /// The primary's status and fields, replayed to every client of the fill.
    pub replay: Arc<Replay>,
    /// The staging file or spool, read positionally by every client of the fill; none
    /// when not even a spool could be made (the whole body then goes through the fill's
    /// memory tail).
    pub file: Option<Arc<File>>,
    /// Whether the copy will be kept (false for `no-store` and friends: pass-through).
    pub keep: bool,
    /// Seconds: the response's age when it arrived (RFC 9111 §4.2.3).
    pub age: u64,
    /// The response's `Vary` (RFC 9111 §4.1) and the secondary key, under those fields, of
    /// the request the fill was made for: a client whose own secondary key differs must
    /// not be served from this fill.
    pub vary: VaryFields,
    pub secondary: String,
    /// The primary sent a `Repr-Digest`: the verdict checks the body against it, so a
    /// response that does not end with the body (a range) waits for the verdict.
    pub digest_checked: bool,
}

/// Why a fill produced no body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status to answer clients with.
    pub status: StatusCode,
    pub reason: String,
}

/// The head state of a fill.
#[derive(Debug, Clone)]
pub enum HeadState {
    /// Waiting for the primary's response headers.
    Connecting,
    /// Headers received; the body is streaming into the staging file.
    Ready(Arc<FillHead>),
    /// The primary could not be reached or answered without a body to serve.
    Refused(Arc<Refusal>),
    /// A revalidation: the primary answered 304 and the stored copy, freshened, is this
    /// entry (RFC 9111 §4.3.4); clients are served from it.
    Revalidated(Arc<EntryMeta>),
}

/// One running fill.
pub struct Fill {
    key: CacheKey,
    head: watch::Sender<HeadState>,
    growth: watch::Sender<Growth>,
    cancelled: AtomicBool,
    bypassed: AtomicBool,
    detached: AtomicBool,
    tail: Arc<MemoryTail>,
    /// The id of the request that started the fill (0: unknown), for the logs.
    leader: std::sync::atomic::AtomicU64,
}

impl Fill {
    fn new(key: CacheKey) -> Self {
        Fill {
            key,
            head: watch::Sender::new(HeadState::Connecting),
            growth: watch::Sender::new(Growth::Growing {
                written: 0,
                total: None,
            }),
            cancelled: AtomicBool::new(false),
            bypassed: AtomicBool::new(false),
            detached: AtomicBool::new(false),
            tail: Arc::default(),
            leader: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The cache key this fill is for.
    pub fn key(&self) -> &CacheKey {
        &self.key
    }

    /// Wait until the head is known (ready or refused).
    pub async fn head(&self) -> HeadState {
        let mut rx = self.head.subscribe();
        let result = match rx.wait_for(|h| !matches!(h, HeadState::Connecting)).await {
            Ok(h) => h.clone(),
            Err(_) => HeadState::Refused(Arc::new(Refusal {
                status: StatusCode::BAD_GATEWAY,
                reason: "the fill ended before the primary answered".into(),
            })),
        };
        result
    }

    /// Follow the body's progress.
    pub fn growth(&self) -> watch::Receiver<Growth> {
        self.growth.subscribe()
    }

    /// Publish the head; the body starts growing with `total` bytes announced (if known).
    pub fn set_ready(&self, head: FillHead, total: Option<u64>) {
        self.growth
            .send_replace(Growth::Growing { written: 0, total });
        self.head.send_replace(HeadState::Ready(Arc::new(head)));
    }

    /// The stored copy was revalidated and freshened: `meta` answers every client.
    pub fn set_revalidated(&self, meta: Arc<EntryMeta>) {
        self.growth.send_replace(Growth::Complete { len: meta.len });
        self.head.send_replace(HeadState::Revalidated(meta));
    }

    /// The primary gave no body to serve.
    pub fn set_refused(&self, status: StatusCode, reason: impl Into<String>) {
        self.head.send_replace(HeadState::Refused(Arc::new(Refusal {
            status,
            reason: reason.into(),
        })));
    }

    /// `written` bytes are now readable in the staging file.
    pub fn set_written(&self, written: u64) {
        self.growth.send_modify(|g| {
            if let Growth::Growing { written: w, .. } = g {
                *w = written;
            }
        });
    }

    /// The body is complete and verified.
    pub fn set_complete(&self, len: u64) {
        self.growth.send_replace(Growth::Complete { len });
    }

    /// The fill failed: every reader ends with an error, and clients still waiting for the
    /// head get `status`.
    pub fn set_failed(&self, status: StatusCode, reason: &str) {
        self.growth.send_replace(Growth::Failed(reason.into()));
        if matches!(*self.head.borrow(), HeadState::Connecting) {
            self.set_refused(status, reason);
        }
    }

    /// Mark the fill as purged: its body must not be kept.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// True when a purge arrived during the fill.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// The store failed: the fill goes on for its clients but keeps no copy.
    pub fn set_bypassed(&self) {
        self.bypassed.store(true, Ordering::SeqCst);
    }

    /// True when the fill serves its clients without keeping a copy because of the store.
    pub fn is_bypassed(&self) -> bool {
        self.bypassed.load(Ordering::SeqCst)
    }

    /// The id of the request that started the fill, as the access log shows it.
    pub fn set_leader(&self, request: u64) {
        self.leader.store(request, Ordering::Relaxed);
    }

    /// The id of the request that started the fill, once set.
    pub fn leader(&self) -> Option<u64> {
        Some(self.leader.load(Ordering::Relaxed)).filter(|id| *id != 0)
    }

    /// Where the body goes once its file failed.
    pub fn tail(&self) -> &Arc<MemoryTail> {
        &self.tail
    }

    /// The file failed at byte `at`: the rest goes through the memory tail, to the clients
    /// the fill has; new requests start a fill of their own.
    pub fn continue_in_memory(&self, at: u64) {
        self.tail.switch(at);
        self.detached.store(true, Ordering::SeqCst);
    }

    /// True once the fill no longer takes new clients.
    pub fn is_detached(&self) -> bool {
        self.detached.load(Ordering::SeqCst)
    }
}

/// The registry of running fills, one per cache key.
#[derive(Default, Clone)]
pub struct Fills {
    inflight: Arc<Mutex<HashMap<String, Arc<Fill>>>>,
}

/// Whether the caller started the fill or joined one already running.
pub enum Joined {
    /// A new fill: the caller must drive it, keeping the guard alive until it ends.
    Started(Arc<Fill>, FillGuard),
    /// A fill already running.
    Joined(Arc<Fill>),
}

/// Removes a fill from the registry when dropped (however the fill ended).
pub struct FillGuard {
    fills: Fills,
    fill: Arc<Fill>,
}

impl Drop for FillGuard {
    fn drop(&mut self) {
        self.fills.remove_if_same(&self.fill);
        // A fill dropped without a verdict fails its readers instead of leaving them waiting.
        let unfinished = matches!(*self.fill.growth.borrow(), Growth::Growing { .. });
        if unfinished {
            self.fill
                .set_failed(StatusCode::BAD_GATEWAY, "the fill was abandoned");
        }
    }
}

impl Fills {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Fill>>> {
        // A poisoned lock only means another thread panicked while holding it; the map
        // itself is always consistent (single inserts and removes).
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Join the fill running for `key`, or register a new one.
    pub fn join_or_start(&self, key: &CacheKey) -> Joined {
        let mut map = self.lock();
        if let Some(f) = map.get(key.as_str()).filter(|f| !f.is_detached()) {
            return Joined::Joined(f.clone());
        }
        let fill = Arc::new(Fill::new(key.clone()));
        map.insert(key.as_str().to_string(), fill.clone());
        Joined::Started(
            fill.clone(),
            FillGuard {
                fills: self.clone(),
                fill,
            },
        )
    }

    /// Purge: the running fill for `key` (if any) will not be kept, and new requests start
    /// a new fill. True if one was running.
    pub fn cancel(&self, key: &CacheKey) -> bool {
        match self.lock().remove(key.as_str()) {
            Some(f) => {
                f.cancel();
                true
            }
            None => false,
        }
    }

    /// True when a fill runs for `key`.
    pub fn is_running(&self, key: &CacheKey) -> bool {
        self.lock().contains_key(key.as_str())
    }

    /// Purge every variant of a URL: [`Fills::cancel`] for each fill whose key has the
    /// primary part `primary` (RFC 9111 §4.1: one URL, several stored responses). True if
    /// one was running.
    pub fn cancel_url(&self, primary: &CacheKey) -> bool {
        let mut map = self.lock();
        let keys: Vec<String> = map
            .iter()
            .filter(|(_, f)| f.key().primary() == primary.primary())
            .map(|(k, _)| k.clone())
            .collect();
        for k in &keys {
            if let Some(f) = map.remove(k) {
                f.cancel();
            }
        }
        !keys.is_empty()
    }

    /// Number of fills running.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no fill runs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn remove_if_same(&self, fill: &Arc<Fill>) {
        let mut map = self.lock();
        let key = fill.key().as_str();
        if map.get(key).is_some_and(|f| Arc::ptr_eq(f, fill)) {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k() -> CacheKey {
        CacheKey::of(&url::Url::parse("http://h/k").unwrap())
    }

    #[tokio::test]
    async fn one_fill_per_key_and_guard_frees_it() {
        let fills = Fills::default();
        let Joined::Started(f1, guard) = fills.join_or_start(&k()) else {
            panic!("first must start")
        };
        let Joined::Joined(f2) = fills.join_or_start(&k()) else {
            panic!("second must join")
        };
        assert!(Arc::ptr_eq(&f1, &f2));
        let mut g = f1.growth();
        drop(guard);
        assert!(fills.is_empty());
        assert!(matches!(*g.borrow_and_update(), Growth::Failed(_)));
        assert!(matches!(f1.head().await, HeadState::Refused(_)));
        assert!(matches!(fills.join_or_start(&k()), Joined::Started(..)));
    }

    #[tokio::test]
    async fn cancel_detaches_the_running_fill() {
        let fills = Fills::default();
        let Joined::Started(f1, _guard) = fills.join_or_start(&k()) else {
            panic!()
        };
        assert!(fills.cancel(&k()));
        assert!(f1.is_cancelled());
        let Joined::Started(f2, _g2) = fills.join_or_start(&k()) else {
            panic!("new fill after purge")
        };
        assert!(!Arc::ptr_eq(&f1, &f2));
    }

    #[tokio::test]
    async fn a_fill_in_memory_takes_no_new_clients() {
        let fills = Fills::default();
        let Joined::Started(f1, g1) = fills.join_or_start(&k()) else {
            panic!()
        };
        f1.continue_in_memory(10);
        assert_eq!(f1.tail().file_len(), Some(10));
        let Joined::Started(f2, _g2) = fills.join_or_start(&k()) else {
            panic!("a detached fill is not joined")
        };
        assert!(!Arc::ptr_eq(&f1, &f2));
        drop(g1);
        assert!(
            fills.is_running(&k()),
            "the old fill's end leaves the new one alone"
        );
    }
}
