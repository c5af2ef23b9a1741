//! A cache entry's metadata: kept in the index and beside the body as a JSON sidecar, so
//! that a restart rebuilds the index from storage alone.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::http::representation::Representation;
use crate::support::hex::sha_from_hex;
use crate::support::time::{from_unix, unix};

/// Everything known about one stored copy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EntryMeta {
    /// The original URL at the primary.
    pub url: String,
    /// The primary system that owns the file.
    pub system: String,
    /// Key of the body object (unique per stored version).
    pub object: String,
    pub len: u64,
    /// Lower-case hex sha-256 of the body.
    pub sha256: String,
    pub content_type: String,
    pub etag: Option<String>,
    /// Unix seconds.
    pub last_modified: Option<u64>,
    pub file_name: Option<String>,
    /// Unix seconds.
    pub stored_at: u64,
    /// Unix seconds: the earlier of the primary's expiry and the local maximum.
    pub expires_at: u64,
}

impl EntryMeta {
    /// Where the body of version `version` of cache key `key` lives.
    pub fn object_key(key: &str, version: &str) -> String {
        format!(
            "cache/{}/{key}/{version}.body",
            key.get(..2).unwrap_or("00")
        )
    }

    /// The sidecar key of this entry.
    pub fn meta_key(&self) -> String {
        meta_key_of(&self.object)
    }

    /// True when the copy is past its expiry.
    pub fn expired(&self, now: SystemTime) -> bool {
        unix(now) >= self.expires_at
    }

    /// The representation served from this copy.
    pub fn representation(&self) -> Representation {
        Representation {
            len: Some(self.len),
            content_type: self.content_type.clone(),
            etag: self.etag.clone(),
            last_modified: self.last_modified.map(from_unix),
            expires: Some(from_unix(self.expires_at)),
            sha256: sha_from_hex(&self.sha256),
            file_name: self.file_name.clone(),
            no_store: false,
        }
    }
}

/// The sidecar key of a body key.
pub fn meta_key_of(object: &str) -> String {
    match object.strip_suffix(".body") {
        Some(stem) => format!("{stem}.meta"),
        None => format!("{object}.meta"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_and_sidecar_keys() {
        let k = EntryMeta::object_key("abcdef", "v1");
        assert_eq!(k, "cache/ab/abcdef/v1.body");
        assert_eq!(meta_key_of(&k), "cache/ab/abcdef/v1.meta");
    }
}
