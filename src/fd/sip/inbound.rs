//! The SIP requests we answer: a partner's MESSAGE with an FD message in its multipart
//! body goes through the one FD dispatch (`FdServer::on_interconnect`) and is answered
//! 200, or refused with the status and `Warning` of [`super::status`]. rsipstack's server
//! transaction answers a retransmission with the same response, without asking us again
//! (RFC 3261 17.2.2); an FD request sent again as a new transaction is recognised by its
//! message ID and not delivered twice.

use std::net::IpAddr;
use std::sync::Arc;

use rsipstack::sip::headers::ToTypedHeader;
use rsipstack::sip::typed::Via;
use rsipstack::sip::{Header, HeadersExt, Host, Method, SipMessage, StatusCode, Uri};
use rsipstack::transaction::make_tag;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transaction::transaction::TransactionEvent;
use rsipstack::transaction::TransactionReceiver;

use super::settings::Peer;
use super::status::{refusal, Refusal, WARN_MISC};
use super::trust::{certificate_names, from_trusted_source, identity};
use super::SipInterface;
use crate::fd::config::FdPartner;
use crate::fd::sip_body::mcdata_info::RequestType;
use crate::fd::sip_body::FdBody;
use crate::fd::FdServer;

/// Requests handled at once; above it a request is answered 503 (RFC 3261 21.5.4) and the
/// sender retries.
const MAX_IN_FLIGHT: usize = 1024;

/// Answer the incoming requests until the interface stops.
pub(crate) async fn serve(
    server: Arc<FdServer>,
    sip: Arc<SipInterface>,
    mut rx: TransactionReceiver,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    loop {
        let tx = tokio::select! {
            _ = sip.cancel.cancelled() => return,
            tx = rx.recv() => match tx {
                Some(tx) => tx,
                None => return,
            },
        };
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let (server, sip) = (server.clone(), sip.clone());
                tokio::spawn(async move {
                    handle(&server, &sip, tx).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(busy(sip.clone(), tx));
            }
        }
    }
}

async fn busy(sip: Arc<SipInterface>, mut tx: Transaction) {
    let r = refuse(503, "too many requests at once; retry");
    let headers = vec![
        Header::Warning(r.warning(&sip.agent).into()),
        Header::RetryAfter("1".into()),
    ];
    if let Err(e) = reply(&mut tx, 503, headers).await {
        tracing::warn!(target: "mcdata::sip", error = %e, "503 could not be sent");
    }
}

/// Send the final response, and send it again for any retransmission that reached the
/// transaction while it was being sent. rsipstack answers later retransmissions from its
/// finished transactions (RFC 3261 17.2.2), but one that arrives between the send and
/// the transaction's end is queued to it and would go unanswered.
async fn reply(tx: &mut Transaction, status: u16, headers: Vec<Header>) -> rsipstack::Result<()> {
    let to = tx.original.to_header()?.clone();
    if to.tag()?.is_none() {
        tx.original
            .headers
            .unique_push(to.with_tag(make_tag()).into());
    }
    let mut resp = tx
        .endpoint_inner
        .make_response(&tx.original, StatusCode::from(status), None);
    resp.headers.extend(headers);
    tx.respond(resp.clone()).await?;
    while let Ok(event) = tx.tu_receiver.try_recv() {
        let TransactionEvent::Received(SipMessage::Request(again), conn) = event else {
            continue;
        };
        let Some(conn) = conn.or_else(|| tx.connection.clone()) else {
            continue;
        };
        let dest = match conn.is_reliable() {
            true => None,
            false => tx.endpoint_inner.get_destination_from_request(&again).await,
        };
        conn.send(resp.clone().into(), dest.as_ref()).await?;
    }
    Ok(())
}

/// The MCData ID of a SIP URI written by [`super::outbound::mcdata_uri`] or a peer.
pub(crate) fn mcdata_id(uri: &str) -> String {
    let s = uri.trim().trim_start_matches('<').trim_end_matches('>');
    let s = s
        .strip_prefix("sip:")
        .or_else(|| s.strip_prefix("sips:"))
        .unwrap_or(s);
    s.split(';').next().unwrap_or(s).to_string()
}

async fn handle(server: &FdServer, sip: &SipInterface, mut tx: Transaction) {
    let method = tx.original.method;
    let line = format!("{} {} SIP/2.0", method, tx.original.uri);
    tracing::info!(target: "mcdata::sip", actor = "SIP request received", "{line}");
    let (status, mut headers) = match answer(server, sip, &tx).await {
        Ok(what) => {
            tracing::debug!(target: "mcdata::sip", what, "answered 200");
            (200, Vec::new())
        }
        Err(r) => {
            tracing::info!(target: "mcdata::sip", actor = "SIP request refused", status = r.status, reason = r.text, "{line}");
            (
                r.status,
                vec![Header::Warning(r.warning(&sip.agent).into())],
            )
        }
    };
    if status == 405 || method == Method::Options {
        headers.push(Header::Allow("MESSAGE, OPTIONS".into()));
    }
    if status == 415 || method == Method::Options {
        headers.push(Header::Accept("multipart/mixed".into()));
    }
    if let Err(e) = reply(&mut tx, status, headers).await {
        tracing::warn!(target: "mcdata::sip", error = %e, "{line}: the answer could not be sent");
    }
}

fn refuse(status: u16, text: impl Into<String>) -> Refusal {
    Refusal::new(status, WARN_MISC, text)
}

/// The address the request came from: the connection's peer over TCP and TLS; over UDP
/// the top Via's `received` (or sent-by), which the transport sets to the datagram's
/// source (RFC 3261 18.2.1).
fn source(tx: &Transaction) -> Option<(IpAddr, Option<std::net::SocketAddr>)> {
    if let Some(conn) = tx.connection.as_ref().filter(|c| c.is_reliable()) {
        let remote = conn.get_remote_addr()?.get_socketaddr().ok()?;
        return Some((remote.ip(), Some(remote)));
    }
    let via: Via = tx.original.via_header().ok()?.typed().ok()?;
    if let Some(Ok(ip)) = via.received() {
        return Some((ip, None));
    }
    match &via.sent_by().host {
        Host::IpAddr(ip) => Some((ip.to_owned(), None)),
        Host::Domain(_) => None,
    }
}

/// Who the request says it is from: P-Asserted-Identity, set by the SIP core (RFC 3325),
/// else From.
fn asserted(tx: &Transaction) -> Option<Uri> {
    let pai = tx.original.headers.iter().find_map(|h| match h {
        Header::PAssertedIdentity(v) => Some(v.value().to_string()),
        Header::Other(n, v) if n.eq_ignore_ascii_case("p-asserted-identity") => Some(v.clone()),
        _ => None,
    });
    if let Some(v) = pai {
        let first = v.split(',').next().unwrap_or("");
        let inner = first
            .split_once('<')
            .and_then(|(_, r)| r.split_once('>'))
            .map(|(u, _)| u)
            .unwrap_or(first);
        if let Ok(u) = Uri::try_from(inner.trim()) {
            return Some(u);
        }
    }
    tx.original.from_header().ok()?.uri().ok()
}

async fn partner_of(
    server: &FdServer,
    sip: &SipInterface,
    tx: &Transaction,
) -> Result<FdPartner, Refusal> {
    let claimed = asserted(tx).ok_or_else(|| refuse(400, "no P-Asserted-Identity or From"))?;
    let dir = server.dir.load_full();
    let found = dir.sip_partners().find_map(|p| {
        let peer = Peer::of(p).ok()?;
        (identity(&peer.psi) == identity(&claimed)).then(|| (p.clone(), peer))
    });
    let Some((partner, peer)) = found else {
        return Err(refuse(
            403,
            format!("{claimed} is no partner system with a service agreement"),
        ));
    };
    let (ip, remote) = source(tx).ok_or_else(|| refuse(403, "the request's source is unknown"))?;
    if from_trusted_source(&partner, &peer, ip).await {
        return Ok(partner);
    }
    let by_certificate = remote
        .and_then(|r| sip.tls_peers.get(&r))
        .is_some_and(|cert| certificate_names(&peer, &cert));
    if by_certificate {
        return Ok(partner);
    }
    Err(refuse(
        403,
        format!(
            "{ip} is not a trusted source of partner system {}",
            partner.system_id
        ),
    ))
}

async fn answer(
    server: &FdServer,
    sip: &SipInterface,
    tx: &Transaction,
) -> Result<&'static str, Refusal> {
    match tx.original.method {
        Method::Message => {}
        Method::Options => return Ok("options"),
        m => {
            return Err(refuse(
                405,
                format!("{m} is not supported here; use MESSAGE"),
            ))
        }
    }
    let partner = partner_of(server, sip, tx).await?;
    let body_refusal = |e: crate::fd::sip_body::BodyError| {
        let (code, _) = e.warning().unwrap_or((WARN_MISC, ""));
        Refusal::new(e.sip_status(), code, e.to_string())
    };
    let content_type = tx
        .original
        .headers
        .iter()
        .find_map(|h| match h {
            Header::ContentType(v) => Some(v.value().to_string()),
            _ => None,
        })
        .ok_or_else(|| refuse(415, "no Content-Type; expected multipart/mixed"))?;
    let body = FdBody::decode(&content_type, &tx.original.body).map_err(|e| {
        server
            .metrics
            .fd_messages
            .with_label_values(&["in", "undecodable"])
            .inc();
        body_refusal(e)
    })?;
    if body.info.request_type == Some(RequestType::GroupFd) {
        return Err(refuse(
            403,
            "group FD between systems is not served here; send one-to-one FD",
        ));
    }
    // The recipient: the resource-lists entry of an originating request (exactly one for
    // one-to-one FD), else the mcdata-called-party-id.
    let recipient = match (&body.recipients[..], &body.info.called_party_id) {
        ([], Some(called)) => mcdata_id(called),
        _ => mcdata_id(body.one_to_one_recipient().map_err(body_refusal)?),
    };
    server
        .on_interconnect(&partner, &recipient, &body.signalling)
        .await
        .map_err(|e| refusal(&e))
}

#[cfg(test)]
mod tests {
    use super::mcdata_id;

    #[test]
    fn mcdata_ids_from_uris() {
        assert_eq!(mcdata_id("sip:bob@b.example"), "bob@b.example");
        assert_eq!(mcdata_id("<sips:bob@b.example;user=x>"), "bob@b.example");
        assert_eq!(mcdata_id("bob@b.example"), "bob@b.example");
    }
}
