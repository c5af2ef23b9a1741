//! The client API of the MCData server (`docs/fd-api.md`): FD requests (steps 2-4), the
//! event stream, FD responses (step 7), download completed reports (step 14) and the
//! download history (steps 15, 16).

use std::sync::Arc;
use std::time::SystemTime;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use uuid::Uuid;

use super::directory::Whereabouts;
use super::interconnect::{Outgoing, ONE_TO_ONE_FD};
use super::records::{FileInfo, MessageRecord, Report};
use super::FdServer;
use crate::codec::{
    Disposition, DispositionRequest, FdNotification, FdSignalling, FileMetadata, Payload,
};
use crate::http::body::{self, Body};
use crate::http::error::ApiError;
use crate::step;
use crate::support::time::{unix, unix_now};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendFd {
    to: String,
    file_url: String,
    #[serde(default)]
    metadata: Option<FileInfo>,
    #[serde(default)]
    conversation_id: Option<Uuid>,
    #[serde(default)]
    mandatory_download: bool,
    #[serde(default)]
    download_report: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FdResponse {
    message_id: Uuid,
    accept: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportRequest {
    message_id: Uuid,
}

/// The JSON of an `fd-request` event.
pub(crate) fn request_event(m: &MessageRecord) -> serde_json::Value {
    serde_json::json!({
        "message_id": m.message_id,
        "conversation_id": m.conversation_id,
        "from": m.sender,
        "file_url": m.delivered_url,
        "metadata": m.metadata,
        "mandatory_download": m.mandatory_download,
        "download_report": m.report_requested,
    })
}

/// Whether a metadata field is absent or holds only whitespace.
fn blank(field: &Option<String>) -> bool {
    field.as_deref().is_none_or(|v| v.trim().is_empty())
}

/// Until when (Unix seconds) the file of a content server's answer is available: its
/// `Expires`, where the primary puts the end of the file's availability to the second,
/// else `Cache-Control: max-age` counted from `Date` (from `now` without one; a
/// `max-age` is rounded down, so this may be up to a second early). `None` when the
/// answer says neither, or nothing readable.
fn available_until(h: &http::HeaderMap, now: SystemTime) -> Option<u64> {
    let date = |name: http::HeaderName| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| httpdate::parse_http_date(s.trim()).ok())
    };
    if let Some(expires) = date(http::header::EXPIRES) {
        return Some(unix(expires));
    }
    let max_age = h
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|directive| {
            let (k, v) = directive.split_once('=')?;
            if !k.trim().eq_ignore_ascii_case("max-age") {
                return None;
            }
            v.trim().trim_matches('"').parse::<u64>().ok()
        })?;
    let from = date(http::header::DATE).unwrap_or(now);
    Some(unix(from).saturating_add(max_age))
}

fn disposition_name(d: Disposition) -> &'static str {
    match d {
        Disposition::Accepted => "accepted",
        Disposition::Rejected => "rejected",
        Disposition::FileDownloadCompleted => "completed",
        Disposition::Deferred => "deferred",
    }
}

impl FdServer {
    /// Queue an event for a local user.
    pub(crate) fn deliver(&self, user: &str, name: &'static str, data: serde_json::Value) {
        self.metrics.fd_events.with_label_values(&[name]).inc();
        self.events.push(user, name, data);
    }

    /// What the own content server says of the file at `url` (a HEAD with the sender's
    /// credentials), when the URL is on it: size, type and sha-256 override what the
    /// client claimed; its file name (`Content-Disposition`, `filename*` included) and the
    /// end of its availability ([`available_until`], as an RFC 3339 date) are taken when
    /// the client gave none (or a blank one).
    async fn own_file_info(
        &self,
        url: &str,
        auth: Option<&http::HeaderValue>,
        info: &mut FileInfo,
    ) -> Result<(), ApiError> {
        let own = self.cfg.content_server.trim_end_matches('/');
        if !url.starts_with(&format!("{own}/")) {
            return Ok(());
        }
        let mut req = Request::head(url);
        if let Some(a) = auth {
            req = req.header(http::header::AUTHORIZATION, a);
        }
        let req = req
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let resp =
            match tokio::time::timeout(std::time::Duration::from_secs(5), self.client.request(req))
                .await
            {
                Ok(Ok(r)) => r,
                _ => return Ok(()),
            };
        match resp.status() {
            StatusCode::OK => {
                let h = resp.headers();
                let text = |name: &str| {
                    h.get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                if let Some(len) = text("content-length").and_then(|s| s.parse().ok()) {
                    info.size = Some(len);
                }
                if let Some(sha) = crate::http::representation::repr_digest_sha256(h) {
                    info.sha256 = Some(crate::support::hex::to_hex(&sha));
                }
                if info.content_type.is_none() {
                    info.content_type = text("content-type");
                }
                if blank(&info.name) {
                    info.name = crate::http::disposition::file_name_of(h);
                }
                if blank(&info.availability) {
                    info.availability =
                        available_until(h, SystemTime::now()).map(FileMetadata::availability_until);
                }
                Ok(())
            }
            StatusCode::NOT_FOUND | StatusCode::GONE => Err(ApiError::NotFound(format!(
                "the file URL names no available file ({})",
                resp.status()
            ))),
            _ => Ok(()),
        }
    }

    /// `POST /fd/requests`: steps 2-4.
    pub(crate) async fn send_request(
        self: &Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, ApiError> {
        let user = self.user(req.headers())?.clone();
        let auth = req.headers().get(http::header::AUTHORIZATION).cloned();
        let r: SendFd = self.read_json(req).await?;
        step!(
            2,
            "MCData client 1",
            to = r.to,
            file = r.file_url,
            "FD request from {} reached the primary MCData server",
            user.id
        );
        if !user.may_send_fd {
            self.metrics
                .fd_requests
                .with_label_values(&["forbidden"])
                .inc();
            return Err(ApiError::Forbidden(format!(
                "{} is not authorized to send file distributions",
                user.id
            )));
        }
        let url = url::Url::parse(&r.file_url)
            .map_err(|e| ApiError::BadRequest(format!("file_url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ApiError::BadRequest(
                "file_url must be an http(s) URL".into(),
            ));
        }
        let mut metadata = r.metadata.clone().unwrap_or_default();
        self.own_file_info(url.as_str(), auth.as_ref(), &mut metadata)
            .await?;
        let max = self.cfg.max_data_size_fd_bytes;
        if metadata.size.is_some_and(|s| s > max) {
            self.metrics
                .fd_requests
                .with_label_values(&["too_large"])
                .inc();
            return Err(ApiError::PayloadTooLarge { limit: max });
        }
        let dir = self.dir.load_full();
        let whereabouts = dir.locate(&r.to).ok_or_else(|| {
            self.metrics
                .fd_requests
                .with_label_values(&["unknown_recipient"])
                .inc();
            ApiError::NotFound(format!(
                "recipient {} is not served by this system or any partner",
                r.to
            ))
        })?;
        step!(
            3,
            "primary MCData server",
            sender = user.id,
            size = metadata.size.unwrap_or(0),
            max,
            "sender authorized, size within the maximum data size for FD"
        );
        let mandatory = r.mandatory_download
            || metadata
                .size
                .is_some_and(|s| s <= self.cfg.max_data_size_auto_recv_bytes);
        let mut record = MessageRecord {
            message_id: Uuid::new_v4(),
            conversation_id: r.conversation_id.unwrap_or_else(Uuid::new_v4),
            sender: user.id.clone(),
            sender_system: self.cfg.system_id.clone(),
            recipient: r.to.clone(),
            recipient_system: self.cfg.system_id.clone(),
            file_url: url.as_str().to_string(),
            delivered_url: url.as_str().to_string(),
            metadata,
            mandatory_download: mandatory,
            report_requested: r.download_report,
            response: None,
            created_at: unix_now(),
        };
        match whereabouts {
            Whereabouts::Local(u) => {
                self.records.put_message(record.clone()).await?;
                self.deliver(&u.id, "fd-request", request_event(&record));
            }
            Whereabouts::Partner(p) => {
                record.recipient_system = p.system_id.clone();
                let mut msg =
                    FdSignalling::new(unix_now(), record.conversation_id, record.message_id);
                msg.payload = Some(Payload::file_url(&record.file_url));
                msg.metadata = Some(record.metadata.to_codec());
                msg.sender = Some(user.id.clone());
                msg.mandatory_download = mandatory;
                if r.download_report {
                    msg.disposition_request = Some(DispositionRequest::FileDownloadCompletedUpdate);
                }
                let bytes = msg.encode().map_err(|e| {
                    ApiError::BadRequest(format!("cannot encode the FD request: {e}"))
                })?;
                self.records.put_message(record.clone()).await?;
                step!(
                    4,
                    "primary MCData server",
                    partner = p.system_id,
                    bytes = bytes.len(),
                    "FD request forwarded to the partner MCData server (FD SIGNALLING PAYLOAD)"
                );
                let out = Outgoing {
                    from: Some(&user.id),
                    to: &r.to,
                    request_type: Some(ONE_TO_ONE_FD),
                    signalling: bytes,
                };
                self.send_to_partner(p, out).await?;
            }
        }
        self.metrics.fd_requests.with_label_values(&["sent"]).inc();
        Ok(body::json(
            StatusCode::ACCEPTED,
            &serde_json::json!({
                "message_id": record.message_id,
                "conversation_id": record.conversation_id,
                "mandatory_download": record.mandatory_download,
                "to_system": record.recipient_system,
            }),
        ))
    }

    /// `GET /fd/events`.
    pub(crate) fn event_stream(&self, req: &Request<Incoming>) -> Result<Response<Body>, ApiError> {
        let user = self.user(req.headers())?;
        let last = match req.headers().get("last-event-id") {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .ok_or_else(|| {
                        ApiError::BadRequest("Last-Event-ID must be an event number".into())
                    })?,
            ),
        };
        Response::builder()
            .header(http::header::CONTENT_TYPE, "text/event-stream")
            .header(http::header::CACHE_CONTROL, "no-store")
            .body(self.events.stream(&user.id, last))
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// The request `id`, which must be addressed to `user`.
    fn incoming(&self, id: &Uuid, user: &str) -> Result<MessageRecord, ApiError> {
        self.records
            .message(id)
            .filter(|m| m.recipient == user)
            .ok_or_else(|| ApiError::NotFound(format!("no FD request {id} for {user}")))
    }

    /// Tell the sender of `m` about `disposition`, locally or through its system.
    async fn notify_sender(
        &self,
        m: &MessageRecord,
        disposition: Disposition,
        from: &str,
    ) -> Result<(), ApiError> {
        if m.sender_system == self.cfg.system_id {
            self.on_notification(m, disposition, from).await?;
            return Ok(());
        }
        let dir = self.dir.load_full();
        let partner = dir.partner(&m.sender_system).ok_or_else(|| {
            ApiError::Internal(format!("no agreement with {} any more", m.sender_system))
        })?;
        let mut n = FdNotification::new(disposition, unix_now(), m.conversation_id, m.message_id);
        n.sender = Some(from.to_string());
        let bytes = n.encode().map_err(|e| ApiError::Internal(e.to_string()))?;
        let out = Outgoing {
            from: Some(from),
            to: &m.sender,
            request_type: None,
            signalling: bytes,
        };
        self.send_to_partner(partner, out).await
    }

    /// What the sender's server does with a notification (steps 9 and 16).
    pub(crate) async fn on_notification(
        &self,
        m: &MessageRecord,
        d: Disposition,
        from: &str,
    ) -> Result<(), ApiError> {
        if d == Disposition::FileDownloadCompleted {
            self.records.add_report(self.report_of(m, from)).await?;
            step!(16, "primary MCData server", fd_message = %m.message_id, "download completed report stored and sent to MCData client 1");
            self.deliver(
                &m.sender,
                "download-report",
                serde_json::json!({"message_id": m.message_id, "conversation_id": m.conversation_id, "from": from, "file_url": m.file_url}),
            );
        } else {
            let mut updated = m.clone();
            updated.response = Some(disposition_name(d).into());
            self.records.put_message(updated).await?;
            step!(9, "primary MCData server", fd_message = %m.message_id, disposition = disposition_name(d), "FD response forwarded to MCData client 1");
            self.deliver(
                &m.sender,
                "fd-response",
                serde_json::json!({"message_id": m.message_id, "conversation_id": m.conversation_id, "from": from, "disposition": disposition_name(d)}),
            );
        }
        Ok(())
    }

    pub(crate) fn report_of(&self, m: &MessageRecord, reporter: &str) -> Report {
        Report {
            message_id: m.message_id,
            conversation_id: m.conversation_id,
            file_url: m.file_url.clone(),
            reporter: reporter.to_string(),
            recipient: m.sender.clone(),
            reported_at: unix_now(),
            system: self.cfg.system_id.clone(),
        }
    }

    /// `POST /fd/responses`: step 7, then step 8 towards the sender's system.
    pub(crate) async fn respond(&self, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
        let user = self.user(req.headers())?.id.clone();
        let r: FdResponse = self.read_json(req).await?;
        let m = self.incoming(&r.message_id, &user)?;
        let d = if r.accept {
            Disposition::Accepted
        } else {
            Disposition::Rejected
        };
        step!(7, "MCData client 2", fd_message = %m.message_id, disposition = disposition_name(d), "FD response from {user}");
        let mut updated = m.clone();
        updated.response = Some(disposition_name(d).into());
        self.records.put_message(updated).await?;
        if m.sender_system != self.cfg.system_id {
            step!(8, "partner MCData server", fd_message = %m.message_id, "FD response forwarded to the primary MCData server (FD NOTIFICATION)");
        }
        self.notify_sender(&m, d, &user).await?;
        Ok(body::json(
            StatusCode::ACCEPTED,
            &serde_json::json!({"message_id": m.message_id, "disposition": disposition_name(d)}),
        ))
    }

    /// `POST /fd/reports`: step 14, stored here (step 15) and sent to the sender's system.
    pub(crate) async fn report(&self, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
        let user = self.user(req.headers())?.id.clone();
        let r: ReportRequest = self.read_json(req).await?;
        let m = self.incoming(&r.message_id, &user)?;
        if !m.report_requested {
            return Err(ApiError::Conflict(format!(
                "the sender of {} did not ask for a download completed report",
                m.message_id
            )));
        }
        step!(14, "MCData client 2", fd_message = %m.message_id, "download completed report from {user}");
        if m.sender_system != self.cfg.system_id {
            self.records.add_report(self.report_of(&m, &user)).await?;
            step!(15, "partner MCData server", fd_message = %m.message_id, "download completed report stored for history and sent to the primary MCData server");
        }
        self.notify_sender(&m, Disposition::FileDownloadCompleted, &user)
            .await?;
        Ok(body::json(
            StatusCode::ACCEPTED,
            &serde_json::json!({"message_id": m.message_id, "reported": true}),
        ))
    }

    /// `GET /fd/history`.
    pub(crate) fn history(&self, req: &Request<Incoming>) -> Result<Response<Body>, ApiError> {
        let user = self.user(req.headers())?;
        if !user.may_query_history {
            return Err(ApiError::Forbidden(format!(
                "{} may not interrogate the download history",
                user.id
            )));
        }
        let mut conversation = None;
        let mut message = None;
        let mut urls = Vec::new();
        for (k, v) in url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()) {
            let parse = |v: &str| {
                Uuid::parse_str(v).map_err(|_| ApiError::BadRequest(format!("{k} is not a UUID")))
            };
            match k.as_ref() {
                "conversation_id" => conversation = Some(parse(&v)?),
                "message_id" => message = Some(parse(&v)?),
                "file_url" => {
                    // The prefixed form (as a partner's user knows it) names the same file.
                    let own = format!("{}/", self.cfg.content_server.trim_end_matches('/'));
                    if let Some(original) = v.strip_prefix(&own) {
                        urls.push(original.to_string());
                    }
                    urls.push(v.into_owned());
                }
                other => return Err(ApiError::BadRequest(format!("unknown filter {other}"))),
            }
        }
        let reports = self.records.reports(conversation, message, &urls);
        Ok(body::json(
            StatusCode::OK,
            &serde_json::json!({"reports": reports}),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::time::from_unix;

    fn headers(lines: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in lines {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn availability_from_expires_then_max_age() {
        let now = from_unix(NOW);
        let until = |lines: &[(&str, &str)]| available_until(&headers(lines), now);
        // What the primary sends: Expires is exact, max-age rounded down.
        assert_eq!(
            until(&[
                ("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
                ("expires", "Wed, 15 Nov 2023 00:13:20 GMT"),
                ("cache-control", "max-age=7199"),
            ]),
            Some(NOW + 7200)
        );
        // Without Expires (or with one that is not a date): max-age from Date ...
        assert_eq!(
            until(&[
                ("date", "Tue, 14 Nov 2023 22:13:10 GMT"),
                ("expires", "0"),
                ("cache-control", "public, MAX-AGE=\"60\""),
            ]),
            Some(NOW - 10 + 60)
        );
        // ... in any Cache-Control line, and from now without a Date.
        assert_eq!(
            until(&[
                ("cache-control", "no-transform"),
                ("cache-control", "max-age=5")
            ]),
            Some(NOW + 5)
        );
        assert_eq!(
            until(&[("cache-control", "max-age=18446744073709551615")]),
            Some(u64::MAX)
        );
        // Nothing to go by.
        assert_eq!(until(&[]), None);
        assert_eq!(until(&[("cache-control", "no-store")]), None);
        assert_eq!(until(&[("cache-control", "max-age=-1")]), None);
    }

    #[test]
    fn blank_fields_count_as_absent() {
        assert!(blank(&None));
        assert!(blank(&Some(" \t".into())));
        assert!(!blank(&Some("a".into())));
    }
}
