//! Whether the store works, as its users see it: every failure counts in
//! `mcdata_store_errors_total{op}` and raises `mcdata_store_degraded`; the store then rests
//! for a while (its users go on without it, e.g. the partner passes fills through) instead
//! of making every request wait for retries against a dead server. The first success
//! after the rest clears the gauge.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::StoreError;
use crate::metrics::Metrics;
use crate::support::time::unix_millis_now;

/// The health of one store.
pub struct StoreHealth {
    /// Unix milliseconds until which the store is not tried; 0 when it is up.
    down_until_ms: AtomicU64,
    retry_after: Duration,
    metrics: Metrics,
}

impl StoreHealth {
    /// After a failure the store is left alone for `retry_after`.
    pub fn new(retry_after: Duration, metrics: Metrics) -> Self {
        StoreHealth {
            down_until_ms: AtomicU64::new(0),
            retry_after,
            metrics,
        }
    }

    /// Operation `op` failed with `error` (a missing object is not a failure).
    pub fn failed(&self, op: &str, error: &StoreError) {
        if matches!(error, StoreError::NotFound(_)) {
            return;
        }
        self.metrics.store_errors.with_label_values(&[op]).inc();
        self.metrics.store_degraded.set(1);
        let rest = u64::try_from(self.retry_after.as_millis()).unwrap_or(u64::MAX);
        self.down_until_ms
            .store(unix_millis_now().saturating_add(rest), Ordering::SeqCst);
    }

    /// An operation succeeded: the store is up.
    pub fn succeeded(&self) {
        self.metrics.store_degraded.set(0);
        self.down_until_ms.store(0, Ordering::SeqCst);
    }

    /// True while the store rests after a failure: do not try it.
    pub fn resting(&self) -> bool {
        unix_millis_now() < self.down_until_ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fails_rests_and_recovers() {
        let m = Metrics::new().unwrap();
        let h = StoreHealth::new(Duration::from_secs(60), m.clone());
        assert!(!h.resting());
        h.failed("open", &StoreError::NotFound("x".into()));
        assert!(!h.resting(), "a missing object is not a store failure");
        h.failed("write", &StoreError::Task("boom".into()));
        assert!(h.resting());
        assert_eq!(m.store_degraded.get(), 1);
        assert_eq!(m.store_errors.with_label_values(&["write"]).get(), 1);
        h.succeeded();
        assert!(!h.resting());
        assert_eq!(m.store_degraded.get(), 0);
        let quick = StoreHealth::new(Duration::ZERO, m);
        quick.failed("put", &StoreError::Task("boom".into()));
        assert!(!quick.resting(), "no rest configured");
    }
}
