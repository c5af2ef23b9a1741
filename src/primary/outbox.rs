//! What the primary's two outboxes share (purges to partners, removal notices to the own
//! MCData server): a job is a small JSON object in the store, written before its first
//! try, deleted once delivered, and read back at start-up; retries back off exponentially.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::metrics::Metrics;
use crate::storage::{BlobStore, StoreError};

/// A job kept in the store until it is delivered.
pub trait Job: Serialize + DeserializeOwned {
    /// Its object key, under the outbox's prefix.
    fn key(&self) -> String;
}

/// Persist `job`; on failure it is still tried in memory (logged and counted).
pub async fn save<J: Job>(store: &dyn BlobStore, metrics: &Metrics, job: &J) {
    let json = serde_json::to_vec(job).unwrap_or_default();
    let key = job.key();
    if let Err(e) = store.put_small(&key, json.into()).await {
        metrics.store_errors.with_label_values(&["put"]).inc();
        tracing::error!(key, error = %e, "could not persist an outbox job; it is still tried in memory");
    }
}

/// Drop a delivered job from the store.
pub async fn forget<J: Job>(store: &dyn BlobStore, job: &J) {
    if let Err(e) = store.delete(&job.key()).await {
        tracing::warn!(key = job.key(), error = %e, "could not delete a delivered outbox job");
    }
}

/// The jobs a previous run left under `prefix` (unreadable ones are logged and skipped).
pub async fn load<J: Job>(store: &dyn BlobStore, prefix: &str) -> Result<Vec<J>, StoreError> {
    let mut jobs = Vec::new();
    for listed in store.list(prefix).await? {
        let Some(b) = store.get_small(&listed.key).await? else {
            continue;
        };
        match serde_json::from_slice::<J>(&b) {
            Ok(job) => jobs.push(job),
            Err(e) => {
                tracing::error!(key = listed.key, error = %e, "unreadable outbox job left in storage")
            }
        }
    }
    Ok(jobs)
}

/// The wait after the `attempts`-th failed try (1-based): `first`, doubling, at most `max`.
pub fn backoff(first: Duration, attempts: u32, max: Duration) -> Duration {
    first
        .saturating_mul(2u32.saturating_pow(attempts.clamp(1, 16) - 1))
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        let waits: Vec<_> = (1..=8).map(|a| backoff(s(1), a, s(60))).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60].map(s));
        assert_eq!(backoff(s(1), 0, s(60)), s(1));
        assert_eq!(backoff(s(1), u32::MAX, s(300)), s(300));
    }
}
