//! Telling this system's MCData server, over HTTP, that a file was removed or expired, so
//! that it sends the FD network notifications (TS 23.282 7.5.2.7/7.5.2.8) when the two run
//! as separate processes (`mcdata content-server --mcdata-server ...` beside `mcdata
//! fd-server`); `mcdata system` tells it in-process instead.
//!
//! `POST <mcdata-server>/content/removals` with `Authorization: Bearer <credential>` and
//! `{"file_url": "...", "reason": "expired" | "removed"}`. A failed call is retried with a
//! capped back-off for about ten minutes, then given up with a warning: the notification is
//! best effort, and the file is gone either way.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::Full;

use super::record::FileRecord;
use super::RemovalHook;
use crate::http::client::{BodyClient, USER_AGENT};
use crate::metrics::Metrics;

/// Attempts before giving up (1 s doubling to 60 s: about ten minutes in all).
const ATTEMPTS: u32 = 14;

/// Where and how to call the MCData server.
#[derive(Clone)]
pub struct Notifier {
    client: BodyClient,
    endpoint: String,
    credential: String,
    metrics: Metrics,
}

impl Notifier {
    /// A notifier for the MCData server at `base` (e.g. `http://127.0.0.1:9080`).
    pub fn new(client: BodyClient, base: &str, credential: &str, metrics: Metrics) -> Self {
        Notifier {
            client,
            endpoint: format!("{}/content/removals", base.trim_end_matches('/')),
            credential: credential.to_string(),
            metrics,
        }
    }

    /// The hook to register with [`super::Primary::on_removal`]: `file_url` is the URL of a
    /// file id.
    pub fn hook(self, file_url: impl Fn(&str) -> String + Send + Sync + 'static) -> RemovalHook {
        let me = Arc::new(self);
        Arc::new(move |rec: &FileRecord, why: &str| {
            let (me, url, why) = (me.clone(), file_url(&rec.id), why.to_string());
            tokio::spawn(async move { me.tell(&url, &why).await });
        })
    }

    /// Send one notice, retrying; true when the MCData server took it.
    pub async fn tell(&self, file_url: &str, why: &str) -> bool {
        let body = serde_json::json!({"file_url": file_url, "reason": why}).to_string();
        let mut wait = Duration::from_secs(1);
        for attempt in 1..=ATTEMPTS {
            match self.send(Bytes::from(body.clone())).await {
                Ok(()) => {
                    self.metrics
                        .removal_notices
                        .with_label_values(&["ok"])
                        .inc();
                    tracing::info!(
                        file = file_url,
                        reason = why,
                        "MCData server told of the removal"
                    );
                    return true;
                }
                Err(e) if attempt < ATTEMPTS => {
                    tracing::warn!(file = file_url, attempt, error = %e, retry_in = ?wait, "cannot tell the MCData server of a removal");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(60));
                }
                Err(e) => {
                    tracing::warn!(file = file_url, error = %e, "gave up telling the MCData server of a removal: no network notification for it");
                }
            }
        }
        self.metrics
            .removal_notices
            .with_label_values(&["failed"])
            .inc();
        false
    }

    async fn send(&self, body: Bytes) -> Result<(), String> {
        let req = Request::builder()
            .method(Method::POST)
            .uri(&self.endpoint)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.credential))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, USER_AGENT)
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .map_err(|_| "no answer within 10 s".to_string())?
            .map_err(|e| crate::http::error::chain(&e))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("it answered {}", resp.status()))
        }
    }
}
