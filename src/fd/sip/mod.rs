//! The SIP interface of the MCData server towards partner systems (TS 24.282 over SIP-3,
//! TS 23.280 10.14): FD requests, FD notifications and FD network notifications as SIP
//! MESSAGE requests (RFC 3428) with a multipart body (`fd::sip_body`).
//!
//! rsipstack parses and writes SIP and runs the RFC 3261 section 17 transactions
//! (retransmissions and timers over UDP; a retransmitted request gets the same answer
//! and is handled once). This module owns the listeners ([`listeners`]: UDP and TCP on
//! `sip-listen`, TLS on `sip-tls-listen`), the requests we send ([`outbound`]), the ones
//! we answer ([`inbound`]), who a request comes from ([`trust`]) and how our refusals
//! read in SIP ([`status`]). What an FD message does is the one dispatch of
//! `fd::interconnect`, shared with `POST /interconnect`.

pub(crate) mod inbound;
mod listeners;
pub(crate) mod outbound;
pub(crate) mod settings;
pub(crate) mod status;
pub(crate) mod trust;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use rsipstack::transaction::endpoint::EndpointInner;
use rsipstack::transaction::TransactionReceiver;
use rsipstack::transport::{SipAddr, TransportLayer};
use rsipstack::EndpointBuilder;
use tokio_util::sync::CancellationToken;

use crate::fd::config::FdServerConfig;
use crate::http::server_tls::ServerTls;

/// The media feature tag value of MCData FD: its ICSI (TS 24.282 13.2.1.1).
pub(crate) const ICSI_FD: &str = "urn:urn-7:3gpp-service.ims.icsi.mcdata.fd";
/// `Accept-Contact` of an FD request (TS 24.282 6.3.x; RFC 3841).
pub(crate) const ACCEPT_CONTACT_FD: &str =
    "*;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mcdata.fd\";require;explicit";

/// Failures of the SIP interface at start.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    #[error("cannot listen for SIP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("SIP transport on {addr}: {reason}")]
    Transport { addr: SocketAddr, reason: String },
    #[error("sip-tls-cert-file: {0}")]
    Tls(#[from] crate::http::server_tls::ServerTlsError),
    #[error("sip-tls: {0}")]
    TlsFiles(String),
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
}

/// A running SIP interface.
pub struct SipInterface {
    pub(crate) endpoint: Arc<EndpointInner>,
    pub(crate) cancel: CancellationToken,
    /// Our PSI, the From and P-Asserted-Identity of what we send.
    pub(crate) our_uri: String,
    /// The host named in our `Warning` headers.
    pub(crate) agent: String,
    /// Where UDP and TCP listen.
    pub(crate) local: SocketAddr,
    /// Where TLS listens, if it does.
    pub(crate) tls_local: Option<SocketAddr>,
    tls: Option<Arc<ServerTls>>,
    pub(crate) tls_peers: trust::TlsPeers,
    pub(crate) cseq: AtomicU32,
}

impl SipInterface {
    /// Bind the listeners of `cfg` (none when `sip-listen` is unset) and start the
    /// transaction layer; the incoming requests are for [`inbound::serve`].
    pub(crate) async fn start(
        cfg: &FdServerConfig,
    ) -> Result<Option<(Arc<SipInterface>, TransactionReceiver)>, SipError> {
        let Some(listen) = cfg.sip_listen else {
            return Ok(None);
        };
        let cancel = CancellationToken::new();
        let transport = TransportLayer::new(cancel.clone());
        let tls_peers = trust::TlsPeers::new();
        let bound = listeners::bind(cfg, listen).await?;
        let local = bound.local;
        let tls_local = bound.tls_local;
        let tls = bound.tls.clone();
        if let Some(client) = listeners::client_tls(cfg)? {
            transport.set_tls_config(client);
        }
        let our_uri = settings::our_uri(cfg).unwrap_or_else(|| format!("sip:mcdata-fd@{local}"));
        let agent = settings::parse_sip_uri(&our_uri)
            .map(|u| u.host_with_port.host.to_string())
            .unwrap_or_else(|_| local.ip().to_string());
        let option = rsipstack::transaction::endpoint::EndpointOption {
            // Call-IDs end in our host, not rsipstack's default domain.
            callid_suffix: Some(agent.clone()),
            ..Default::default()
        };
        let endpoint = EndpointBuilder::new()
            .with_option(option)
            .with_user_agent(&format!("mcdata/{}", env!("CARGO_PKG_VERSION")))
            .with_transport_layer(transport)
            .with_cancel_token(cancel.clone())
            .with_allows(vec![rsipstack::sip::Method::Message])
            .build();
        let incoming = endpoint
            .incoming_transactions()
            .map_err(|e| SipError::Transport {
                addr: local,
                reason: e.to_string(),
            })?;
        let inner = endpoint.inner.clone();
        bound.spawn(&inner, &tls_peers, &cancel);
        let serving = inner.clone();
        tokio::spawn(async move {
            if let Err(e) = serving.serve().await {
                tracing::warn!(error = %e, "SIP transaction layer stopped");
            }
        });
        tracing::info!(%local, tls = ?tls_local, uri = our_uri, "SIP interface listening (UDP and TCP)");
        Ok(Some((
            Arc::new(SipInterface {
                endpoint: inner,
                cancel,
                our_uri,
                agent,
                local,
                tls_local,
                tls,
                tls_peers,
                cseq: AtomicU32::new(1),
            }),
            incoming,
        )))
    }

    /// Our address for a transport: the Via sent-by of what we send over it.
    pub(crate) fn via_addr(&self, transport: rsipstack::sip::Transport) -> SipAddr {
        let addr = match transport {
            rsipstack::sip::Transport::Tls => self.tls_local.unwrap_or(self.local),
            _ => self.local,
        };
        SipAddr {
            r#type: Some(transport),
            addr: addr.into(),
        }
    }

    /// Reload the TLS listener's certificate (SIGHUP).
    pub(crate) fn reload_tls(&self) -> Result<(), crate::http::server_tls::ServerTlsError> {
        match &self.tls {
            Some(t) => t.reload(),
            None => Ok(()),
        }
    }

    /// Stop listening and drop every transaction.
    pub(crate) fn shutdown(&self) {
        self.cancel.cancel();
    }
}

impl Drop for SipInterface {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
