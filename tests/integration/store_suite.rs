//! One storage test suite, [`suite`], run against every backend: local disk
//! (object_store's `LocalFileSystem`) and a real S3 server (s3s-fs). Plus S3 start-up
//! checks: a missing bucket, refused credentials or an unreachable endpoint fail with a
//! readable reason.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use mcdata::storage::{
    open_store, BlobBody, BlobStore, Hashing, S3Options, StoreError, StoreOptions,
};
use sha2::{Digest, Sha256};

use crate::harness::data;
use crate::s3::{S3Server, ACCESS_KEY, SECRET_KEY};

/// Read `range` of an opened object, whichever kind of body it is.
async fn read(body: BlobBody, range: std::ops::Range<u64>) -> Vec<u8> {
    match body {
        BlobBody::File { file, .. } => mcdata::storage::read_at(file, range)
            .await
            .unwrap()
            .to_vec(),
        BlobBody::Stream { len, mut stream } => {
            let mut out = Vec::new();
            while let Some(b) = stream.next().await {
                out.extend_from_slice(&b.unwrap());
            }
            assert_eq!(out.len() as u64, len);
            out
        }
    }
}

async fn write_all(store: &dyn BlobStore, key: &str, body: &[u8]) -> mcdata::storage::Written {
    // Hashing off: the writer only counts (a partner copy whose primary sent no digest).
    let mut w = store.create(key, Hashing::Off).await.unwrap();
    for c in body.chunks(512 * 1024) {
        w.write(Bytes::copy_from_slice(c)).await.unwrap();
    }
    assert_eq!(w.len(), body.len() as u64);
    assert_eq!(w.sha256(), None);
    let written = w.finish().await.unwrap();
    assert_eq!(written.sha256, None);
    written
}

/// What every backend must do. `big` is larger than several S3 parts.
pub async fn suite(store: Arc<dyn BlobStore>) {
    let big = data(20 * 1024 * 1024 + 17, 1);
    let key = "cache/ab/abcd/v1.body";

    // Bodies: invisible until finished, then whole, hashed, readable by range.
    let mut w = store.create(key, Hashing::Sha256).await.unwrap();
    for c in big.chunks(512 * 1024) {
        w.write(Bytes::copy_from_slice(c)).await.unwrap();
    }
    assert!(matches!(
        store.open(key, None).await,
        Err(StoreError::NotFound(_))
    ));
    let written = w.finish().await.unwrap();
    assert_eq!(written.len, big.len() as u64);
    assert_eq!(written.sha256, Some(<[u8; 32]>::from(Sha256::digest(&big))));
    let whole = store.open(key, None).await.unwrap();
    assert_eq!(whole.len(), big.len() as u64);
    assert!(read(whole, 0..big.len() as u64).await == big);
    let r = 9 * 1024 * 1024 - 5..9 * 1024 * 1024 + 100;
    let part = store.open(key, Some(r.clone())).await.unwrap();
    assert_eq!(
        read(part, r.clone()).await,
        big[r.start as usize..r.end as usize]
    );

    // A small body and an empty one.
    let small = data(1000, 2);
    assert_eq!(
        write_all(&*store, "cache/ab/abcd/v2.body", &small)
            .await
            .len,
        1000
    );
    let b = store.open("cache/ab/abcd/v2.body", None).await.unwrap();
    assert_eq!(read(b, 0..1000).await, small);
    let empty = write_all(&*store, "cache/ab/abcd/v3.body", &[]).await;
    assert_eq!(empty.len, 0);
    assert_eq!(
        store
            .open("cache/ab/abcd/v3.body", None)
            .await
            .unwrap()
            .len(),
        0
    );

    // An abandoned body (larger than a part) leaves nothing visible.
    let mut w = store
        .create("cache/ab/abcd/gone.body", Hashing::Sha256)
        .await
        .unwrap();
    for c in big[..12 * 1024 * 1024].chunks(1024 * 1024) {
        w.write(Bytes::copy_from_slice(c)).await.unwrap();
    }
    drop(w);
    assert!(matches!(
        store.open("cache/ab/abcd/gone.body", None).await,
        Err(StoreError::NotFound(_))
    ));

    // Small objects, listing, deleting.
    store
        .put_small("cache/ab/abcd/v1.meta", Bytes::from_static(b"{\"a\":1}"))
        .await
        .unwrap();
    store
        .put_small("cache/ab/abcd/v1.meta", Bytes::from_static(b"{\"a\":2}"))
        .await
        .unwrap();
    assert_eq!(
        store.get_small("cache/ab/abcd/v1.meta").await.unwrap(),
        Some(Bytes::from_static(b"{\"a\":2}"))
    );
    assert_eq!(store.get_small("cache/none.meta").await.unwrap(), None);
    store
        .put_small("cachex/other.json", Bytes::from_static(b"x"))
        .await
        .unwrap();
    let mut listed = store.list("cache").await.unwrap();
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<(&str, u64)> = listed.iter().map(|l| (l.key.as_str(), l.size)).collect();
    assert_eq!(
        keys,
        vec![
            ("cache/ab/abcd/v1.body", big.len() as u64),
            ("cache/ab/abcd/v1.meta", 7),
            ("cache/ab/abcd/v2.body", 1000),
            ("cache/ab/abcd/v3.body", 0),
        ]
    );
    let age = std::time::SystemTime::now()
        .duration_since(listed[0].modified)
        .unwrap_or_default();
    assert!(age.as_secs() < 600, "modified is recent: {age:?}");
    assert!(store.list("nothing").await.unwrap().is_empty());
    for k in [
        "cache/ab/abcd/v1.body",
        "cache/ab/abcd/v1.meta",
        "cache/ab/abcd/v1.meta",
    ] {
        store.delete(k).await.unwrap();
    }
    assert!(matches!(
        store.open("cache/ab/abcd/v1.body", None).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.list("cache").await.unwrap().len(), 2);
    assert!(store.sweep_staging().await.is_ok());
    conditional_writes(store.as_ref()).await;
}

/// Conditional writes of small objects: create only if absent, replace only the version
/// read (what instances on one bucket coordinate with).
async fn conditional_writes(store: &dyn BlobStore) {
    use mcdata::storage::PutIf;
    let key = "files/cond.meta";
    store.delete(key).await.unwrap();
    assert!(store.get_small_versioned(key).await.unwrap().is_none());
    store
        .put_small_if(key, Bytes::from_static(b"one"), PutIf::Absent)
        .await
        .unwrap();
    assert!(matches!(
        store
            .put_small_if(key, Bytes::from_static(b"two"), PutIf::Absent)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let (data, v1) = store.get_small_versioned(key).await.unwrap().unwrap();
    assert_eq!(data.as_ref(), b"one");
    store
        .put_small_if(
            key,
            Bytes::from_static(b"three"),
            PutIf::Unchanged(v1.clone()),
        )
        .await
        .unwrap();
    assert!(
        matches!(
            store
                .put_small_if(key, Bytes::from_static(b"four"), PutIf::Unchanged(v1))
                .await,
            Err(StoreError::Conflict(_))
        ),
        "a write from the version read before another one loses"
    );
    let (data, _) = store.get_small_versioned(key).await.unwrap().unwrap();
    assert_eq!(data.as_ref(), b"three");
    store.delete(key).await.unwrap();
}

#[tokio::test]
async fn suite_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let store = open_store(&url, &StoreOptions::default()).await.unwrap();
    suite(store).await;
}

fn s3_options(s3: &S3Server) -> StoreOptions {
    StoreOptions {
        fsync: false,
        s3: S3Options {
            endpoint: Some(s3.endpoint()),
            region: Some("us-east-1".into()),
            access_key_id: Some(ACCESS_KEY.into()),
            secret_access_key: Some(SECRET_KEY.into()),
            ..Default::default()
        },
    }
}

#[tokio::test]
async fn suite_on_s3() {
    let Some(s3) = S3Server::start("suite_on_s3").await else {
        return;
    };
    s3.bucket("suite", "p");
    let store = open_store("s3://suite/p", &s3_options(&s3)).await.unwrap();
    suite(store).await;
    // The abandoned multipart upload was aborted, not left behind.
    assert!(
        crate::harness::eventually(std::time::Duration::from_secs(5), || s3
            .pending_uploads()
            .is_empty())
        .await,
        "{:?}",
        s3.pending_uploads()
    );
}

#[tokio::test]
async fn s3_start_up_errors_are_clear() {
    let Some(s3) = S3Server::start("s3_start_up_errors_are_clear").await else {
        return;
    };
    s3.bucket("present", "");
    let err = |r: Result<Arc<dyn BlobStore>, StoreError>| match r {
        Ok(_) => panic!("must fail"),
        Err(e) => e.to_string(),
    };
    let missing = err(open_store("s3://absent/x", &s3_options(&s3)).await);
    assert!(
        missing.contains("bucket absent does not exist"),
        "{missing}"
    );

    let mut bad = s3_options(&s3);
    bad.s3.secret_access_key = Some("wrong-secret".into());
    let refused = err(open_store("s3://present/x", &bad).await);
    assert!(refused.contains("refused the credentials"), "{refused}");

    let mut none = s3_options(&s3);
    none.s3.access_key_id = None;
    none.s3.secret_access_key = None;
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        let no_creds = err(open_store("s3://present/x", &none).await);
        assert!(no_creds.contains("no credentials"), "{no_creds}");
    }

    let mut closed = s3_options(&s3);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    closed.s3.endpoint = Some(format!("http://{}", l.local_addr().unwrap()));
    drop(l);
    let unreachable = err(open_store("s3://present/x", &closed).await);
    assert!(unreachable.contains("cannot reach"), "{unreachable}");
}
