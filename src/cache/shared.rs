//! The bucket as the state partner instances of one system share (several instances on one
//! `s3://` prefix): every stored version of a URL lives under one folder of its primary key,
//! so that a purge received by any instance deletes them all and a miss on any instance
//! can find a copy another one published; and a purge leaves a short-lived tombstone,
//! `purged/<primary key>.json`, that every instance applies (its index and memory tier) when
//! it polls, and at start-up, to anything received before it.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::entry::EntryMeta;
use super::key::CacheKey;
use crate::storage::{BlobStore, StoreError};
use crate::support::time::unix;

/// How long a tombstone is kept: longer than any fill that could still publish a copy
/// fetched before the purge.
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(3600);

/// A purge of `url` received at `at` (Unix seconds).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tombstone {
    pub url: String,
    pub at: u64,
}

fn tombstone_key(primary: &str) -> String {
    format!("purged/{primary}.json")
}

/// Leave a tombstone for the URL with primary key `key`.
pub async fn write_tombstone(
    store: &dyn BlobStore,
    key: &CacheKey,
    url: &str,
) -> Result<Tombstone, StoreError> {
    let t = Tombstone {
        url: url.to_string(),
        at: unix(SystemTime::now()),
    };
    let json = serde_json::to_vec(&t).map_err(|e| StoreError::Task(e.to_string()))?;
    store
        .put_small(&tombstone_key(key.primary()), json.into())
        .await?;
    Ok(t)
}

/// The live tombstones, by primary key; older ones are deleted on the way.
pub async fn tombstones(store: &dyn BlobStore) -> Result<Vec<(String, Tombstone)>, StoreError> {
    let now = unix(SystemTime::now());
    let mut out = Vec::new();
    for listed in store.list("purged").await? {
        let Some(primary) = listed
            .key
            .strip_prefix("purged/")
            .and_then(|k| k.strip_suffix(".json"))
        else {
            continue;
        };
        let Some(b) = store.get_small(&listed.key).await? else {
            continue;
        };
        match serde_json::from_slice::<Tombstone>(&b) {
            Ok(t) if now.saturating_sub(t.at) > TOMBSTONE_TTL.as_secs() => {
                store.delete(&listed.key).await?;
            }
            Ok(t) => out.push((primary.to_string(), t)),
            Err(e) => tracing::warn!(key = listed.key, error = %e, "unreadable purge tombstone"),
        }
    }
    Ok(out)
}

/// Delete every stored version (bodies and sidecars, all variants) of the URL with primary
/// key `key`, whichever instance wrote them; how many objects.
pub async fn delete_all_versions(
    store: &dyn BlobStore,
    key: &CacheKey,
) -> Result<usize, StoreError> {
    let listed = store.list(&EntryMeta::dir_of(key.primary())).await?;
    for l in &listed {
        store.delete(&l.key).await?;
    }
    Ok(listed.len())
}

/// The published copies of `url` (its primary key `key`): sidecars under its folder whose
/// body exists and which are still kept.
pub async fn published(
    store: &dyn BlobStore,
    key: &CacheKey,
    url: &str,
) -> Result<Vec<EntryMeta>, StoreError> {
    let listed = store.list(&EntryMeta::dir_of(key.primary())).await?;
    let bodies: Vec<&str> = listed
        .iter()
        .filter(|l| l.key.ends_with(".body"))
        .map(|l| l.key.as_str())
        .collect();
    let now = SystemTime::now();
    let mut out = Vec::new();
    for l in listed.iter().filter(|l| l.key.ends_with(".meta")) {
        let Some(b) = store.get_small(&l.key).await? else {
            continue;
        };
        let Ok(meta) = serde_json::from_slice::<EntryMeta>(&b).map(EntryMeta::upgrade) else {
            continue;
        };
        if meta.url == url && !meta.expired(now) && bodies.contains(&meta.object.as_str()) {
            out.push(meta);
        }
    }
    Ok(out)
}
