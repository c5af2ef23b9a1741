//! Object storage behind one small trait of ours, [`BlobStore`].
//!
//! Everything the servers keep goes through it: file bodies, their metadata sidecars,
//! delivery records, the purge outbox. Bodies are written through a [`BlobWriter`] that
//! hashes as it writes and publishes atomically on `finish`; dropping an unfinished writer
//! removes what it wrote, so a broken fill or upload never leaves a half object behind.
//! The default backend is object_store's `LocalFileSystem` ([`local::LocalBlobs`]).

pub mod local;

use std::fs::File;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

pub use local::LocalBlobs;

/// A boxed future, so that [`BlobStore`] stays object safe.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("storage I/O error on {key}: {source}")]
    Io { key: String, source: std::io::Error },
    #[error("object store error: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("invalid store URL {url}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("storage task failed: {0}")]
    Task(String),
}

impl StoreError {
    pub(crate) fn io(key: &str, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            StoreError::NotFound(key.to_string())
        } else {
            StoreError::Io {
                key: key.to_string(),
                source,
            }
        }
    }
}

/// What a finished writer produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub len: u64,
    pub sha256: [u8; 32],
}

/// A readable object: a local file for positional reads (the fast path) or a stream.
pub enum BlobBody {
    /// A file handle read with `pread`, so that many readers can share it.
    File { file: Arc<File>, len: u64 },
}

impl BlobBody {
    /// Total length of the object.
    pub fn len(&self) -> u64 {
        match self {
            BlobBody::File { len, .. } => *len,
        }
    }

    /// True when the object is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The storage operations the servers need; implemented per backend.
pub trait BlobStore: Send + Sync + 'static {
    /// A human-readable description for logs, e.g. `file:///var/lib/mcdata`.
    fn describe(&self) -> String;
    /// Start a new object at `key`; nothing is visible there until the writer finishes.
    fn create<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<Box<dyn BlobWriter>, StoreError>>;
    /// Open an object for reading.
    fn open<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<BlobBody, StoreError>>;
    /// Write a small object (metadata, records) atomically, replacing any previous one.
    fn put_small<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFut<'a, Result<(), StoreError>>;
    /// Read a small object whole; `None` when it does not exist.
    fn get_small<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<Option<Bytes>, StoreError>>;
    /// Delete an object; deleting a missing object is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<(), StoreError>>;
    /// Every key under `prefix` (a folder, without trailing slash).
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFut<'a, Result<Vec<String>, StoreError>>;
    /// Remove leftovers of writes interrupted by a crash; returns how many were removed.
    fn sweep_staging(&self) -> BoxFut<'_, Result<usize, StoreError>>;
}

/// A body being written. Dropping it unfinished removes what was written.
pub trait BlobWriter: Send {
    /// Append a chunk (hashed as it goes).
    fn write(&mut self, chunk: Bytes) -> BoxFut<'_, Result<(), StoreError>>;
    /// Bytes written so far.
    fn len(&self) -> u64;
    /// True when nothing was written yet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// SHA-256 of the bytes written so far.
    fn sha256(&self) -> [u8; 32];
    /// A handle on the bytes written so far, for positional reads while writing, when the
    /// backend has one (readers of a running fill use it).
    fn read_handle(&self) -> Option<Arc<File>>;
    /// Make the object durable and visible at its key, atomically.
    fn finish(self: Box<Self>) -> BoxFut<'static, Result<Written, StoreError>>;
}

/// Open the store named by a URL: `file:///abs/dir` or `file://./relative/dir`.
pub fn open_store(url: &str, fsync: bool) -> Result<Arc<dyn BlobStore>, StoreError> {
    let bad = |reason: &str| StoreError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    if let Some(path) = url.strip_prefix("file://") {
        if path.is_empty() {
            return Err(bad("no directory after file://"));
        }
        return Ok(Arc::new(LocalBlobs::open(
            std::path::Path::new(path),
            fsync,
        )?));
    }
    Err(bad("unsupported scheme (use file:///path)"))
}

/// Read `range` of a positional-read file in one blocking call.
pub async fn read_at(file: Arc<File>, range: Range<u64>) -> std::io::Result<Bytes> {
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::FileExt;
        let want = usize::try_from(range.end.saturating_sub(range.start))
            .map_err(|_| std::io::Error::other("read too large"))?;
        let mut buf = vec![0u8; want];
        let mut filled = 0;
        while filled < want {
            let n = file.read_at(&mut buf[filled..], range.start + filled as u64)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "object shorter than its recorded length",
                ));
            }
            filled += n;
        }
        Ok(Bytes::from(buf))
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))?
}
