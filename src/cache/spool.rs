//! Where a fill's bytes go ([`Sink`]): into the store's writer, and into a local spool file
//! when the fill's clients cannot read the writer (S3 writers have no read handle) or when
//! there is no writer at all (a pass-through, or a store that failed).
//!
//! The spool exists only for concurrent readers of a running fill, who read it
//! positionally exactly as they read a local staging file. It is unlinked right after it is
//! created: it has no name, so it never outlives the process and a crash leaves nothing
//! behind; its space is freed when the fill and its last reader let go of it. So it holds
//! at most the bodies of the fills in flight. The store is fed from the same chunks in
//! memory, never from the spool: this is not spooling on the way to S3.
//!
//! When the file the clients read fails (the disk is full), the sink goes on *in memory*:
//! [`Sink::append`] reports the failure once, and the caller sends the rest of the body
//! through the fill's memory tail (see `storage::tail`). A store writer beside a spool
//! keeps storing; a writer whose own file was the clients' file is dropped.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::storage::{BlobWriter, Digesting, Hashing, StoreError};

/// Why a fill's bytes could not be made readable.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool file in {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Create an unlinked spool file in `dir` (blocking).
fn create_unlinked(dir: &Path) -> std::io::Result<File> {
    let path = dir.join(format!(".mcdata-spool-{}", uuid::Uuid::new_v4()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// Create `dir` if needed and check that spool files can be made there (at start-up).
pub fn check_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    create_unlinked(dir).map(drop)
}

async fn blocking<T: Send + 'static>(
    dir: &Path,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, SpoolError> {
    let io = |source| SpoolError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(io),
        Err(e) => Err(io(std::io::Error::other(e.to_string()))),
    }
}

/// SHA-256 state over the first `len` bytes of `file` (blocking).
fn hash_prefix(file: &File, len: u64) -> std::io::Result<Sha256> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut pos = 0;
    while pos < len {
        let want = usize::try_from(len - pos).map_or(buf.len(), |w| w.min(buf.len()));
        let n = file.read_at(&mut buf[..want], pos)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "spool shorter than what was written",
            ));
        }
        hasher.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(hasher)
}

/// The clients' file failed at byte `at`: from there on the bytes are only in memory.
#[derive(Debug)]
pub struct FileFailed {
    pub at: u64,
    /// The store's error, when the clients' file was the store writer's own (the copy is
    /// lost with it); `None` when the spool failed.
    pub store: Option<StoreError>,
    pub reason: String,
}

/// The destination of one fill's bytes.
pub struct Sink {
    dir: PathBuf,
    writer: Option<Box<dyn BlobWriter>>,
    /// The spool, when readers read it rather than the writer's own file.
    spool: Option<Arc<File>>,
    /// What the fill's clients read: the writer's read handle or the spool (none when
    /// not even a spool could be made).
    readers: Option<Arc<File>>,
    /// Set once the clients' file failed: the bytes from here on are only in memory.
    memory_from: Option<u64>,
    /// Our own digest, while there is no writer to keep one.
    own: Option<Digesting>,
    hashing: Hashing,
    len: u64,
}

impl Sink {
    /// A sink writing to `writer` (none: pass-through), spooling in `dir` when needed, and
    /// hashing what it takes in when `hashing` asks for it (the writer, when there is one,
    /// was created with the same choice).
    pub async fn new(
        writer: Option<Box<dyn BlobWriter>>,
        dir: &Path,
        hashing: Hashing,
    ) -> Result<Self, SpoolError> {
        if let Some(handle) = writer.as_ref().and_then(|w| w.read_handle()) {
            return Ok(Sink {
                dir: dir.to_path_buf(),
                writer,
                spool: None,
                readers: Some(handle),
                memory_from: None,
                own: None,
                hashing,
                len: 0,
            });
        }
        let d = dir.to_path_buf();
        let (spool, memory_from) = match blocking(dir, move || create_unlinked(&d)).await {
            Ok(f) => (Some(Arc::new(f)), None),
            Err(e) => {
                tracing::warn!(error = %e, "no spool file: this fill goes through memory");
                (None, Some(0))
            }
        };
        Ok(Sink {
            dir: dir.to_path_buf(),
            own: writer.is_none().then(|| Digesting::new(hashing)),
            hashing,
            writer,
            readers: spool.clone(),
            spool,
            memory_from,
            len: 0,
        })
    }

    /// The file the fill's clients read positionally (none: everything is in memory).
    pub fn readers(&self) -> Option<Arc<File>> {
        self.readers.clone()
    }

    /// Where the clients' file ends, once it failed (the rest is only in memory).
    pub fn memory_from(&self) -> Option<u64> {
        self.memory_from
    }

    /// True while the bytes also go to the store.
    pub fn storing(&self) -> bool {
        self.writer.is_some()
    }

    /// Bytes made readable so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Make `chunk` readable by the fill's clients: in their file, or, once that failed,
    /// in memory (the caller hands it to the fill's memory tail). The failure of the file
    /// is returned once, when it happens; an error here (of the digest) ends the fill.
    pub async fn append(&mut self, chunk: &Bytes) -> Result<Option<FileFailed>, SpoolError> {
        let n = chunk.len() as u64;
        let pending = match &mut self.own {
            Some(d) => Some(d.start(chunk)?),
            None => None,
        };
        let mut failed = None;
        if self.memory_from.is_none() {
            match (&self.spool, self.writer.as_mut()) {
                (Some(spool), _) => {
                    let (file, c, at) = (spool.clone(), chunk.clone(), self.len);
                    if let Err(e) = blocking(&self.dir, move || file.write_all_at(&c, at)).await {
                        // The store writer beside the spool, if any, goes on storing.
                        failed = Some(FileFailed {
                            at: self.len,
                            store: None,
                            reason: e.to_string(),
                        });
                    }
                }
                (None, Some(w)) => {
                    if let Err(e) = w.write(chunk.clone()).await {
                        failed = Some(FileFailed {
                            at: self.len,
                            reason: e.to_string(),
                            store: Some(e),
                        });
                    }
                }
                (None, None) => {
                    return Err(StoreError::Task("sink without destination".into()).into())
                }
            }
        }
        if let (Some(d), Some(p)) = (&mut self.own, pending) {
            d.done(p).await?;
        }
        if let Some(f) = &failed {
            self.memory_from = Some(f.at);
            if f.store.is_some() {
                // The writer's own file was the clients' file: the copy is lost.
                self.writer = None;
            }
            if self.own.is_none() {
                // Our own digest from now on (the writer may fail later, and the file
                // takes no more bytes): it resumes from what the file holds, then takes
                // this chunk.
                let mut d = self.resumed_digest(f.at).await?;
                let p = d.start(chunk)?;
                d.done(p).await?;
                self.own = Some(d);
            }
        }
        self.len += n;
        Ok(failed)
    }

    /// A digest of the first `len` bytes of the clients' file, to go on from.
    fn resumed_digest(
        &self,
        len: u64,
    ) -> impl std::future::Future<Output = Result<Digesting, SpoolError>> + Send + 'static {
        let (hashing, readers, dir) = (self.hashing, self.readers.clone(), self.dir.clone());
        async move {
            match (hashing, readers) {
                (Hashing::Sha256, Some(file)) => {
                    let hasher = blocking(&dir, move || hash_prefix(&file, len)).await?;
                    Ok(Digesting::resumed(hasher, len))
                }
                _ => Ok(Digesting::new(Hashing::Off)),
            }
        }
    }

    /// Hand `chunk`, already appended, to the store when it is written beside the spool.
    /// A failure drops the writer (which aborts its upload): the fill goes on serving its
    /// clients from the spool without keeping a copy. The store's error is returned for logs
    /// and metrics; an error of the spool itself (re-reading it for the digest) is fatal.
    pub async fn store(&mut self, chunk: Bytes) -> Result<Option<StoreError>, SpoolError> {
        let (Some(spool), Some(writer)) = (&self.spool, self.writer.as_mut()) else {
            return Ok(None);
        };
        let Err(e) = writer.write(chunk).await else {
            return Ok(None);
        };
        self.writer = None;
        if self.own.is_some() {
            // Already digesting on our own (the spool failed before).
            return Ok(Some(e));
        }
        let (file, len) = (spool.clone(), self.len);
        self.own = Some(match self.hashing {
            Hashing::Sha256 => {
                let hasher = blocking(&self.dir, move || hash_prefix(&file, len)).await?;
                Digesting::resumed(hasher, len)
            }
            Hashing::Off => Digesting::new(Hashing::Off),
        });
        Ok(Some(e))
    }

    /// SHA-256 of the bytes appended so far; `None` when not hashing.
    pub fn sha256(&self) -> Option<[u8; 32]> {
        match (&self.writer, &self.own) {
            (_, Some(d)) => d.sha256(),
            (Some(w), None) => w.sha256(),
            (None, None) => None,
        }
    }

    /// The store's writer, to finish (none when passing through or after a store failure).
    pub fn into_writer(self) -> Option<Box<dyn BlobWriter>> {
        self.writer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::read_at;

    #[tokio::test]
    async fn spool_is_unlinked_readable_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        check_dir(dir.path()).unwrap();
        let mut sink = Sink::new(None, dir.path(), Hashing::Sha256).await.unwrap();
        assert!(!sink.storing());
        sink.append(&Bytes::from_static(b"hello ")).await.unwrap();
        sink.append(&Bytes::from_static(b"world")).await.unwrap();
        assert!(sink
            .store(Bytes::from_static(b"x"))
            .await
            .unwrap()
            .is_none());
        assert_eq!(
            &read_at(sink.readers().unwrap(), 0..11).await.unwrap()[..],
            b"hello world"
        );
        assert_eq!(
            sink.sha256(),
            Some(<[u8; 32]>::from(Sha256::digest(b"hello world")))
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no name");
    }

    #[test]
    fn prefix_hash_matches() {
        let dir = tempfile::tempdir().unwrap();
        let f = create_unlinked(dir.path()).unwrap();
        f.write_all_at(b"abcdef", 0).unwrap();
        let h = hash_prefix(&f, 4).unwrap();
        assert_eq!(
            <[u8; 32]>::from(h.finalize()),
            <[u8; 32]>::from(Sha256::digest(b"abcd"))
        );
    }
}
