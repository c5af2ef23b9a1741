//! Upload (TS 23.282 7.5.2.2; TS 24.282: `POST`, `201 Created` with `Location`). The body is
//! streamed into storage and hashed on the way; above the maximum data size for FD the
//! upload is refused with 413 and the staging object is dropped, whether the client
//! announced the size (Content-Length) or not (chunked), or lied about it.
//!
//! Request headers (all optional):
//! - `Content-Type`: kept and served back (default `application/octet-stream`);
//! - `Content-Disposition: attachment; filename="..."; filename*=UTF-8''...` (RFC 6266;
//!   `filename*`, RFC 8187, over `filename`) or else `X-Mcdata-File-Name` (UTF-8 as is):
//!   the file name, served back in `Content-Disposition`. A name with a path separator, a
//!   control or bidirectional formatting character, `.`/`..`, or over 255 bytes is refused
//!   with 400 (`http::disposition::check_file_name`): repairing it would hand every
//!   recipient a name the sender never chose, without telling the sender;
//! - `X-Mcdata-Availability`: how long the file stays available (`3600`, `30m`, `12h`,
//!   `7d`), capped at `max-file-availability`; default `default-file-availability`.

use std::sync::Arc;
use std::time::SystemTime;

use http::{header, HeaderMap, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::record::{FileRecord, FileState};
use super::Primary;
use crate::access::Caller;
use crate::http::body::{self, next_batch, Body};
use crate::http::disposition::upload_file_name;
use crate::http::error::ApiError;
use crate::storage::Hashing;
use crate::support::hex::to_hex;
use crate::support::time::unix;

const BATCH: usize = 512 * 1024;

fn header_text(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl Primary {
    pub(super) async fn upload(&self, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
        let owner = match self.access.load_full().require_user(req.headers()).await? {
            Caller::User(u) => Some(u),
            Caller::Anonymous => None,
            Caller::Peer(_) => {
                return Err(ApiError::Forbidden("partner systems cannot upload".into()))
            }
        };
        let limit = self.settings.max_upload_bytes;
        let h = req.headers();
        if let Some(len) = h
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse::<u64>().ok())
        {
            if len > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
        }
        let availability = match header_text(h, "x-mcdata-availability") {
            None => self.settings.default_availability,
            Some(t) => crate::config::parse_duration(&t)
                .map_err(|e| ApiError::BadRequest(format!("X-Mcdata-Availability: {e}")))?,
        }
        .min(self.settings.max_availability);
        let content_type =
            header_text(h, "content-type").unwrap_or_else(|| "application/octet-stream".into());
        let name = upload_file_name(h)?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut writer = self
            .store
            .create(&FileRecord::body_key(&id), Hashing::Sha256)
            .await?;
        let mut incoming = req.into_body();
        // Pipelined: the next batch is read while the previous one is written and hashed.
        // A client that stops sending is given `body_timeout` between arrivals (nginx's
        // client_body_timeout), then 408; the dropped writer removes what it wrote.
        let idle = self.settings.body_timeout;
        let stalled = || ApiError::RequestTimeout(format!("no upload data for {idle:?}"));
        let mut next = tokio::time::timeout(idle, next_batch(&mut incoming, BATCH))
            .await
            .map_err(|_| stalled())?;
        while let Some(chunk) = next {
            let chunk =
                chunk.map_err(|e| ApiError::BadRequest(format!("upload body broke off: {e}")))?;
            if writer.len() + chunk.len() as u64 > limit {
                // Dropping the writer removes the staging object.
                return Err(ApiError::PayloadTooLarge { limit });
            }
            let (wrote, following) = tokio::join!(
                writer.write(chunk),
                tokio::time::timeout(idle, next_batch(&mut incoming, BATCH))
            );
            wrote?;
            next = following.map_err(|_| stalled())?;
        }
        let written = writer.finish().await?;
        // The digest is the file's ETag and Repr-Digest: a writer without one is a bug.
        let sha = written
            .sha256
            .ok_or_else(|| ApiError::Internal("the upload was stored without its digest".into()))?;
        let now = SystemTime::now();
        // Bounded by max-file-availability (at most 100 years), so this holds; if the clock
        // itself is absurd, refuse rather than panic, and keep nothing.
        let Some(expires) = now.checked_add(availability) else {
            let _ = self.store.delete(&FileRecord::body_key(&id)).await;
            return Err(ApiError::BadRequest(
                "the availability asked for is beyond the clock".into(),
            ));
        };
        let rec = FileRecord {
            id: id.clone(),
            size: written.len,
            sha256: to_hex(&sha),
            content_type,
            file_name: name,
            owner,
            created_at: unix(now),
            expires_at: unix(expires),
            state: FileState::Available,
        };
        if let Err(e) = self.save_record(&rec).await {
            let _ = self.store.delete(&FileRecord::body_key(&id)).await;
            return Err(e.into());
        }
        self.metrics.uploads.inc();
        let url = self.file_url(&id);
        tracing::info!(file = id, size = rec.size, owner = ?rec.owner, "file uploaded");
        let json = rec.to_json(&url);
        self.put_record(Arc::new(rec));
        let mut resp = body::json(StatusCode::CREATED, &json);
        if let Ok(v) = http::HeaderValue::from_str(&url) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Ok(resp)
    }
}
