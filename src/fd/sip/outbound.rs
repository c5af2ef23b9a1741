//! The SIP MESSAGE requests we send a partner (TS 24.282 6.3, RFC 3428): Request-URI and
//! To its PSI, From and P-Asserted-Identity ours, the FD ICSI in P-Asserted-Service and
//! Accept-Contact, the multipart body of `fd::sip_body`; a client transaction of
//! rsipstack retransmits it over UDP until a final answer or Timer F (RFC 3261 17.1.2).

use std::sync::atomic::Ordering;
use std::time::Duration;

use rsipstack::sip::typed::{From as FromHeader, To as ToHeader};
use rsipstack::sip::{Header, Method, Param, SipMessage, StatusCodeKind, Transport};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transaction::make_tag;
use rsipstack::transaction::transaction::Transaction;

use super::settings::{parse_sip_uri, Peer};
use super::{SipInterface, ACCEPT_CONTACT_FD, ICSI_FD};
use crate::fd::config::FdPartner;
use crate::fd::interconnect::Outgoing;
use crate::fd::sip_body::mcdata_info::RequestType;
use crate::fd::sip_body::{FdBody, McdataInfo};
use crate::http::error::ApiError;

/// An MCData ID as a SIP URI (`alice@a.example` -> `sip:alice@a.example`).
pub(crate) fn mcdata_uri(id: &str) -> String {
    if id.starts_with("sip:") || id.starts_with("sips:") {
        id.to_string()
    } else {
        format!("sip:{id}")
    }
}

/// RFC 3261 18.1.1: above this, with the path MTU unknown, a request goes over TCP.
const UDP_MAX: usize = 1300;

/// The octets of `req` on the wire: start line, header lines, blank line, body (the
/// Content-Length header the transaction adds is counted too).
fn wire_size(req: &rsipstack::sip::Request, line: &str) -> usize {
    let headers: usize = req.headers.iter().map(|h| h.to_string().len() + 2).sum();
    line.len() + 2 + headers + "Content-Length: 65535\r\n".len() + 2 + req.body.len()
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("SIP: {e}"))
}

impl SipInterface {
    /// Send one FD message to a SIP partner and wait for its final answer.
    pub(crate) async fn send(
        &self,
        partner: &FdPartner,
        out: Outgoing<'_>,
    ) -> Result<(), ApiError> {
        let peer = Peer::of(partner).map_err(internal)?;
        let body = FdBody {
            info: McdataInfo {
                request_type: out.request_type.map(RequestType::parse),
                calling_user_id: out.from.map(mcdata_uri),
                called_party_id: Some(mcdata_uri(out.to)),
                ..Default::default()
            },
            signalling: out.signalling,
            // The originating side names the recipient in a resource-lists (one-to-one).
            recipients: match out.request_type {
                Some(_) => vec![mcdata_uri(out.to)],
                None => Vec::new(),
            },
        };
        let (content_type, bytes) = body.encode();
        let ours = parse_sip_uri(&self.our_uri).map_err(internal)?;
        let via = self
            .endpoint
            .get_via(Some(self.via_addr(peer.transport())), None)
            .map_err(internal)?;
        let from = FromHeader {
            display_name: None,
            uri: ours,
            params: vec![Param::Tag(make_tag())],
        };
        let to = ToHeader {
            display_name: None,
            uri: peer.psi.clone(),
            params: Vec::new(),
        };
        let seq = self.cseq.fetch_add(1, Ordering::Relaxed);
        let mut req =
            self.endpoint
                .make_request(Method::Message, peer.psi.clone(), via, from, to, seq, None);
        if let Some(hop) = &partner.sip_next_hop {
            // Loose routing through the SIP core in between (RFC 3261 16.12).
            req.headers
                .push(Header::Route(format!("<sip:{hop};lr>").into()));
        }
        for (name, value) in [
            ("P-Asserted-Identity", format!("<{}>", self.our_uri)),
            ("P-Asserted-Service", ICSI_FD.to_string()),
            ("Accept-Contact", ACCEPT_CONTACT_FD.to_string()),
        ] {
            req.headers.push(Header::Other(name.into(), value));
        }
        req.headers.push(Header::ContentType(content_type.into()));
        req.body = bytes;
        let line = format!("MESSAGE {} SIP/2.0", peer.psi);
        let mut next_hop = peer.next_hop.clone();
        if next_hop.r#type == Some(Transport::Udp) && wire_size(&req, &line) > UDP_MAX {
            // RFC 3261 18.1.1: a request larger than 1300 octets, the path MTU unknown,
            // MUST go over a congestion-controlled transport: TCP to the same next hop
            // (every SIP element listens on both, section 18).
            next_hop.r#type = Some(Transport::Tcp);
            let via = self
                .endpoint
                .get_via(Some(self.via_addr(Transport::Tcp)), None)
                .map_err(internal)?;
            for h in req.headers.iter_mut() {
                if let Header::Via(v) = h {
                    *v = via.clone().into();
                    break;
                }
            }
        }
        let key = TransactionKey::from_request(&req, TransactionRole::Client).map_err(internal)?;
        let mut tx = Transaction::new_client(key, req, self.endpoint.clone(), None);
        tx.destination = Some(next_hop);
        tx.send().await.map_err(|e| {
            ApiError::BadGateway(format!(
                "cannot reach the MCData server of {} over SIP: {e}",
                partner.system_id
            ))
        })?;
        tracing::info!(target: "mcdata::sip", actor = "SIP request sent", to = partner.system_id, "{line}");
        tracing::debug!(target: "mcdata::sip", next_hop = %peer.next_hop, "{line}");
        // Timer F is 64*T1 = 32 s; a little more for a stuck transaction.
        let answer = loop {
            match tokio::time::timeout(Duration::from_secs(40), tx.receive()).await {
                Ok(Some(SipMessage::Response(r)))
                    if r.status_code.kind() == StatusCodeKind::Provisional => {}
                Ok(Some(SipMessage::Response(r))) => break r,
                Ok(Some(SipMessage::Request(_))) => {}
                Ok(None) | Err(_) => {
                    return Err(ApiError::GatewayTimeout(format!(
                        "the MCData server of {} did not answer over SIP",
                        partner.system_id
                    )))
                }
            }
        };
        let code = answer.status_code.code();
        tracing::info!(target: "mcdata::sip", actor = "SIP answer received", from = partner.system_id, "SIP/2.0 {}", answer.status_code);
        if (200..300).contains(&code) {
            return Ok(());
        }
        let reason = answer
            .headers
            .iter()
            .find_map(|h| match h {
                Header::Warning(w) => Some(w.value().to_string()),
                _ => None,
            })
            .unwrap_or_else(|| answer.status_code.to_string());
        Err(match code {
            404 => ApiError::NotFound(format!("{}: {reason}", partner.system_id)),
            408 => ApiError::GatewayTimeout(format!(
                "the MCData server of {} did not answer over SIP",
                partner.system_id
            )),
            _ => ApiError::BadGateway(format!(
                "the MCData server of {} answered {code}: {reason}",
                partner.system_id
            )),
        })
    }
}
