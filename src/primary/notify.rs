//! Telling this system's MCData server, over HTTP, that a file was removed or expired, so
//! that it sends the FD network notifications (TS 23.282 7.5.2.7/7.5.2.8) when the two run
//! as separate processes (`mcdata content-server --mcdata-server ...` beside `mcdata
//! fd-server`); `mcdata system` tells it in-process instead.
//!
//! `POST <mcdata-server>/content/removals` with `Authorization: Bearer <credential>` and
//! `{"file_url": "...", "reason": "expired" | "removed"}`. Like a purge, each notice is
//! persisted (`notices/<file id>.json`) before it is tried, retried with a back-off capped
//! at a minute until the MCData server takes it, and resumed after a restart
//! (`mcdata_removal_notices_pending`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::Full;
use serde::{Deserialize, Serialize};

use super::outbox;
use super::record::FileRecord;
use super::RemovalHook;
use crate::http::client::{BodyClient, USER_AGENT};
use crate::metrics::Metrics;
use crate::storage::{BlobStore, StoreError};

/// Longest wait between two attempts.
const MAX_RETRY: Duration = Duration::from_secs(60);

/// One notice to deliver.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Notice {
    file_id: String,
    file_url: String,
    /// `removed` or `expired`.
    reason: String,
}

impl outbox::Job for Notice {
    fn key(&self) -> String {
        format!("notices/{}.json", self.file_id)
    }
}

/// Where and how to call the MCData server, and the outbox of notices not yet taken.
pub struct Notifier {
    client: BodyClient,
    endpoint: String,
    credential: String,
    store: Arc<dyn BlobStore>,
    metrics: Metrics,
}

impl Notifier {
    /// A notifier for the MCData server at `base` (e.g. `http://127.0.0.1:9080`).
    pub fn new(
        client: BodyClient,
        base: &str,
        credential: &str,
        store: Arc<dyn BlobStore>,
        metrics: Metrics,
    ) -> Arc<Self> {
        Arc::new(Notifier {
            client,
            endpoint: format!("{}/content/removals", base.trim_end_matches('/')),
            credential: credential.to_string(),
            store,
            metrics,
        })
    }

    /// The hook to register with [`super::Primary::on_removal`]; `files_base` is the
    /// prefix of this content server's file URLs (`<public URI>/files/`).
    pub fn hook(self: &Arc<Self>, files_base: String) -> RemovalHook {
        let me = self.clone();
        Arc::new(move |rec: &FileRecord, why: &str| {
            let notice = Notice {
                file_id: rec.id.clone(),
                file_url: format!("{files_base}{}", rec.id),
                reason: why.to_string(),
            };
            let me = me.clone();
            tokio::spawn(async move {
                outbox::save(&*me.store, &me.metrics, &notice).await;
                me.deliver(notice).await;
            });
        })
    }

    /// Deliver the notices a previous run left in storage; how many there were.
    pub async fn resume(self: &Arc<Self>) -> Result<usize, StoreError> {
        let notices: Vec<Notice> = outbox::load(&*self.store, "notices").await?;
        let n = notices.len();
        for notice in notices {
            let me = self.clone();
            tokio::spawn(async move { me.deliver(notice).await });
        }
        Ok(n)
    }

    /// Send `notice` until the MCData server takes it, then drop it from storage.
    async fn deliver(&self, notice: Notice) {
        self.metrics.removal_notices_pending.inc();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match self.send(&notice).await {
                Ok(()) => break,
                Err(e) => {
                    self.metrics
                        .removal_notices
                        .with_label_values(&["failed"])
                        .inc();
                    let wait = outbox::backoff(Duration::from_secs(1), attempts, MAX_RETRY);
                    tracing::warn!(file = notice.file_id, attempts, error = %e, retry_in_s = wait.as_secs(), "the MCData server was not told of a removal; will retry");
                    tokio::time::sleep(wait).await;
                }
            }
        }
        self.metrics
            .removal_notices
            .with_label_values(&["ok"])
            .inc();
        self.metrics.removal_notices_pending.dec();
        outbox::forget(&*self.store, &notice).await;
        tracing::info!(
            file = notice.file_id,
            reason = notice.reason,
            attempts,
            "MCData server told of the removal"
        );
    }

    async fn send(&self, notice: &Notice) -> Result<(), String> {
        let body = serde_json::json!({"file_url": notice.file_url, "reason": notice.reason});
        let req = Request::builder()
            .method(Method::POST)
            .uri(&self.endpoint)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.credential))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .map_err(|_| "no answer within 10 s".to_string())?
            .map_err(|e| crate::support::error_chain::chain(&e))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("it answered {}", resp.status()))
        }
    }
}
