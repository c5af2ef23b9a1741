//! A file held by this primary: what was uploaded, until when it is available, and whether
//! it was removed. Stored as a JSON sidecar beside the body; a removed or expired file keeps
//! its record (a tombstone) so that requests for it get 410 with the reason.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::http::representation::Representation;
use crate::support::hex::sha_from_hex;
use crate::support::time::{from_unix, unix};

/// Lifecycle of a primary file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FileState {
    Available,
    Expired { at: u64 },
    Removed { at: u64, by: Option<String> },
}

/// One uploaded file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRecord {
    pub id: String,
    pub size: u64,
    /// Lower-case hex sha-256.
    pub sha256: String,
    pub content_type: String,
    pub file_name: Option<String>,
    /// MCData ID of the uploader, when known.
    pub owner: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub expires_at: u64,
    #[serde(flatten)]
    pub state: FileState,
}

impl FileRecord {
    /// Key of the body object.
    pub fn body_key(id: &str) -> String {
        format!("files/{id}.body")
    }

    /// Key of the record sidecar.
    pub fn meta_key(id: &str) -> String {
        format!("files/{id}.meta")
    }

    /// The state, with an expiry that has passed taken into account.
    pub fn effective_state(&self, now: SystemTime) -> FileState {
        match &self.state {
            FileState::Available if unix(now) >= self.expires_at => FileState::Expired {
                at: self.expires_at,
            },
            s => s.clone(),
        }
    }

    /// The strong entity-tag: the content's sha-256.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.sha256)
    }

    /// The representation served for this file.
    pub fn representation(&self) -> Representation {
        Representation {
            len: Some(self.size),
            content_type: self.content_type.clone(),
            etag: Some(self.etag()),
            last_modified: Some(from_unix(self.created_at)),
            expires: Some(from_unix(self.expires_at)),
            sha256: sha_from_hex(&self.sha256),
            file_name: self.file_name.clone(),
            no_store: false,
        }
    }

    /// The JSON answered to an upload and to metadata queries.
    pub fn to_json(&self, url: &str) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "url": url,
            "size": self.size,
            "sha256": self.sha256,
            "content_type": self.content_type,
            "file_name": self.file_name,
            "owner": self.owner,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "expires": httpdate::fmt_http_date(from_unix(self.expires_at)),
        })
    }
}
