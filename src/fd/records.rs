//! What an MCData server remembers: each FD request it handled (so that responses,
//! reports and network notifications find their way back), and the download completed
//! reports kept for download history interrogation (steps 15, 16). Kept in the object
//! store under `fd/`, loaded at start-up.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::storage::{BlobStore, StoreError};

/// File metadata as clients send and see it, and as the Metadata IE of an FD SIGNALLING
/// PAYLOAD carries it ([`crate::codec::FileMetadata`]). For a file on the own content
/// server, the primary MCData server fills in what the client left out (see
/// `client_api`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileInfo {
    pub name: Option<String>,
    pub size: Option<u64>,
    #[serde(rename = "type")]
    pub content_type: Option<String>,
    pub sha256: Option<String>,
    /// `file-availability`: as the client sent it (seconds, or a date), or, filled in by
    /// the primary MCData server, the end of the file's availability in RFC 3339 UTC
    /// ([`crate::codec::FileMetadata::availability_until`]).
    pub availability: Option<String>,
}

impl FileInfo {
    pub fn to_codec(&self) -> crate::codec::FileMetadata {
        crate::codec::FileMetadata {
            name: self.name.clone(),
            size: self.size,
            content_type: self.content_type.clone(),
            sha256: self.sha256.clone(),
            file_availability: self.availability.clone(),
            ..Default::default()
        }
    }

    pub fn from_codec(m: &crate::codec::FileMetadata) -> Self {
        FileInfo {
            name: m.name.clone(),
            size: m.size,
            content_type: m.content_type.clone(),
            sha256: m.sha256.clone(),
            availability: m.file_availability.clone(),
        }
    }
}

/// One FD request, as seen by this server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessageRecord {
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    pub sender: String,
    pub sender_system: String,
    pub recipient: String,
    pub recipient_system: String,
    /// The file's URL at the primary content server.
    pub file_url: String,
    /// The URL the recipient downloads from (prefixed on the partner side).
    pub delivered_url: String,
    pub metadata: FileInfo,
    pub mandatory_download: bool,
    pub report_requested: bool,
    /// "accepted", "rejected" or "deferred", once answered.
    pub response: Option<String>,
    pub created_at: u64,
}

/// A download completed report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    /// The original URL of the file.
    pub file_url: String,
    /// Who downloaded (client 2).
    pub reporter: String,
    /// Who asked for the report (client 1).
    pub recipient: String,
    pub reported_at: u64,
    /// The system that stored this copy of the report.
    pub system: String,
}

/// The records of one MCData server.
pub struct Records {
    store: Arc<dyn BlobStore>,
    messages: RwLock<HashMap<Uuid, MessageRecord>>,
    reports: RwLock<Vec<Report>>,
}

fn message_key(id: &Uuid) -> String {
    format!("fd/messages/{id}.json")
}

fn report_key(id: &Uuid) -> String {
    format!("fd/reports/{id}.json")
}

fn encode<T: Serialize>(v: &T) -> Result<bytes::Bytes, StoreError> {
    serde_json::to_vec(v)
        .map(Into::into)
        .map_err(|e| StoreError::Task(e.to_string()))
}

impl Records {
    pub fn new(store: Arc<dyn BlobStore>) -> Self {
        Records {
            store,
            messages: RwLock::new(HashMap::new()),
            reports: RwLock::new(Vec::new()),
        }
    }

    /// Load what is in storage; returns (messages, reports).
    pub async fn load(&self) -> Result<(usize, usize), StoreError> {
        let mut counts = (0, 0);
        for listed in self.store.list("fd/messages").await? {
            let key = listed.key;
            if let Some(b) = self.store.get_small(&key).await? {
                match serde_json::from_slice::<MessageRecord>(&b) {
                    Ok(m) => {
                        self.messages
                            .write()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(m.message_id, m);
                        counts.0 += 1;
                    }
                    Err(e) => tracing::error!(key, error = %e, "unreadable message record"),
                }
            }
        }
        for listed in self.store.list("fd/reports").await? {
            let key = listed.key;
            if let Some(b) = self.store.get_small(&key).await? {
                match serde_json::from_slice::<Report>(&b) {
                    Ok(r) => {
                        self.reports
                            .write()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(r);
                        counts.1 += 1;
                    }
                    Err(e) => tracing::error!(key, error = %e, "unreadable report"),
                }
            }
        }
        Ok(counts)
    }

    pub async fn put_message(&self, m: MessageRecord) -> Result<(), StoreError> {
        self.store
            .put_small(&message_key(&m.message_id), encode(&m)?)
            .await?;
        self.messages
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(m.message_id, m);
        Ok(())
    }

    pub fn message(&self, id: &Uuid) -> Option<MessageRecord> {
        self.messages
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// The FD requests this server sent for a file it holds as primary.
    pub fn messages_for_file(&self, file_url: &str, own_system: &str) -> Vec<MessageRecord> {
        self.messages
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|m| m.file_url == file_url && m.sender_system == own_system)
            .cloned()
            .collect()
    }

    pub async fn add_report(&self, r: Report) -> Result<(), StoreError> {
        self.store
            .put_small(&report_key(&r.message_id), encode(&r)?)
            .await?;
        let mut reports = self.reports.write().unwrap_or_else(|p| p.into_inner());
        reports.retain(|x| x.message_id != r.message_id);
        reports.push(r);
        Ok(())
    }

    /// Reports matching every given filter.
    pub fn reports(
        &self,
        conversation: Option<Uuid>,
        message: Option<Uuid>,
        file_urls: &[String],
    ) -> Vec<Report> {
        let mut out: Vec<Report> = self
            .reports
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|r| conversation.is_none_or(|c| r.conversation_id == c))
            .filter(|r| message.is_none_or(|m| r.message_id == m))
            .filter(|r| file_urls.is_empty() || file_urls.contains(&r.file_url))
            .cloned()
            .collect();
        out.sort_by_key(|r| r.reported_at);
        out
    }
}
