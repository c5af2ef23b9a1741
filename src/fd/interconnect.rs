//! Interconnection between MCData servers: the inbound `POST /interconnect` (binary FD
//! messages from partner systems, steps 4-5, 8-9, 15-16) and the network notifications
//! sent when a file of ours expires or is deleted.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::client_api::request_event;
use super::directory::Whereabouts;
use super::records::{FileInfo, MessageRecord};
use super::FdServer;
use crate::codec::{
    self, FdNetworkNotification, FdNotification, FdSignalling, Message, NetworkNotificationKind,
    Payload,
};
use crate::http::body::{self, Body};
use crate::http::error::ApiError;
use crate::step;
use crate::support::origin::{prefixed, same_origin};
use crate::support::time::unix_now;

/// `request-type` of an FD request between systems (TS 24.282 D.1, mcdata-info).
pub(crate) const ONE_TO_ONE_FD: &str = "one-to-one-fd";

/// One FD message for a partner system, whichever way it travels.
pub(crate) struct Outgoing<'a> {
    /// The MCData ID of the user it is from, if a user's.
    pub from: Option<&'a str>,
    /// The MCData ID of the user it is for.
    pub to: &'a str,
    /// [`ONE_TO_ONE_FD`] for an FD request; none for notifications.
    pub request_type: Option<&'static str>,
    /// The binary FD message (TS 24.282 clause 15).
    pub signalling: Vec<u8>,
}

fn accepted(what: &str) -> Response<Body> {
    body::json(StatusCode::ACCEPTED, &serde_json::json!({"accepted": what}))
}

fn kind_name(k: NetworkNotificationKind) -> &'static str {
    match k {
        NetworkNotificationKind::FileExpired => "expired",
        NetworkNotificationKind::FileDeleted => "deleted",
    }
}

impl FdServer {
    /// `POST /interconnect`.
    pub(crate) async fn interconnect(
        &self,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, ApiError> {
        let partner = self.partner(req.headers())?.clone();
        let ct = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct.starts_with(codec::MIME) {
            return Err(ApiError::UnsupportedMediaType(format!(
                "expected {}",
                codec::MIME
            )));
        }
        let recipient = req
            .headers()
            .get("x-mcdata-recipient")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| ApiError::BadRequest("X-Mcdata-Recipient is missing".into()))?;
        let bytes = self.read_body(req, 64 * 1024).await?;
        self.on_interconnect(&partner, &recipient, &bytes)
            .await
            .map(accepted)
    }

    /// The one dispatch of an FD message from a partner system, whichever way it came
    /// (`POST /interconnect` or a SIP MESSAGE): decode, then steps 5, 9 and 16 or a
    /// network notification. Returns what it was.
    pub(crate) async fn on_interconnect(
        &self,
        partner: &super::config::FdPartner,
        recipient: &str,
        bytes: &[u8],
    ) -> Result<&'static str, ApiError> {
        let msg = codec::decode(bytes).map_err(|e| {
            self.metrics
                .fd_messages
                .with_label_values(&["in", "undecodable"])
                .inc();
            ApiError::BadRequest(format!("undecodable FD message: {e}"))
        })?;
        self.metrics
            .fd_messages
            .with_label_values(&["in", "ok"])
            .inc();
        match msg {
            Message::Signalling(m) => {
                self.incoming_request(partner, recipient, m, bytes.len())
                    .await
            }
            Message::Notification(n) => self.incoming_notification(partner, recipient, n).await,
            Message::NetworkNotification(n) => {
                self.incoming_network_notification(partner, recipient, n)
            }
        }
    }

    /// Step 5: an FD request from a partner's user to ours, FILEURL rewritten (step 10).
    async fn incoming_request(
        &self,
        partner: &super::config::FdPartner,
        recipient: &str,
        mut m: FdSignalling,
        len: usize,
    ) -> Result<&'static str, ApiError> {
        let dir = self.dir.load_full();
        let Some(Whereabouts::Local(user)) = dir.locate(recipient) else {
            return Err(ApiError::NotFound(format!(
                "{recipient} is not a user of system {}",
                self.cfg.system_id
            )));
        };
        let original = m
            .file_url()
            .ok_or_else(|| {
                ApiError::BadRequest("the FD request carries no FILEURL payload".into())
            })?
            .to_string();
        if !same_origin(&original, &partner.content_server) {
            return Err(ApiError::Forbidden(format!(
                "the file URL is not on the content server of system {} ({})",
                partner.system_id, partner.content_server
            )));
        }
        // The same FD request again (a new transaction after a lost answer, or a
        // retried POST): answered as before, delivered once.
        if self
            .records
            .message(&m.message_id)
            .is_some_and(|r| r.sender_system == partner.system_id && r.recipient == user.id)
        {
            return Ok("fd-request");
        }
        let prefixed = prefixed(&self.cfg.content_server, &original);
        m.set_file_url(&prefixed);
        let rewritten = m.encode().map(|b| b.len()).unwrap_or(0);
        let sender = m
            .sender
            .clone()
            .unwrap_or_else(|| format!("unknown@{}", partner.system_id));
        let record = MessageRecord {
            message_id: m.message_id,
            conversation_id: m.conversation_id,
            sender: sender.clone(),
            sender_system: partner.system_id.clone(),
            recipient: user.id.clone(),
            recipient_system: self.cfg.system_id.clone(),
            file_url: original,
            delivered_url: prefixed.clone(),
            metadata: m
                .metadata
                .as_ref()
                .map(FileInfo::from_codec)
                .unwrap_or_default(),
            mandatory_download: m.mandatory_download,
            report_requested: m.disposition_request.is_some(),
            response: None,
            created_at: unix_now(),
        };
        self.records.put_message(record.clone()).await?;
        step!(5, "partner MCData server", to = user.id, from = sender, bytes_in = len, bytes_rewritten = rewritten, url = prefixed, "FD request delivered to MCData client 2, FILEURL prefixed with the partner content server URI");
        self.deliver(&user.id, "fd-request", request_event(&record));
        Ok("fd-request")
    }

    /// Steps 9 and 16 on the primary side.
    async fn incoming_notification(
        &self,
        partner: &super::config::FdPartner,
        recipient: &str,
        n: FdNotification,
    ) -> Result<&'static str, ApiError> {
        let m = self
            .records
            .message(&n.message_id)
            .filter(|m| {
                m.sender == recipient
                    && m.recipient_system == partner.system_id
                    && m.sender_system == self.cfg.system_id
            })
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "no FD request {} from {recipient} to system {}",
                    n.message_id, partner.system_id
                ))
            })?;
        let from = n.sender.clone().unwrap_or_else(|| m.recipient.clone());
        self.on_notification(&m, n.disposition, &from).await?;
        Ok("fd-notification")
    }

    fn incoming_network_notification(
        &self,
        partner: &super::config::FdPartner,
        recipient: &str,
        n: FdNetworkNotification,
    ) -> Result<&'static str, ApiError> {
        let m = self
            .records
            .message(&n.message_id)
            .filter(|m| m.recipient == recipient && m.sender_system == partner.system_id)
            .ok_or_else(|| {
                ApiError::NotFound(format!("no FD request {} for {recipient}", n.message_id))
            })?;
        self.deliver(
            recipient,
            "network-notification",
            serde_json::json!({"message_id": m.message_id, "conversation_id": m.conversation_id, "kind": kind_name(n.kind), "file_url": m.delivered_url}),
        );
        Ok("fd-network-notification")
    }

    /// A file of our content server is no longer available: tell every recipient of an FD
    /// request for it (FD NETWORK NOTIFICATION).
    pub async fn file_unavailable(self: &Arc<Self>, file_url: &str, kind: NetworkNotificationKind) {
        for m in self
            .records
            .messages_for_file(file_url, &self.cfg.system_id)
        {
            let event = serde_json::json!({"message_id": m.message_id, "conversation_id": m.conversation_id, "kind": kind_name(kind), "file_url": m.delivered_url});
            if m.recipient_system == self.cfg.system_id {
                self.deliver(&m.recipient, "network-notification", event);
                continue;
            }
            let dir = self.dir.load_full();
            let Some(partner) = dir.partner(&m.recipient_system) else {
                continue;
            };
            let mut n =
                FdNetworkNotification::new(kind, unix_now(), m.conversation_id, m.message_id);
            n.payload = Some(Payload::file_url(&m.file_url));
            let result = match n.encode() {
                Ok(bytes) => {
                    let out = Outgoing {
                        from: None,
                        to: &m.recipient,
                        request_type: None,
                        signalling: bytes,
                    };
                    self.send_to_partner(partner, out).await
                }
                Err(e) => Err(ApiError::Internal(e.to_string())),
            };
            match result {
                Ok(()) => tracing::info!(
                    file = file_url,
                    to = m.recipient,
                    kind = kind_name(kind),
                    "network notification sent"
                ),
                Err(e) => {
                    tracing::warn!(file = file_url, to = m.recipient, error = %e, "network notification not delivered")
                }
            }
        }
    }
}
