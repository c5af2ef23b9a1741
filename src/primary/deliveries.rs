//! Delivery records (TS 23.282 7.5.2.4.3 step 12): for each file, which partner systems
//! retrieved it, first and last time, how many times. Kept in storage so that they survive
//! restarts, and conflict-free when several instances of one system share a bucket: each
//! instance writes only its own object per (file, partner system),
//! `deliveries/<file id>/<hex system id>.<instance id>.json`, so no update of one instance
//! can overwrite another's, and the set of systems to purge is a listing that can never
//! lose a member on any S3. A record is the merge of those objects (counts added, the
//! earliest first and the latest last), plus the single `deliveries/<file id>.json` that
//! earlier versions wrote.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::storage::{BlobStore, StoreError};
use crate::support::hex::to_hex;
use crate::support::time::unix;

/// Retrieves by one partner system.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SystemDeliveries {
    /// Unix seconds of the first and the last successful retrieve.
    pub first: u64,
    pub last: u64,
    pub count: u64,
}

impl SystemDeliveries {
    fn merge(&mut self, other: &SystemDeliveries) {
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        self.count += other.count;
    }
}

/// The delivery record of one file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub file_id: String,
    pub systems: BTreeMap<String, SystemDeliveries>,
}

/// One instance's retrieves of one file by one system.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Share {
    system: String,
    #[serde(flatten)]
    deliveries: SystemDeliveries,
}

/// The store of delivery records.
pub struct Deliveries {
    store: Arc<dyn BlobStore>,
    /// Names this instance's objects.
    instance: String,
    write: tokio::sync::Mutex<()>,
}

fn legacy_key(file_id: &str) -> String {
    format!("deliveries/{file_id}.json")
}

fn folder(file_id: &str) -> String {
    format!("deliveries/{file_id}")
}

impl Deliveries {
    /// Records written by instance `instance` (unique among the instances on one bucket).
    pub fn new(store: Arc<dyn BlobStore>, instance: &str) -> Self {
        Deliveries {
            store,
            instance: instance.to_string(),
            write: tokio::sync::Mutex::new(()),
        }
    }

    fn share_key(&self, file_id: &str, system: &str) -> String {
        format!(
            "{}/{}.{}.json",
            folder(file_id),
            to_hex(system.as_bytes()),
            self.instance
        )
    }

    /// The record of `file_id` (empty when nothing was delivered).
    pub async fn get(&self, file_id: &str) -> Result<DeliveryRecord, StoreError> {
        let mut rec = match self.store.get_small(&legacy_key(file_id)).await? {
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| StoreError::Task(format!("corrupt delivery record {file_id}: {e}")))?,
            None => DeliveryRecord {
                file_id: file_id.to_string(),
                ..Default::default()
            },
        };
        for listed in self.store.list(&folder(file_id)).await? {
            let Some(b) = self.store.get_small(&listed.key).await? else {
                continue;
            };
            let share: Share = match serde_json::from_slice(&b) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(key = listed.key, error = %e, "unreadable delivery record");
                    continue;
                }
            };
            rec.systems
                .entry(share.system)
                .and_modify(|d| d.merge(&share.deliveries))
                .or_insert(share.deliveries);
        }
        Ok(rec)
    }

    /// Record one successful retrieve of `file_id` by `system` (in this instance's object).
    pub async fn record(&self, file_id: &str, system: &str) -> Result<(), StoreError> {
        let _serial = self.write.lock().await;
        let key = self.share_key(file_id, system);
        let now = unix(SystemTime::now());
        let mut share = match self.store.get_small(&key).await? {
            Some(b) => serde_json::from_slice::<Share>(&b)
                .map_err(|e| StoreError::Task(format!("corrupt delivery record {key}: {e}")))?,
            None => Share {
                system: system.to_string(),
                deliveries: SystemDeliveries {
                    first: now,
                    last: now,
                    count: 0,
                },
            },
        };
        share.deliveries.last = now;
        share.deliveries.count += 1;
        let json = serde_json::to_vec(&share).map_err(|e| StoreError::Task(e.to_string()))?;
        self.store.put_small(&key, json.into()).await
    }
}
