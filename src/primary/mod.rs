//! The primary role: files uploaded by our own users (TS 23.282 7.5.2.2), served to clients
//! and to partner content servers (file retrieve, steps 11-12, recorded per partner system),
//! expired after their availability, and removed on request (7.5.2.8) with purges sent to
//! every partner that holds a copy.
//!
//! The store is the one source of truth, so that several instances of one system can share
//! a bucket: a record not held in memory (or held longer than [`RECORD_TTL`]) is read from
//! the store, a file unknown there is remembered as unknown for [`RECORD_TTL`] only, and a
//! file is retired (removed or expired) by a conditional write on the version of its record
//! that was read: exactly one instance wins and sends the notices and purges; the others
//! re-read and find the tombstone, which is never overwritten.

pub mod deliveries;
pub mod notify;
mod outbox;
pub mod purge;
pub mod record;
mod upload;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::access::{AccessError, Caller, SharedAccess};
use crate::http::body::{self, Body};
use crate::http::error::ApiError;
use crate::http::representation::Span;
use crate::http::stream_body;
use crate::metrics::Metrics;
use crate::storage::{BlobStore, PutIf, StoreError};
use crate::support::time::{from_unix, unix};
use deliveries::Deliveries;
use purge::Purger;
use record::{FileRecord, FileState};

/// Settings of the primary role.
#[derive(Debug, Clone)]
pub struct PrimarySettings {
    pub public_base: String,
    pub max_upload_bytes: u64,
    pub default_availability: Duration,
    pub max_availability: Duration,
    /// This instance's id, unique among the instances on one store (its delivery records).
    pub instance_id: String,
    /// The longest an upload may go without sending data.
    pub body_timeout: Duration,
}

/// How long a record (or the absence of one) read from the store is trusted before it is
/// read again: an upload, removal or expiry through another instance on the same bucket is
/// seen here within this time.
pub const RECORD_TTL: Duration = Duration::from_secs(1);

/// A record as last read.
struct Cached {
    rec: Arc<FileRecord>,
    read_at: Instant,
}

/// How old a file body without its record must be before a start-up deletes it: longer
/// than any upload takes between its body and its record.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(3600);

/// Ids the store had no record of, remembered for [`RECORD_TTL`] (bounded: any client can
/// ask for any id).
const UNKNOWN_IDS: u64 = 100_000;

/// Something to tell when a file stops being available (the MCData server hooks in here
/// to send FD network notifications).
pub type RemovalHook = Arc<dyn Fn(&FileRecord, &str) + Send + Sync>;

/// The primary content server.
pub struct Primary {
    settings: PrimarySettings,
    store: Arc<dyn BlobStore>,
    access: SharedAccess,
    metrics: Metrics,
    files: RwLock<HashMap<String, Cached>>,
    unknown: moka::future::Cache<String, ()>,
    deliveries: Arc<Deliveries>,
    purger: Arc<Purger>,
    hooks: RwLock<Vec<RemovalHook>>,
}

fn valid_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id)
}

/// The methods of `/files` (upload), of `/files/<id>` and of `/files/<id>/deliveries`
/// (the `Allow` of their 405s, RFC 9110 §15.5.6).
const COLLECTION: &[Method] = &[Method::POST];
const FILE: &[Method] = &[Method::GET, Method::HEAD, Method::DELETE];
const DELIVERIES: &[Method] = &[Method::GET];

impl Primary {
    pub fn new(
        settings: PrimarySettings,
        store: Arc<dyn BlobStore>,
        access: SharedAccess,
        metrics: Metrics,
        purger: Arc<Purger>,
    ) -> Self {
        Primary {
            deliveries: Arc::new(Deliveries::new(store.clone(), &settings.instance_id)),
            settings,

            store,
            access,
            metrics,
            files: RwLock::new(HashMap::new()),
            unknown: moka::future::Cache::builder()
                .max_capacity(UNKNOWN_IDS)
                .time_to_live(RECORD_TTL)
                .build(),
            purger,
            hooks: RwLock::new(Vec::new()),
        }
    }

    /// Register a hook called with the record and "expired" or "removed".
    pub fn on_removal(&self, hook: RemovalHook) {
        self.hooks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(hook);
    }

    /// The URL of file `id`.
    pub fn file_url(&self, id: &str) -> String {
        format!("{}/files/{id}", self.settings.public_base)
    }

    /// The record of `id`: from memory while it is recent (a retired one always: a
    /// tombstone never changes), else read through from the store.
    async fn lookup(&self, id: &str) -> Result<Option<Arc<FileRecord>>, StoreError> {
        if let Some(c) = self.files.read().unwrap_or_else(|p| p.into_inner()).get(id) {
            let retired = c.rec.state != FileState::Available;
            if retired || c.read_at.elapsed() < RECORD_TTL {
                return Ok(Some(c.rec.clone()));
            }
        }
        if self.unknown.contains_key(id) {
            return Ok(None);
        }
        match self.read_record(id).await? {
            Some((rec, _)) => {
                let rec = Arc::new(rec);
                self.put_record(rec.clone());
                Ok(Some(rec))
            }
            None => {
                self.unknown.insert(id.to_string(), ()).await;
                Ok(None)
            }
        }
    }

    /// The stored record of `id` and its version.
    async fn read_record(
        &self,
        id: &str,
    ) -> Result<Option<(FileRecord, crate::storage::Version)>, StoreError> {
        let key = FileRecord::meta_key(id);
        let Some((b, version)) = self.store.get_small_versioned(&key).await? else {
            return Ok(None);
        };
        serde_json::from_slice::<FileRecord>(&b)
            .map(|rec| Some((rec, version)))
            .map_err(|e| StoreError::Task(format!("unreadable file record {key}: {e}")))
    }

    fn put_record(&self, rec: Arc<FileRecord>) {
        self.files
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                rec.id.clone(),
                Cached {
                    rec,
                    read_at: Instant::now(),
                },
            );
        self.refresh_gauge();
    }

    fn refresh_gauge(&self) {
        let now = SystemTime::now();
        let n = self
            .files
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|c| &c.rec)
            .filter(|r| r.effective_state(now) == FileState::Available)
            .count();
        self.metrics.primary_files.set(n as i64);
    }

    async fn save_record(&self, rec: &FileRecord) -> Result<(), StoreError> {
        let json = serde_json::to_vec(rec).map_err(|e| StoreError::Task(e.to_string()))?;
        self.store
            .put_small(&FileRecord::meta_key(&rec.id), json.into())
            .await
    }

    /// Load the records kept in storage; returns how many. A body without its record (a
    /// crash between the two writes of an upload) is deleted once it is older than
    /// [`ORPHAN_GRACE`] (younger, it may be another instance's upload being recorded).
    pub async fn load(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        let listed = self.store.list("files").await?;
        let records: std::collections::HashSet<&str> = listed
            .iter()
            .filter_map(|l| l.key.strip_suffix(".meta"))
            .collect();
        let now = SystemTime::now();
        for l in &listed {
            let Some(stem) = l.key.strip_suffix(".body") else {
                continue;
            };
            let old = now
                .duration_since(l.modified)
                .is_ok_and(|age| age >= ORPHAN_GRACE);
            if !records.contains(stem) && old {
                tracing::warn!(key = l.key, "file body without its record: deleting it");
                self.store.delete(&l.key).await?;
            }
        }
        for listed in listed {
            let key = listed.key;
            if !key.ends_with(".meta") {
                continue;
            }
            let Some(b) = self.store.get_small(&key).await? else {
                continue;
            };
            match serde_json::from_slice::<FileRecord>(&b) {
                Ok(rec) => {
                    self.files
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(
                            rec.id.clone(),
                            Cached {
                                rec: Arc::new(rec),
                                read_at: Instant::now(),
                            },
                        );
                    n += 1;
                }
                Err(e) => tracing::error!(key, error = %e, "unreadable file record"),
            }
        }
        self.refresh_gauge();
        self.expire_due().await;
        Ok(n)
    }

    /// Route a `/files...` request; a method a resource does not support gets 405 with
    /// its `Allow` list, a path under a file that names nothing 404.
    pub async fn handle(&self, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
        let path = req.uri().path().to_string();
        let rest = path.strip_prefix("/files").unwrap_or("");
        match (req.method().clone(), rest) {
            (Method::POST, "" | "/") => self.upload(req).await,
            (m, "" | "/") => Err(ApiError::method_not_allowed(&m, &path, COLLECTION)),
            (m, r) => {
                let r = r.trim_start_matches('/');
                let (id, sub) = r.split_once('/').unwrap_or((r, ""));
                if !valid_id(id) {
                    return Err(ApiError::NotFound(format!("no file {id}")));
                }
                match (m, sub) {
                    (Method::GET | Method::HEAD, "") => self.serve(&req, id).await,
                    (Method::DELETE, "") => self.remove(&req, id).await,
                    (Method::GET, "deliveries") => self.deliveries(&req, id).await,
                    (m, "") => Err(ApiError::method_not_allowed(&m, &path, FILE)),
                    (m, "deliveries") => Err(ApiError::method_not_allowed(&m, &path, DELIVERIES)),
                    _ => Err(ApiError::NotFound(format!("no resource {path}"))),
                }
            }
        }
    }

    async fn available(&self, id: &str) -> Result<Arc<FileRecord>, ApiError> {
        let rec = self
            .lookup(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no file {id}")))?;
        match rec.effective_state(SystemTime::now()) {
            FileState::Available => Ok(rec),
            FileState::Expired { at } => Err(ApiError::Gone(format!(
                "file {id} expired at {}",
                httpdate::fmt_http_date(from_unix(at))
            ))),
            FileState::Removed { at, .. } => Err(ApiError::Gone(format!(
                "file {id} was removed at {}",
                httpdate::fmt_http_date(from_unix(at))
            ))),
        }
    }

    /// GET/HEAD: a client download, or a file retrieve by a partner (recorded when the
    /// whole body was sent).
    async fn serve(&self, req: &Request<Incoming>, id: &str) -> Result<Response<Body>, ApiError> {
        let caller = match self.access.load_full().identify(req.headers()).await? {
            Caller::Anonymous if self.access.load().users_required() => {
                return Err(AccessError::Missing.into())
            }
            c => c,
        };
        let rec = self.available(id).await?;
        let plan = match rec.representation().plan(req.method(), req.headers()) {
            Ok(p) => p,
            Err(resp) => return Ok(*resp),
        };
        let served = self.metrics.bytes_served.with_label_values(&["primary"]);
        let body = match plan.span {
            Span::None => body::empty(),
            span => {
                let blob = match self
                    .store
                    .open(&FileRecord::body_key(id), stream_body::range_of(span))
                    .await
                {
                    Ok(b) => b,
                    Err(StoreError::NotFound(_)) => {
                        return Err(ApiError::Gone(format!("file {id} is no longer stored")))
                    }
                    Err(e) => {
                        self.metrics.store_errors.with_label_values(&["open"]).inc();
                        return Err(e.into());
                    }
                };
                let b = stream_body::from_blob(blob, span, served);
                match (span, caller) {
                    (Span::All, Caller::Peer(system)) => self.recorded(b, rec.size, id, system),
                    _ => b,
                }
            }
        };
        plan.response
            .body(body)
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    fn recorded(&self, b: Body, len: u64, id: &str, system: String) -> Body {
        let deliveries = self.deliveries.clone();
        let metrics = self.metrics.clone();
        let id = id.to_string();
        body::on_complete(b, len, async move {
            match deliveries.record(&id, &system).await {
                Ok(_) => {
                    metrics.deliveries.with_label_values(&[&system]).inc();
                    crate::step!(
                        12,
                        "primary content server",
                        file = id,
                        partner = system,
                        "file retrieve response sent; delivery to the partner system recorded"
                    );
                }
                Err(e) => {
                    metrics.store_errors.with_label_values(&["put"]).inc();
                    tracing::error!(file = id, system, error = %e, "could not store the delivery record");
                }
            }
        })
    }

    async fn deliveries(
        &self,
        req: &Request<Incoming>,
        id: &str,
    ) -> Result<Response<Body>, ApiError> {
        if let Caller::Peer(_) = self.access.load_full().require_user(req.headers()).await? {
            return Err(ApiError::Forbidden(
                "delivery records are for local users".into(),
            ));
        }
        if self.lookup(id).await?.is_none() {
            return Err(ApiError::NotFound(format!("no file {id}")));
        }
        let rec = self.deliveries.get(id).await?;
        let value = serde_json::to_value(&rec).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(body::json(StatusCode::OK, &value))
    }

    /// DELETE: removal by an authorized user; purges every partner that got the file.
    async fn remove(&self, req: &Request<Incoming>, id: &str) -> Result<Response<Body>, ApiError> {
        let caller = self.access.load_full().require_user(req.headers()).await?;
        let by = match caller {
            Caller::Peer(_) => {
                return Err(ApiError::Forbidden(
                    "partner systems cannot remove files".into(),
                ))
            }
            Caller::User(u) => Some(u),
            Caller::Anonymous => None,
        };
        let rec = self.available(id).await?;
        if let (Some(owner), Some(user)) = (&rec.owner, &by) {
            if owner != user {
                return Err(ApiError::Forbidden(format!(
                    "only {owner}, who uploaded the file, may remove it"
                )));
            }
        }
        let Some(systems) = self
            .retire(
                &rec,
                FileState::Removed {
                    at: unix(SystemTime::now()),
                    by,
                },
            )
            .await?
        else {
            // Another instance retired it meanwhile: answer as if we had looked later.
            return Err(ApiError::Gone(format!("file {id} is no longer available")));
        };
        tracing::info!(file = id, partners = ?systems, "file removed");
        Ok(body::json(
            StatusCode::OK,
            &serde_json::json!({"id": id, "removed": true, "purging": systems}),
        ))
    }

    /// Move a file out of `Available`, exactly once across instances: the record is
    /// replaced only if it is still the version read (`PutIf::Unchanged`); the winner then
    /// deletes the body, purges partners and runs the hooks, and returns the systems
    /// purged. `None` when the file was already retired (by another instance): its
    /// tombstone is kept as it is.
    async fn retire(
        &self,
        rec: &FileRecord,
        state: FileState,
    ) -> Result<Option<Vec<String>>, ApiError> {
        let why = if matches!(state, FileState::Removed { .. }) {
            "removed"
        } else {
            "expired"
        };
        let mut tries = 0;
        let next = loop {
            tries += 1;
            let Some((current, version)) = self.read_record(&rec.id).await? else {
                return Err(ApiError::NotFound(format!("no file {}", rec.id)));
            };
            if current.state != FileState::Available {
                self.put_record(Arc::new(current));
                return Ok(None);
            }
            let mut next = current;
            next.state = state.clone();
            let json = serde_json::to_vec(&next).map_err(|e| ApiError::Internal(e.to_string()))?;
            match self
                .store
                .put_small_if(
                    &FileRecord::meta_key(&rec.id),
                    json.into(),
                    PutIf::Unchanged(version),
                )
                .await
            {
                Ok(()) => break next,
                // Changed by someone else since it was read: read it again.
                Err(StoreError::Conflict(_)) if tries < 5 => continue,
                Err(e) => return Err(e.into()),
            }
        };
        self.put_record(Arc::new(next.clone()));
        if let Err(e) = self.store.delete(&FileRecord::body_key(&rec.id)).await {
            self.metrics
                .store_errors
                .with_label_values(&["delete"])
                .inc();
            tracing::error!(file = rec.id, error = %e, "could not delete the body of a retired file");
        }
        let systems: Vec<String> = self
            .deliveries
            .get(&rec.id)
            .await?
            .systems
            .into_keys()
            .collect();
        if why == "removed" && !systems.is_empty() {
            self.purger
                .enqueue(&rec.id, &self.file_url(&rec.id), systems.clone())
                .await;
        }
        let hooks = self.hooks.read().unwrap_or_else(|p| p.into_inner()).clone();
        for hook in hooks {
            hook(&next, why);
        }
        Ok(Some(systems))
    }

    /// Retire every file whose availability has ended.
    pub async fn expire_due(&self) {
        let now = SystemTime::now();
        let due: Vec<Arc<FileRecord>> = self
            .files
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|c| &c.rec)
            .filter(|r| r.state == FileState::Available && unix(now) >= r.expires_at)
            .cloned()
            .collect();
        for rec in due {
            match self
                .retire(&rec, FileState::Expired { at: rec.expires_at })
                .await
            {
                Ok(Some(_)) => tracing::info!(file = rec.id, "file expired"),
                Ok(None) => tracing::debug!(file = rec.id, "file already retired elsewhere"),
                Err(e) => tracing::error!(file = rec.id, error = %e, "could not expire file"),
            }
        }
        self.refresh_gauge();
    }

    /// Check for expired files every `every`.
    pub fn spawn_expiry(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                me.expire_due().await;
            }
        })
    }
}
