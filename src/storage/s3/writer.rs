//! The S3 body writer: a multipart upload fed from the chunks it is given, with bounded
//! memory (one part filling, at most [`PARTS_IN_FLIGHT`] uploading), hashing as it goes; a
//! body under one part goes up as a single PUT. Dropped unfinished, it aborts its upload.

use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};

use super::{os_err, PART, PARTS_IN_FLIGHT};
use crate::storage::{BlobWriter, BoxFut, Digesting, Hashing, StoreError, Written};

/// Where a writer's bytes are.
enum Upload {
    /// Less than one part so far, in memory; no request made yet.
    Buffer(Vec<Bytes>, usize),
    /// A multipart upload is open.
    Multipart(WriteMultipart),
    /// Finished or handed to `finish`.
    Closed,
}

/// A body streaming into S3.
pub(super) struct S3Writer {
    store: Arc<AmazonS3>,
    path: ObjPath,
    key: String,
    upload: Upload,
    /// `None` after a failed write: the writer is unusable.
    digest: Digesting,
}

impl S3Writer {
    /// A writer for `key`, stored at `path`; no request is made before a part is full.
    pub(super) fn new(store: Arc<AmazonS3>, path: ObjPath, key: &str, hashing: Hashing) -> Self {
        S3Writer {
            store,
            path,
            key: key.to_string(),
            upload: Upload::Buffer(Vec::new(), 0),
            digest: Digesting::new(hashing),
        }
    }

    async fn push(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        match std::mem::replace(&mut self.upload, Upload::Closed) {
            Upload::Buffer(mut parts, held) => {
                let held = held + chunk.len();
                parts.push(chunk);
                if held < PART {
                    self.upload = Upload::Buffer(parts, held);
                    return Ok(());
                }
                let upload = self
                    .store
                    .put_multipart(&self.path)
                    .await
                    .map_err(|e| os_err(&self.key, e))?;
                let mut wm = WriteMultipart::new_with_chunk_size(upload, PART);
                for p in parts {
                    wm.put(p);
                }
                self.upload = Upload::Multipart(wm);
                Ok(())
            }
            Upload::Multipart(mut wm) => {
                // Back-pressure: wait while PARTS_IN_FLIGHT parts upload, so memory stays
                // bounded whatever the speed of the source.
                let ready = wm.wait_for_capacity(PARTS_IN_FLIGHT).await;
                wm.put(chunk);
                // Put back even on error, so that dropping the writer aborts the upload.
                self.upload = Upload::Multipart(wm);
                ready.map_err(|e| os_err(&self.key, e))
            }
            Upload::Closed => Err(StoreError::Task("write after finish".into())),
        }
    }
}

impl BlobWriter for S3Writer {
    fn write(&mut self, chunk: Bytes) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let pending = self.digest.start(&chunk)?;
            self.push(chunk).await?;
            self.digest.done(pending).await
        })
    }

    fn len(&self) -> u64 {
        self.digest.len()
    }

    fn sha256(&self) -> Option<[u8; 32]> {
        self.digest.sha256()
    }

    fn read_handle(&self) -> Option<Arc<std::fs::File>> {
        None
    }

    fn finish(mut self: Box<Self>) -> BoxFut<'static, Result<Written, StoreError>> {
        Box::pin(async move {
            self.digest.check()?;
            let written = self.digest.written();
            match std::mem::replace(&mut self.upload, Upload::Closed) {
                Upload::Buffer(parts, _) => {
                    let payload: PutPayload = parts.into_iter().collect();
                    self.store
                        .put(&self.path, payload)
                        .await
                        .map_err(|e| os_err(&self.key, e))?;
                }
                // On failure WriteMultipart aborts the upload itself.
                Upload::Multipart(wm) => {
                    wm.finish().await.map_err(|e| os_err(&self.key, e))?;
                }
                Upload::Closed => return Err(StoreError::Task("finished twice".into())),
            }
            Ok(written)
        })
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        let Upload::Multipart(wm) = std::mem::replace(&mut self.upload, Upload::Closed) else {
            return;
        };
        let key = self.key.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    match wm.abort().await {
                        Ok(()) => tracing::debug!(key, "multipart upload aborted"),
                        Err(e) => tracing::warn!(
                            key,
                            error = %e,
                            "could not abort a multipart upload; the bucket's lifecycle rule will remove it"
                        ),
                    }
                });
            }
            Err(_) => tracing::warn!(
                key,
                "no runtime to abort a multipart upload; the bucket's lifecycle rule will remove it"
            ),
        }
    }
}
