//! Telling partners to drop their copies when a file is removed (TS 23.282 7.5.2.8 with
//! NOTE 4's "until a request is received to delete the file"). Each (file, partner) purge
//! is a job persisted in storage before it is tried, retried with capped exponential
//! backoff until the partner confirms, and resumed after a restart: an unreachable partner
//! shows in the logs and in `mcdata_purges_pending`, and is never forgotten.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request};
use http_body_util::Empty;
use serde::{Deserialize, Serialize};

use super::outbox;
use crate::http::client::{HttpClient, USER_AGENT};
use crate::metrics::Metrics;
use crate::storage::BlobStore;

/// One purge to deliver.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PurgeJob {
    pub file_id: String,
    /// The file's original URL at this primary.
    pub url: String,
    /// The partner system to tell.
    pub system: String,
    pub attempts: u32,
}

impl outbox::Job for PurgeJob {
    fn key(&self) -> String {
        format!("purges/{}.{}.json", self.file_id, self.system)
    }
}

/// Sends purges and keeps trying.
pub struct Purger {
    store: Arc<dyn BlobStore>,
    client: HttpClient,
    /// Partner system id -> (content server base, our agreement credential); replaced on
    /// reload.
    partners: arc_swap::ArcSwap<HashMap<String, (String, String)>>,
    metrics: Metrics,
    first_retry: Duration,
    max_retry: Duration,
}

impl Purger {
    pub fn new(
        store: Arc<dyn BlobStore>,
        client: HttpClient,
        partners: HashMap<String, (String, String)>,
        metrics: Metrics,
    ) -> Self {
        Purger {
            store,
            client,
            partners: arc_swap::ArcSwap::from_pointee(partners),
            metrics,
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(300),
        }
    }

    /// Persist a purge job per system and start delivering them.
    pub async fn enqueue(self: &Arc<Self>, file_id: &str, url: &str, systems: Vec<String>) {
        for system in systems {
            let job = PurgeJob {
                file_id: file_id.into(),
                url: url.into(),
                system,
                attempts: 0,
            };
            self.save(&job).await;
            self.spawn(job);
        }
    }

    /// Resume the jobs left in storage by a previous run.
    pub async fn resume(self: &Arc<Self>) -> Result<usize, crate::storage::StoreError> {
        let jobs: Vec<PurgeJob> = outbox::load(&*self.store, "purges").await?;
        let n = jobs.len();
        for job in jobs {
            self.spawn(job);
        }
        Ok(n)
    }

    async fn save(&self, job: &PurgeJob) {
        outbox::save(&*self.store, &self.metrics, job).await;
    }

    fn spawn(self: &Arc<Self>, job: PurgeJob) {
        let me = self.clone();
        me.metrics
            .purges_pending
            .with_label_values(&[&job.system])
            .inc();
        tokio::spawn(async move { me.deliver(job).await });
    }

    async fn deliver(&self, mut job: PurgeJob) {
        loop {
            match self.try_once(&job).await {
                Ok(()) => {
                    self.metrics
                        .purges_sent
                        .with_label_values(&[&job.system, "ok"])
                        .inc();
                    self.metrics
                        .purges_pending
                        .with_label_values(&[&job.system])
                        .dec();
                    outbox::forget(&*self.store, &job).await;
                    tracing::info!(
                        file = job.file_id,
                        system = job.system,
                        attempts = job.attempts + 1,
                        "partner purged its copy"
                    );
                    return;
                }
                Err(why) => {
                    job.attempts += 1;
                    self.metrics
                        .purges_sent
                        .with_label_values(&[&job.system, "failed"])
                        .inc();
                    let wait = outbox::backoff(self.first_retry, job.attempts, self.max_retry);
                    tracing::warn!(
                        file = job.file_id,
                        system = job.system,
                        attempts = job.attempts,
                        retry_in_s = wait.as_secs(),
                        error = why,
                        "purge not delivered; will retry"
                    );
                    self.save(&job).await;
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Use `partners` from now on (a reloaded configuration).
    pub fn set_partners(&self, partners: HashMap<String, (String, String)>) {
        self.partners.store(Arc::new(partners));
    }

    async fn try_once(&self, job: &PurgeJob) -> Result<(), String> {
        let partners = self.partners.load_full();
        let (base, cred) = partners
            .get(&job.system)
            .ok_or_else(|| format!("no agreement with system {} any more", job.system))?;
        let target = format!("{}/{}", base.trim_end_matches('/'), job.url);
        let req = Request::delete(&target)
            .header(header::AUTHORIZATION, format!("Bearer {cred}"))
            .header(header::USER_AGENT, USER_AGENT)
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| crate::support::error_chain::chain(&e))?;
        let status = resp.status();
        if status.is_success() || status == http::StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(format!("partner answered {status}"))
        }
    }
}
