//! `POST /content/removals`: this system's content server, running as its own process
//! (`mcdata content-server --mcdata-server ...`), says a file was removed or expired; the
//! MCData server then sends the FD network notifications for it (TS 23.282 7.5.2.7/8),
//! as `mcdata system` does in-process. Authenticated by `content-server-credential`.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use super::FdServer;
use crate::access::{bearer, ct_eq};
use crate::codec::NetworkNotificationKind;
use crate::http::body::{self, Body};
use crate::http::error::ApiError;

/// The body of a removal notice.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Removal {
    file_url: String,
    /// `removed` (or `deleted`) or `expired`.
    reason: String,
}

impl FdServer {
    pub(crate) async fn content_removal(
        self: &Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, ApiError> {
        let Some(expected) = &self.cfg.content_server_credential else {
            return Err(ApiError::NotFound(
                "this MCData server takes no removal notices (content-server-credential is not set)"
                    .into(),
            ));
        };
        match bearer(req.headers()) {
            Ok(Some(t)) if ct_eq(t.as_bytes(), expected.expose().as_bytes()) => {}
            Ok(Some(_)) => {
                return Err(ApiError::Forbidden(
                    "the bearer token is not this system's content-server-credential".into(),
                ))
            }
            Ok(None) => {
                return Err(ApiError::Unauthorized(
                    "this request needs `Authorization: Bearer <content-server-credential>`".into(),
                ))
            }
            Err(e) => return Err(ApiError::Unauthorized(e.to_string())),
        }
        let r: Removal = self.read_json(req).await?;
        let kind = match r.reason.as_str() {
            "expired" => NetworkNotificationKind::FileExpired,
            "removed" | "deleted" => NetworkNotificationKind::FileDeleted,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "reason must be removed, deleted or expired, not {other:?}"
                )))
            }
        };
        let files = format!("{}/files/", self.cfg.content_server.trim_end_matches('/'));
        if !r.file_url.starts_with(&files) {
            return Err(ApiError::BadRequest(format!(
                "{} is not a file of this system's content server ({files}...)",
                r.file_url
            )));
        }
        // The notifications go out in the background: the content server need not wait
        // for the partner systems.
        let me = self.clone();
        let url = r.file_url.clone();
        tokio::spawn(async move { me.file_unavailable(&url, kind).await });
        Ok(body::json(
            StatusCode::ACCEPTED,
            &serde_json::json!({"file_url": r.file_url, "reason": r.reason}),
        ))
    }
}
