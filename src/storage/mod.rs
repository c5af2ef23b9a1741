//! Object storage behind one small trait of ours, [`BlobStore`].
//!
//! Everything the servers keep goes through it: file bodies, their metadata sidecars,
//! delivery records, the purge outbox. Bodies are written through a [`BlobWriter`] that
//! hashes as it writes (when asked to) and publishes atomically on `finish`; dropping an unfinished writer
//! removes what it wrote, so a broken fill or upload never leaves a half object behind.
//! The default backend is object_store's `LocalFileSystem` ([`local::LocalBlobs`]); the other
//! is any S3-compatible server, MinIO first ([`s3::S3Blobs`]).

pub mod growth;
pub mod health;
pub mod local;
pub mod s3;
pub mod tail;

use std::fs::File;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::stream::BoxStream;

pub use growth::Growth;
pub use health::StoreHealth;
pub use local::LocalBlobs;
pub use s3::{S3Blobs, S3Options};
pub use tail::{MemoryTail, TailError, TailReader};

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
    #[error("cannot use the store {store}: {reason}")]
    Unusable { store: String, reason: String },
    /// A conditional write lost: the object exists ([`PutIf::Absent`]) or changed since it
    /// was read ([`PutIf::Unchanged`]).
    #[error("object {0} was written by someone else meanwhile")]
    Conflict(String),
}

/// The version of a small object as it was read, so that a conditional write replaces
/// exactly it (S3's `If-Match` on the ETag; object_store's `UpdateVersion`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub e_tag: Option<String>,
    pub version: Option<String>,
}

impl Version {
    /// The version object_store reports for an object.
    pub(crate) fn of(meta: &object_store::ObjectMeta) -> Version {
        Version {
            e_tag: meta.e_tag.clone(),
            version: meta.version.clone(),
        }
    }
}

/// When a conditional write of a small object may happen. On S3 (AWS, MinIO, R2) these are
/// `If-None-Match: *` and `If-Match: <etag>`, atomic at the server, so that instances on
/// one bucket can coordinate through it; on a local store they are atomic within the
/// process that owns the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutIf {
    /// Only if no object is at the key.
    Absent,
    /// Only if the object is still the version read.
    Unchanged(Version),
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

/// Whether a writer computes the sha-256 of what it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hashing {
    /// Hash every byte: the digest is an ETag, a `Repr-Digest`, or a check against one.
    Sha256,
    /// Only count bytes: nobody needs the digest (hashing costs ~0.7 s of CPU per GiB).
    Off,
}

/// The running length and (when asked for) sha-256 of a body being written, shared by the
/// writers of every backend and by a fill's spool. Each chunk is hashed on a blocking
/// thread while it is written ([`Digesting::start`], then [`Digesting::done`]), so that
/// with a core to spare the digest costs the write path no time. A write that failed
/// between the two leaves the state taken, and the writer refuses further use.
pub(crate) struct Digesting {
    /// `None` while a chunk is out (or after a failed write); `Some(None)`: counting only.
    hasher: Option<Option<sha2::Sha256>>,
    len: u64,
}

/// A chunk's hash in progress, between [`Digesting::start`] and [`Digesting::done`].
pub(crate) struct PendingHash {
    len: u64,
    hashed: Option<tokio::task::JoinHandle<sha2::Sha256>>,
}

impl Digesting {
    pub(crate) fn new(hashing: Hashing) -> Self {
        use sha2::Digest;
        let h = match hashing {
            Hashing::Sha256 => Some(sha2::Sha256::new()),
            Hashing::Off => None,
        };
        Digesting {
            hasher: Some(h),
            len: 0,
        }
    }

    /// Hashing that already took in the first `len` bytes (e.g. re-read from a spool).
    pub(crate) fn resumed(hasher: sha2::Sha256, len: u64) -> Self {
        Digesting {
            hasher: Some(Some(hasher)),
            len,
        }
    }

    /// Start hashing `chunk` on a blocking thread (nothing to do when only counting);
    /// write the chunk meanwhile, then call [`Digesting::done`]. An error after a failed
    /// write.
    pub(crate) fn start(&mut self, chunk: &Bytes) -> Result<PendingHash, StoreError> {
        let hasher = self
            .hasher
            .take()
            .ok_or_else(|| StoreError::Task("writer failed earlier".into()))?;
        let hashed = hasher.map(|mut h| {
            let c = chunk.clone();
            tokio::task::spawn_blocking(move || {
                sha2::Digest::update(&mut h, &c);
                h
            })
        });
        Ok(PendingHash {
            len: chunk.len() as u64,
            hashed,
        })
    }

    /// The chunk of `pending` is written: wait for its hash and count its bytes.
    pub(crate) async fn done(&mut self, pending: PendingHash) -> Result<(), StoreError> {
        let hasher = match pending.hashed {
            Some(task) => Some(task.await.map_err(|e| StoreError::Task(e.to_string()))?),
            None => None,
        };
        self.hasher = Some(hasher);
        self.len += pending.len;
        Ok(())
    }

    /// An error when a write failed midway.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        match self.hasher {
            Some(_) => Ok(()),
            None => Err(StoreError::Task("writer failed earlier".into())),
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The digest so far; `None` when only counting (or after a failed write).
    pub(crate) fn sha256(&self) -> Option<[u8; 32]> {
        use sha2::Digest;
        let h = self.hasher.as_ref()?.clone()?;
        Some(h.finalize().into())
    }

    pub(crate) fn written(&self) -> Written {
        Written {
            len: self.len,
            sha256: self.sha256(),
        }
    }
}

/// What a finished writer produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub len: u64,
    /// `None` when the writer was created with [`Hashing::Off`].
    pub sha256: Option<[u8; 32]>,
}

/// The bytes of a streamed object.
pub type BlobStream = BoxStream<'static, Result<Bytes, StoreError>>;

/// A readable object: a local file for positional reads (the fast path) or a stream.
pub enum BlobBody {
    /// A file handle read with `pread`, so that many readers can share it: always the whole
    /// object, whatever range was asked for (readers read their range positionally).
    File { file: Arc<File>, len: u64 },
    /// A stream of exactly the bytes asked for (`len` of them), e.g. a ranged GET on S3.
    Stream { len: u64, stream: BlobStream },
}

impl BlobBody {
    /// Total length of the object (`File`) or of the streamed range (`Stream`).
    pub fn len(&self) -> u64 {
        match self {
            BlobBody::File { len, .. } | BlobBody::Stream { len, .. } => *len,
        }
    }

    /// True when the object is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One object found by [`BlobStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    /// When the object was last written (for a multipart upload: when it was started).
    pub modified: SystemTime,
}

/// The storage operations the servers need; implemented per backend.
pub trait BlobStore: Send + Sync + 'static {
    /// A human-readable description for logs, e.g. `file:///var/lib/mcdata`.
    fn describe(&self) -> String;
    /// Start a new object at `key`; nothing is visible there until the writer finishes.
    fn create<'a>(
        &'a self,
        key: &'a str,
        hashing: Hashing,
    ) -> BoxFut<'a, Result<Box<dyn BlobWriter>, StoreError>>;
    /// Open an object for reading `range` of it (`None`: all of it). A [`BlobBody::File`]
    /// covers the whole object; a [`BlobBody::Stream`] carries exactly the range.
    fn open<'a>(
        &'a self,
        key: &'a str,
        range: Option<Range<u64>>,
    ) -> BoxFut<'a, Result<BlobBody, StoreError>>;
    /// Write a small object (metadata, records) atomically, replacing any previous one.
    fn put_small<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFut<'a, Result<(), StoreError>>;
    /// Read a small object whole; `None` when it does not exist.
    fn get_small<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<Option<Bytes>, StoreError>>;
    /// Read a small object whole with its version, for a later [`BlobStore::put_small_if`].
    fn get_small_versioned<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFut<'a, Result<Option<(Bytes, Version)>, StoreError>>;
    /// Write a small object only if `cond` holds; [`StoreError::Conflict`] when it does not.
    fn put_small_if<'a>(
        &'a self,
        key: &'a str,
        data: Bytes,
        cond: PutIf,
    ) -> BoxFut<'a, Result<(), StoreError>>;
    /// Delete an object; deleting a missing object is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<(), StoreError>>;
    /// Every object under `prefix` (a folder, without trailing slash).
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFut<'a, Result<Vec<Listed>, StoreError>>;
    /// Remove leftovers of writes interrupted by a crash; returns how many were removed
    /// (on S3: none; a bucket lifecycle rule aborts incomplete multipart uploads).
    fn sweep_staging(&self) -> BoxFut<'_, Result<usize, StoreError>>;
}

/// A body being written. Dropping it unfinished removes what was written.
pub trait BlobWriter: Send {
    /// Append a chunk (hashed as it goes, unless created with [`Hashing::Off`]).
    fn write(&mut self, chunk: Bytes) -> BoxFut<'_, Result<(), StoreError>>;
    /// Bytes written so far.
    fn len(&self) -> u64;
    /// True when nothing was written yet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// SHA-256 of the bytes written so far (`None` with [`Hashing::Off`]).
    fn sha256(&self) -> Option<[u8; 32]>;
    /// A handle on the bytes written so far, for positional reads while writing, when the
    /// backend has one (readers of a running fill use it; without one, the fill spools).
    fn read_handle(&self) -> Option<Arc<File>>;
    /// Make the object durable and visible at its key, atomically.
    fn finish(self: Box<Self>) -> BoxFut<'static, Result<Written, StoreError>>;
}

/// How to open a store, besides its URL.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Local disk: fsync bodies before publishing them.
    pub fsync: bool,
    /// S3: endpoint, region, credentials (each falls back to the AWS environment).
    pub s3: S3Options,
}

/// Open the store named by a URL: `file:///abs/dir`, `file://./relative/dir` or
/// `s3://bucket/prefix`. An S3 store is checked with one request before it is returned, so
/// a missing bucket or refused credentials fail start-up with a readable reason.
pub async fn open_store(url: &str, opts: &StoreOptions) -> Result<Arc<dyn BlobStore>, StoreError> {
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
            opts.fsync,
        )?));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket after s3://"));
        }
        let store = S3Blobs::connect(bucket, prefix.trim_matches('/'), &opts.s3)?;
        store.check().await?;
        return Ok(Arc::new(store));
    }
    Err(bad(
        "unsupported scheme (use file:///path or s3://bucket/prefix)",
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    #[tokio::test]
    async fn digesting_hashes_beside_the_write_or_only_counts() {
        let mut d = Digesting::new(Hashing::Sha256);
        for part in [&b"hello "[..], b"world"] {
            let pending = d.start(&Bytes::copy_from_slice(part)).unwrap();
            d.done(pending).await.unwrap();
        }
        let want: [u8; 32] = sha2::Sha256::digest(b"hello world").into();
        assert_eq!(
            d.written(),
            Written {
                len: 11,
                sha256: Some(want)
            }
        );

        let mut off = Digesting::new(Hashing::Off);
        let chunk = Bytes::from_static(b"abc");
        let pending = off.start(&chunk).unwrap();
        off.done(pending).await.unwrap();
        assert_eq!(
            off.written(),
            Written {
                len: 3,
                sha256: None
            }
        );

        // A failed write (no `done`) leaves the state taken: the writer refuses further use.
        let _abandoned = d.start(&chunk).unwrap();
        assert!(d.check().is_err() && d.start(&chunk).is_err());
    }
}
