//! A cache entry's metadata: kept in the index and beside the body as a JSON sidecar, so
//! that a restart rebuilds the index from storage alone. Since format 2 it holds the stored
//! response itself (RFC 9111 §3.1: its status and header fields as the primary sent them)
//! and the clock readings its age and freshness are computed from (§4.2); a sidecar of the
//! first format (no fields) is upgraded on load, its fields rebuilt from what it modelled.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::http::replay::Replay;
use crate::http::representation::{content_disposition, http_date, repr_digest};
use crate::support::hex::sha_from_hex;
use crate::support::time::{from_unix, unix};

/// The sidecar format written now.
pub const FORMAT: u32 = 2;

fn ok() -> u16 {
    200
}

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
    /// Lower-case hex sha-256 of the body, when the primary's `Repr-Digest` was checked.
    pub sha256: String,
    pub content_type: String,
    /// The copy's ETag: the primary's strong one, else its own (served only when the
    /// primary sent no validator at all).
    pub etag: Option<String>,
    /// Unix seconds.
    pub last_modified: Option<u64>,
    pub file_name: Option<String>,
    /// Unix seconds: when the body was stored.
    pub stored_at: u64,
    /// Unix seconds: how long we keep the copy (index expiry): until it is stale, plus
    /// `cache-keep-stale` when it can be revalidated. Not what clients are told.
    pub expires_at: u64,
    /// Sidecar format; 0 (absent) for the first one.
    #[serde(default)]
    pub format: u32,
    /// The stored status.
    #[serde(default = "ok")]
    pub status: u16,
    /// The stored header fields, in order (lower-case name, value), as `cache::fields`
    /// keeps them.
    #[serde(default)]
    pub fields: Vec<(String, String)>,
    /// Unix seconds: when the response (or the 304 that last freshened it) was received.
    #[serde(default)]
    pub response_time: u64,
    /// Seconds: `corrected_initial_age` at `response_time` (RFC 9111 §4.2.3).
    #[serde(default)]
    pub initial_age: u64,
    /// Seconds: the freshness lifetime, capped by the local `cache-max-ttl`.
    #[serde(default)]
    pub lifetime: u64,
    /// The response has an unqualified `no-cache`: revalidate on every use (§5.2.2.4).
    #[serde(default)]
    pub no_cache: bool,
    /// The request fields its `Vary` nominates (lower-case, sorted), and their values in the
    /// request that brought it in (the secondary key, RFC 9111 §4.1).
    #[serde(default)]
    pub vary: Vec<String>,
    #[serde(default)]
    pub secondary: String,
    /// The instance that stored it (`instance-id`): only that one deletes it when it leaves
    /// its index for any reason but expiry. Empty for copies of the first format.
    #[serde(default)]
    pub owner: String,
    /// Derived state, not stored.
    #[serde(skip)]
    pub derived: Derived,
}

/// What is derived from an entry once, in memory: its replayable head, and whether a newer
/// sidecar of the same body replaced it (then its objects must survive its removal).
#[derive(Debug, Default)]
pub struct Derived {
    replay: OnceLock<Arc<Replay>>,
    refreshed: AtomicBool,
}

impl Clone for Derived {
    fn clone(&self) -> Self {
        Derived::default()
    }
}

impl PartialEq for Derived {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Derived {}

impl EntryMeta {
    /// Where the body of version `version` of the URL with primary key `key` lives (every
    /// version and variant of a URL under one folder, [`EntryMeta::dir_of`]).
    pub fn object_key(key: &str, version: &str) -> String {
        format!("{}/{version}.body", Self::dir_of(key))
    }

    /// The folder of every stored version of the URL with primary key `key`.
    pub fn dir_of(key: &str) -> String {
        format!("cache/{}/{key}", key.get(..2).unwrap_or("00"))
    }

    /// The sidecar key of this entry.
    pub fn meta_key(&self) -> String {
        meta_key_of(&self.object)
    }

    /// True when the copy is past the time we keep it.
    pub fn expired(&self, now: SystemTime) -> bool {
        unix(now) >= self.expires_at
    }

    /// The head replayed from this copy, formatted once; `via` is our `Via` entry.
    pub fn replay(&self, via: &str) -> Arc<Replay> {
        self.derived
            .replay
            .get_or_init(|| {
                Arc::new(Replay::new(
                    self.status,
                    &self.fields,
                    Some(self.len),
                    self.etag.as_deref(),
                    via,
                ))
            })
            .clone()
    }

    /// The copy's age now, in seconds (RFC 9111 §4.2.3: corrected initial age plus the
    /// time since it was received).
    pub fn age(&self, now: SystemTime) -> u64 {
        self.initial_age
            .saturating_add(unix(now).saturating_sub(self.response_time))
    }

    /// The first stored value of field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The primary's validators, to revalidate with: its `ETag` and `Last-Modified`.
    pub fn has_validator(&self) -> bool {
        self.field("etag").is_some() || self.field("last-modified").is_some()
    }

    /// A newer sidecar of the same body replaces this one (a revalidation): removing this
    /// entry from the index must not delete the body.
    pub fn mark_refreshed(&self) {
        self.derived.refreshed.store(true, Ordering::SeqCst);
    }

    /// True after [`EntryMeta::mark_refreshed`].
    pub fn is_refreshed(&self) -> bool {
        self.derived.refreshed.load(Ordering::SeqCst)
    }

    /// A sidecar of the first format, brought to the current one: the fields it served are
    /// rebuilt from what it modelled, its lifetime from its expiry.
    pub fn upgrade(mut self) -> Self {
        if self.format >= FORMAT {
            return self;
        }
        let mut f: Vec<(String, String)> = vec![("content-type".into(), self.content_type.clone())];
        if let Some(e) = &self.etag {
            f.push(("etag".into(), e.clone()));
        }
        if let Some(t) = self.last_modified {
            f.push(("last-modified".into(), http_date(from_unix(t))));
        }
        let lifetime = self.expires_at.saturating_sub(self.stored_at);
        f.push(("expires".into(), http_date(from_unix(self.expires_at))));
        f.push(("cache-control".into(), format!("max-age={lifetime}")));
        if let Some(sha) = sha_from_hex(&self.sha256) {
            f.push(("repr-digest".into(), repr_digest(&sha)));
        }
        if let Some(name) = &self.file_name {
            f.push(("content-disposition".into(), content_disposition(name)));
        }
        self.fields = f;
        self.status = 200;
        self.response_time = self.stored_at;
        self.initial_age = 0;
        self.lifetime = lifetime;
        self.format = FORMAT;
        self
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

    /// A sidecar written by the previous version (no format, no fields) still loads: its
    /// fields are rebuilt from what it modelled, so it is served as before.
    #[test]
    fn first_format_sidecars_are_upgraded() {
        let v1 = r#"{"url":"http://a/files/1","system":"A","object":"cache/ab/abc/v.body",
            "len":5,"sha256":"","content_type":"text/plain","etag":"\"e1\"",
            "last_modified":1700000000,"file_name":"a.txt","stored_at":1800000000,
            "expires_at":1800000600}"#;
        let meta: EntryMeta = serde_json::from_str(v1).unwrap();
        assert_eq!(meta.format, 0);
        assert_eq!(meta.status, 200);
        let meta = meta.upgrade();
        assert_eq!(meta.format, FORMAT);
        assert_eq!(meta.lifetime, 600);
        assert_eq!(meta.response_time, 1_800_000_000);
        assert_eq!(meta.field("etag"), Some("\"e1\""));
        assert_eq!(meta.field("content-type"), Some("text/plain"));
        assert_eq!(meta.field("cache-control"), Some("max-age=600"));
        assert_eq!(
            meta.field("content-disposition"),
            Some("attachment; filename=\"a.txt\"")
        );
        assert!(meta.field("last-modified").is_some());
        let again = meta.clone().upgrade();
        assert_eq!(again, meta, "upgrading twice changes nothing");
        let json = serde_json::to_string(&meta).unwrap();
        let back: EntryMeta = serde_json::from_str(&json).unwrap();
        assert_eq!(back, meta, "format 2 round-trips");
    }
}
