//! The local-disk backend: object_store's `LocalFileSystem` for small objects, listing and
//! deletes, plus our own body writer and reader around it.
//!
//! Why our own body path: `LocalFileSystem` streams reads in 8 KiB pieces and offers no way
//! to read an upload while it is being written. Bodies are staged in `<root>/.staging/`,
//! read positionally (`pread`, big chunks) by any number of readers while the write runs,
//! then fsynced (when configured) and renamed into place, which is atomic.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use object_store::{PutMode, PutOptions};

use super::{
    BlobBody, BlobStore, BlobWriter, BoxFut, Digesting, Hashing, Listed, PutIf, StoreError,
    Version, Written,
};

const STAGING: &str = ".staging";

/// Objects under one directory.
pub struct LocalBlobs {
    root: PathBuf,
    inner: LocalFileSystem,
    fsync: bool,
    /// Serializes conditional updates (see `put_small_if`).
    conditional: tokio::sync::Mutex<()>,
}

impl LocalBlobs {
    /// Open (creating if needed) the store rooted at `dir`.
    pub fn open(dir: &Path, fsync: bool) -> Result<Self, StoreError> {
        let key = dir.display().to_string();
        std::fs::create_dir_all(dir.join(STAGING)).map_err(|e| StoreError::io(&key, e))?;
        let root = std::fs::canonicalize(dir).map_err(|e| StoreError::io(&key, e))?;
        let inner = LocalFileSystem::new_with_prefix(&root)?
            .with_fsync(fsync)
            .with_automatic_cleanup(true);
        Ok(LocalBlobs {
            root,
            inner,
            fsync,
            conditional: tokio::sync::Mutex::new(()),
        })
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

async fn blocking<T: Send + 'static>(
    key: &str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| StoreError::io(key, e)),
        Err(e) => Err(StoreError::Task(e.to_string())),
    }
}

impl BlobStore for LocalBlobs {
    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn create<'a>(
        &'a self,
        key: &'a str,
        hashing: Hashing,
    ) -> BoxFut<'a, Result<Box<dyn BlobWriter>, StoreError>> {
        Box::pin(async move {
            let staging = self
                .root
                .join(STAGING)
                .join(uuid::Uuid::new_v4().to_string());
            let s = staging.clone();
            let file = blocking(key, move || {
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&s)
            })
            .await?;
            Ok(Box::new(LocalWriter {
                key: key.to_string(),
                dest: self.path_of(key),
                staging,
                file: Arc::new(file),
                digest: Digesting::new(hashing),
                fsync: self.fsync,
                published: false,
            }) as Box<dyn BlobWriter>)
        })
    }

    fn open<'a>(
        &'a self,
        key: &'a str,
        _range: Option<std::ops::Range<u64>>,
    ) -> BoxFut<'a, Result<BlobBody, StoreError>> {
        // Always the whole file: readers read their range positionally.
        Box::pin(async move {
            let path = self.path_of(key);
            let (file, len) = blocking(key, move || {
                let f = File::open(&path)?;
                let len = f.metadata()?.len();
                Ok((f, len))
            })
            .await?;
            Ok(BlobBody::File {
                file: Arc::new(file),
                len,
            })
        })
    }

    fn put_small<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.inner
                .put(&ObjPath::from(key), PutPayload::from_bytes(data))
                .await?;
            Ok(())
        })
    }

    fn get_small_versioned<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFut<'a, Result<Option<(Bytes, Version)>, StoreError>> {
        Box::pin(async move {
            match self.inner.get(&ObjPath::from(key)).await {
                Ok(r) => {
                    let version = Version::of(&r.meta);
                    Ok(Some((r.bytes().await?, version)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn put_small_if<'a>(
        &'a self,
        key: &'a str,
        data: Bytes,
        cond: PutIf,
    ) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let path = ObjPath::from(key);
            let conflict = || StoreError::Conflict(key.to_string());
            match cond {
                // Atomic on the file system (a hard link that fails when the name exists).
                PutIf::Absent => {
                    let opts = PutOptions {
                        mode: PutMode::Create,
                        ..Default::default()
                    };
                    match self
                        .inner
                        .put_opts(&path, PutPayload::from_bytes(data), opts)
                        .await
                    {
                        Ok(_) => Ok(()),
                        Err(object_store::Error::AlreadyExists { .. }) => Err(conflict()),
                        Err(e) => Err(e.into()),
                    }
                }
                // LocalFileSystem has no compare-and-swap: compare and write under this
                // store's lock, atomic within the process that owns the directory.
                PutIf::Unchanged(v) => {
                    let _serial = self.conditional.lock().await;
                    let current = match self.inner.head(&path).await {
                        Ok(m) => m,
                        Err(object_store::Error::NotFound { .. }) => return Err(conflict()),
                        Err(e) => return Err(e.into()),
                    };
                    if current.e_tag != v.e_tag {
                        return Err(conflict());
                    }
                    self.inner.put(&path, PutPayload::from_bytes(data)).await?;
                    Ok(())
                }
            }
        })
    }

    fn get_small<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<Option<Bytes>, StoreError>> {
        Box::pin(async move {
            match self.inner.get(&ObjPath::from(key)).await {
                Ok(r) => Ok(Some(r.bytes().await?)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            match self.inner.delete(&ObjPath::from(key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFut<'a, Result<Vec<Listed>, StoreError>> {
        Box::pin(async move {
            if !self.root.join(prefix).exists() {
                return Ok(Vec::new());
            }
            let metas: Vec<_> = self
                .inner
                .list(Some(&ObjPath::from(prefix)))
                .try_collect()
                .await?;
            Ok(metas
                .into_iter()
                .map(|m| Listed {
                    key: m.location.to_string(),
                    size: m.size,
                    modified: m.last_modified.into(),
                })
                .collect())
        })
    }

    fn sweep_staging(&self) -> BoxFut<'_, Result<usize, StoreError>> {
        let root = self.root.clone();
        Box::pin(async move { blocking("staging", move || sweep(&root)).await })
    }
}

/// Remove our staging files and `LocalFileSystem`'s `name#N` staging files.
fn sweep(root: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(root.join(STAGING))? {
        std::fs::remove_file(entry?.path())?;
        removed += 1;
    }
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                if entry.file_name() != STAGING {
                    dirs.push(path);
                }
            } else if is_object_store_staging(&entry.file_name().to_string_lossy()) {
                std::fs::remove_file(&path)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

fn is_object_store_staging(name: &str) -> bool {
    matches!(name.rsplit_once('#'), Some((_, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A body being staged on local disk.
struct LocalWriter {
    key: String,
    dest: PathBuf,
    staging: PathBuf,
    file: Arc<File>,
    digest: Digesting,
    fsync: bool,
    published: bool,
}

impl BlobWriter for LocalWriter {
    fn write(&mut self, chunk: Bytes) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let pending = self.digest.start(&chunk)?;
            let file = self.file.clone();
            blocking(&self.key, move || (&*file).write_all(&chunk)).await?;
            self.digest.done(pending).await
        })
    }

    fn len(&self) -> u64 {
        self.digest.len()
    }

    fn sha256(&self) -> Option<[u8; 32]> {
        self.digest.sha256()
    }

    fn read_handle(&self) -> Option<Arc<File>> {
        Some(self.file.clone())
    }

    fn finish(mut self: Box<Self>) -> BoxFut<'static, Result<Written, StoreError>> {
        Box::pin(async move {
            let written = self.digest.written();
            let (file, staging, dest, fsync) = (
                self.file.clone(),
                self.staging.clone(),
                self.dest.clone(),
                self.fsync,
            );
            blocking(&self.key, move || {
                if fsync {
                    file.sync_data()?;
                }
                let parent = dest
                    .parent()
                    .ok_or_else(|| std::io::Error::other("key has no parent"))?;
                std::fs::create_dir_all(parent)?;
                std::fs::rename(&staging, &dest)?;
                if fsync {
                    File::open(parent)?.sync_all()?;
                }
                Ok(())
            })
            .await?;
            self.published = true;
            Ok(written)
        })
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if !self.published {
            // An abandoned write: remove the staging file so nothing half-written remains.
            let _ = std::fs::remove_file(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn write_read_publish_and_abort() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobs::open(dir.path(), false).unwrap();
        let mut w = store.create("a/b/obj", Hashing::Sha256).await.unwrap();
        w.write(Bytes::from_static(b"hello ")).await.unwrap();
        w.write(Bytes::from_static(b"world")).await.unwrap();
        let h = w.read_handle().unwrap();
        assert_eq!(&super::super::read_at(h, 0..5).await.unwrap()[..], b"hello");
        assert!(
            store.open("a/b/obj", None).await.is_err(),
            "not visible before finish"
        );
        let written = w.finish().await.unwrap();
        assert_eq!(written.len, 11);
        assert_eq!(
            written.sha256,
            Some(<[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest(
                b"hello world"
            )))
        );
        assert_eq!(store.open("a/b/obj", None).await.unwrap().len(), 11);

        let mut w = store.create("a/b/other", Hashing::Off).await.unwrap();
        w.write(Bytes::from_static(b"partial")).await.unwrap();
        drop(w);
        assert_eq!(
            std::fs::read_dir(dir.path().join(STAGING)).unwrap().count(),
            0
        );
        assert!(matches!(
            store.open("a/b/other", None).await,
            Err(StoreError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn small_objects_list_and_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobs::open(dir.path(), true).unwrap();
        store
            .put_small("m/x.json", Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert_eq!(
            store.get_small("m/x.json").await.unwrap().unwrap(),
            Bytes::from_static(b"{}")
        );
        assert_eq!(store.get_small("m/none").await.unwrap(), None);
        let listed = store.list("m").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].key.as_str(), listed[0].size), ("m/x.json", 2));
        assert!(store.list("nothing").await.unwrap().is_empty());
        std::fs::write(dir.path().join(STAGING).join("leftover"), b"x").unwrap();
        std::fs::write(dir.path().join("m").join("y.json#3"), b"x").unwrap();
        assert_eq!(store.sweep_staging().await.unwrap(), 2);
        store.delete("m/x.json").await.unwrap();
        store.delete("m/x.json").await.unwrap();
        assert_eq!(store.get_small("m/x.json").await.unwrap(), None);
    }
}
