//! The S3 backend: object_store's `AmazonS3` against MinIO or any S3-compatible server.
//!
//! Bodies go up as streaming multipart uploads of [`PART`] bytes, fed from the chunks the
//! writer is given: at most a few parts are held in memory per writer (the one being
//! filled and up to [`PARTS_IN_FLIGHT`] uploading), never the whole body, and nothing is
//! written to local disk. A body smaller than one part goes up as a single PUT. Nothing is
//! visible at the key until `finish` completes the upload (S3 makes the object appear
//! atomically); a writer dropped unfinished aborts its multipart upload in the background.
//! Reads are (ranged) GETs streamed to the client. Writers have no read handle: readers of
//! a running fill read the fill's local spool instead (see `cache::spool`).
//!
//! Endpoint, region and credentials come from [`S3Options`] (config file or flags), each
//! falling back to the standard AWS environment variables. Path-style requests are the
//! default (MinIO needs them); plain http is allowed when the endpoint says `http://`.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjPath;
use object_store::{
    BackoffConfig, ClientConfigKey, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode,
    PutOptions, PutPayload, RetryConfig, UpdateVersion,
};

use crate::support::error_chain::chain;

use super::{BlobBody, BlobStore, BlobWriter, BoxFut, Hashing, Listed, PutIf, StoreError, Version};

mod writer;
use writer::S3Writer;

/// Size of one multipart part (S3 wants at least 5 MiB for all but the last).
pub const PART: usize = 8 * 1024 * 1024;
/// Parts of one writer uploading at the same time; the writer waits beyond that.
pub const PARTS_IN_FLIGHT: usize = 2;

/// Where and how to reach the S3 server. Every `None` falls back to the AWS environment
/// (`AWS_ENDPOINT_URL`/`AWS_ENDPOINT`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`).
#[derive(Clone, Default)]
pub struct S3Options {
    /// e.g. `http://127.0.0.1:9000` for a local MinIO.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow plain http; default: true exactly when the endpoint is `http://...`.
    pub allow_http: Option<bool>,
    /// Virtual-hosted-style requests (`bucket.host`); default path-style (`host/bucket`).
    pub virtual_hosted_style: bool,
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .finish()
    }
}

/// Objects under `prefix` in one bucket.
pub struct S3Blobs {
    /// Every request but streamed reads (each bounded to 30 s).
    inner: Arc<AmazonS3>,
    /// Streamed reads of bodies.
    reader: Arc<AmazonS3>,
    bucket: String,
    /// Key prefix without leading or trailing slash; may be empty.
    prefix: String,
    endpoint: String,
}

/// Requests are retried briefly: a store that is down must show quickly, so that fills
/// go on without it (pass-through) instead of stalling their clients for minutes.
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(10),
    }
}

/// Environment variables that select a credential source other than static keys.
const ROLE_CREDENTIAL_VARS: [&str; 3] = [
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
];

impl S3Blobs {
    /// Build the client for `bucket` (no request is made; see [`S3Blobs::check`]).
    pub fn connect(bucket: &str, prefix: &str, opts: &S3Options) -> Result<Self, StoreError> {
        // reqwest's rustls has no provider of its own in our build: ring is ours, installed
        // once per process (later calls find it installed and change nothing).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let unusable = |reason: String| StoreError::Unusable {
            store: format!("s3://{bucket}/{prefix}"),
            reason,
        };
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry_config())
            .with_virtual_hosted_style_request(opts.virtual_hosted_style);
        if let Some(e) = &opts.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &opts.region {
            b = b.with_region(r);
        }
        if let Some(k) = &opts.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &opts.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        let endpoint = b
            .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
            .or_else(|| b.get_config_value(&AmazonS3ConfigKey::Endpoint));
        let http = endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"));
        if let Some(allow) = opts.allow_http.or(http.then_some(true)) {
            b = b.with_allow_http(allow);
        }
        let has_keys = b
            .get_config_value(&AmazonS3ConfigKey::AccessKeyId)
            .is_some()
            || b.get_config_value(&AmazonS3ConfigKey::SecretAccessKey)
                .is_some();
        let has_role = ROLE_CREDENTIAL_VARS
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        if !has_keys && !has_role {
            // Without this, object_store would ask the EC2 instance metadata service.
            return Err(unusable(
                "no credentials: set s3-access-key-id and s3-secret-access-key in the config \
                 file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
                    .into(),
            ));
        }
        // Streamed reads are bounded by silence, not by duration: a large hit to a slow
        // client may take far longer than the 30 s that bound every other request.
        let streaming = b
            .clone()
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "24h")
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ReadTimeout),
                "30s",
            );
        let inner = b.build().map_err(|e| unusable(chain(&e)))?;
        let reader = streaming.build().map_err(|e| unusable(chain(&e)))?;
        Ok(S3Blobs {
            inner: Arc::new(inner),
            reader: Arc::new(reader),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            endpoint: endpoint.unwrap_or_else(|| "AWS".into()),
        })
    }

    /// One list, one put and one delete under the prefix: a missing bucket, refused
    /// credentials or a read-only key fail here, at start-up, with a readable reason.
    pub async fn check(&self) -> Result<(), StoreError> {
        let unusable = |e: object_store::Error| StoreError::Unusable {
            store: self.describe(),
            reason: explain(&e, &self.bucket, &self.endpoint),
        };
        let prefix = (!self.prefix.is_empty()).then(|| ObjPath::from(self.prefix.as_str()));
        self.inner
            .list_with_delimiter(prefix.as_ref())
            .await
            .map_err(unusable)?;
        let probe = self.path(&format!("_mcdata/probe-{}", uuid::Uuid::new_v4()));
        self.inner
            .put(&probe, PutPayload::from_static(b"probe"))
            .await
            .map_err(unusable)?;
        self.inner.delete(&probe).await.map_err(unusable)?;
        Ok(())
    }

    fn path(&self, key: &str) -> ObjPath {
        if self.prefix.is_empty() {
            ObjPath::from(key)
        } else {
            ObjPath::from(format!("{}/{key}", self.prefix))
        }
    }

    fn key_of(&self, path: &ObjPath) -> String {
        let full = path.as_ref();
        if self.prefix.is_empty() {
            return full.to_string();
        }
        full.strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(full)
            .to_string()
    }
}

/// What an operator should read about a failed start-up request.
fn explain(e: &object_store::Error, bucket: &str, endpoint: &str) -> String {
    let detail = chain(e);
    let has = |needle: &str| detail.contains(needle);
    let summary = if has("NoSuchBucket") || matches!(e, object_store::Error::NotFound { .. }) {
        format!("bucket {bucket} does not exist at {endpoint}; create it first (e.g. `mc mb`)")
    } else if has("InvalidAccessKeyId")
        || has("SignatureDoesNotMatch")
        || has("AccessDenied")
        || matches!(
            e,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        )
    {
        format!(
            "{endpoint} refused the credentials for bucket {bucket}: check the access key \
             and secret (s3-access-key-id / s3-secret-access-key or AWS_ACCESS_KEY_ID / \
             AWS_SECRET_ACCESS_KEY) and that the key may list, put and delete in the bucket"
        )
    } else if has("error sending request") || has("onnect") || has("dns error") {
        format!("cannot reach {endpoint}")
    } else {
        "the S3 server answered with an error".to_string()
    };
    format!("{summary} ({detail})")
}

fn os_err(key: &str, e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound(key.to_string()),
        other => StoreError::ObjectStore(other),
    }
}

impl BlobStore for S3Blobs {
    fn describe(&self) -> String {
        format!("s3://{}/{} at {}", self.bucket, self.prefix, self.endpoint)
    }

    fn create<'a>(
        &'a self,
        key: &'a str,
        hashing: Hashing,
    ) -> BoxFut<'a, Result<Box<dyn BlobWriter>, StoreError>> {
        Box::pin(async move {
            Ok(Box::new(S3Writer::new(
                self.inner.clone(),
                self.path(key),
                key,
                hashing,
            )) as Box<dyn BlobWriter>)
        })
    }

    fn open<'a>(
        &'a self,
        key: &'a str,
        range: Option<Range<u64>>,
    ) -> BoxFut<'a, Result<BlobBody, StoreError>> {
        Box::pin(async move {
            let path = self.path(key);
            if range.as_ref().is_some_and(|r| r.start >= r.end) {
                // S3 has no empty range: check the object exists, send nothing.
                self.inner.head(&path).await.map_err(|e| os_err(key, e))?;
                return Ok(BlobBody::Stream {
                    len: 0,
                    stream: futures_util::stream::empty().boxed(),
                });
            }
            let opts = GetOptions {
                range: range.map(GetRange::Bounded),
                ..Default::default()
            };
            let got = self
                .reader
                .get_opts(&path, opts)
                .await
                .map_err(|e| os_err(key, e))?;
            let len = got.range.end.saturating_sub(got.range.start);
            let owned = key.to_string();
            let stream = got
                .into_stream()
                .map_err(move |e| os_err(&owned, e))
                .boxed();
            Ok(BlobBody::Stream { len, stream })
        })
    }

    fn put_small<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.inner
                .put(&self.path(key), PutPayload::from_bytes(data))
                .await
                .map_err(|e| os_err(key, e))?;
            Ok(())
        })
    }

    fn get_small_versioned<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFut<'a, Result<Option<(Bytes, Version)>, StoreError>> {
        Box::pin(async move {
            match self.inner.get(&self.path(key)).await {
                Ok(r) => {
                    let version = Version::of(&r.meta);
                    let data = r.bytes().await.map_err(|e| os_err(key, e))?;
                    Ok(Some((data, version)))
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
            let mode = match cond {
                PutIf::Absent => PutMode::Create,
                PutIf::Unchanged(v) => PutMode::Update(UpdateVersion {
                    e_tag: v.e_tag,
                    version: v.version,
                }),
            };
            let opts = PutOptions {
                mode,
                ..Default::default()
            };
            match self
                .inner
                .put_opts(&self.path(key), PutPayload::from_bytes(data), opts)
                .await
            {
                Ok(_) => Ok(()),
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => Err(StoreError::Conflict(key.to_string())),
                Err(e) => Err(os_err(key, e)),
            }
        })
    }

    fn get_small<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<Option<Bytes>, StoreError>> {
        Box::pin(async move {
            match self.inner.get(&self.path(key)).await {
                Ok(r) => Ok(Some(r.bytes().await.map_err(|e| os_err(key, e))?)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            match self.inner.delete(&self.path(key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFut<'a, Result<Vec<Listed>, StoreError>> {
        Box::pin(async move {
            let metas: Vec<_> = self
                .inner
                .list(Some(&self.path(prefix)))
                .try_collect()
                .await?;
            Ok(metas
                .into_iter()
                .map(|m| Listed {
                    key: self.key_of(&m.location),
                    size: m.size,
                    modified: m.last_modified.into(),
                })
                .collect())
        })
    }

    fn sweep_staging(&self) -> BoxFut<'_, Result<usize, StoreError>> {
        // object_store cannot list incomplete multipart uploads: the bucket's lifecycle
        // rule (AbortIncompleteMultipartUpload) removes those a crash left behind.
        Box::pin(async { Ok(0) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_prefixes() {
        let opts = S3Options {
            endpoint: Some("http://127.0.0.1:1".into()),
            access_key_id: Some("k".into()),
            secret_access_key: Some("s".into()),
            ..Default::default()
        };
        let s = S3Blobs::connect("b", "p/q", &opts).unwrap();
        assert_eq!(s.path("cache/x.body").as_ref(), "p/q/cache/x.body");
        assert_eq!(s.key_of(&s.path("cache/x.body")), "cache/x.body");
        let s = S3Blobs::connect("b", "", &opts).unwrap();
        assert_eq!(s.path("files/y.meta").as_ref(), "files/y.meta");
        assert!(!format!("{opts:?}").contains("\"s\""), "secret redacted");
    }
}
