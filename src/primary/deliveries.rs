//! Delivery records (TS 23.282 7.5.2.4.3 step 12): for each file, which partner systems
//! retrieved it, first and last time, how many times. Kept in storage as one JSON object
//! per file, so they survive restarts; updates are serialized.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::storage::{BlobStore, StoreError};
use crate::support::time::unix;

/// Retrieves by one partner system.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SystemDeliveries {
    /// Unix seconds of the first and the last successful retrieve.
    pub first: u64,
    pub last: u64,
    pub count: u64,
}

/// The delivery record of one file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub file_id: String,
    pub systems: BTreeMap<String, SystemDeliveries>,
}

/// The store of delivery records.
pub struct Deliveries {
    store: Arc<dyn BlobStore>,
    write: tokio::sync::Mutex<()>,
}

fn key(file_id: &str) -> String {
    format!("deliveries/{file_id}.json")
}

impl Deliveries {
    pub fn new(store: Arc<dyn BlobStore>) -> Self {
        Deliveries {
            store,
            write: tokio::sync::Mutex::new(()),
        }
    }

    /// The record of `file_id` (empty when nothing was delivered).
    pub async fn get(&self, file_id: &str) -> Result<DeliveryRecord, StoreError> {
        match self.store.get_small(&key(file_id)).await? {
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| StoreError::Task(format!("corrupt delivery record {file_id}: {e}"))),
            None => Ok(DeliveryRecord {
                file_id: file_id.to_string(),
                ..Default::default()
            }),
        }
    }

    /// Record one successful retrieve of `file_id` by `system`.
    pub async fn record(&self, file_id: &str, system: &str) -> Result<DeliveryRecord, StoreError> {
        let _serial = self.write.lock().await;
        let mut rec = self.get(file_id).await?;
        let now = unix(SystemTime::now());
        rec.systems
            .entry(system.to_string())
            .and_modify(|d| {
                d.last = now;
                d.count += 1;
            })
            .or_insert(SystemDeliveries {
                first: now,
                last: now,
                count: 1,
            });
        let json = serde_json::to_vec(&rec).map_err(|e| StoreError::Task(e.to_string()))?;
        self.store.put_small(&key(file_id), json.into()).await?;
        Ok(rec)
    }
}
