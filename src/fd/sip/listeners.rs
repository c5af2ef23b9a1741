//! The SIP listeners: UDP and TCP on one port of `sip-listen` (RFC 3261 section 18
//! asks for both), TLS on `sip-tls-listen`. TCP and TLS connections are accepted here,
//! so that bind errors show at start and TLS asks for client certificates of
//! `sip-tls-ca-file` (rsipstack's own TLS listener asks for none); each accepted
//! connection is handed to rsipstack's transport layer, which reads SIP off it.

use std::net::SocketAddr;
use std::sync::Arc;

use rsipstack::sip::Transport;
use rsipstack::transaction::endpoint::EndpointInner;
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::tls::TlsConnection;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipAddr, SipConnection, TlsConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::trust::TlsPeers;
use super::SipError;
use crate::fd::config::FdServerConfig;
use crate::http::server_tls::{ClientAuth, ServerTls, ServerTlsSettings};

/// Sockets bound, not yet served.
pub(super) struct Bound {
    pub local: SocketAddr,
    pub tls_local: Option<SocketAddr>,
    pub tls: Option<Arc<ServerTls>>,
    udp: UdpConnection,
    tcp: TcpListener,
    tls_listener: Option<TcpListener>,
}

fn bind_err(addr: SocketAddr) -> impl FnOnce(std::io::Error) -> SipError {
    move |source| SipError::Bind { addr, source }
}

/// Bind UDP on `listen`, TCP on the same address and port, and TLS if configured.
pub(super) async fn bind(cfg: &FdServerConfig, listen: SocketAddr) -> Result<Bound, SipError> {
    let socket = tokio::net::UdpSocket::bind(listen)
        .await
        .map_err(bind_err(listen))?;
    let local = socket.local_addr().map_err(bind_err(listen))?;
    let udp = UdpConnection::from_socket(Arc::new(socket), None, None)
        .await
        .map_err(|e| SipError::Transport {
            addr: local,
            reason: e.to_string(),
        })?;
    let tcp = TcpListener::bind(local).await.map_err(bind_err(local))?;
    let (tls, tls_listener, tls_local) = match cfg.sip_tls_listen {
        None => (None, None, None),
        Some(addr) => {
            let settings = ServerTlsSettings::from_keys(
                cfg.sip_tls_cert_file.as_ref(),
                cfg.sip_tls_key_file.as_ref(),
                cfg.sip_tls_ca_file.as_ref(),
                // A partner may be trusted by its address alone; a certificate it
                // shows must chain to the CA.
                ClientAuth::Optional,
            )?
            .ok_or_else(|| {
                SipError::TlsFiles("sip-tls-listen needs sip-tls-cert-file and -key-file".into())
            })?;
            let tls = ServerTls::load(settings)?;
            let listener = TcpListener::bind(addr).await.map_err(bind_err(addr))?;
            let bound = listener.local_addr().map_err(bind_err(addr))?;
            (Some(tls), Some(listener), Some(bound))
        }
    };
    Ok(Bound {
        local,
        tls_local,
        tls,
        udp,
        tcp,
        tls_listener,
    })
}

/// The TLS settings of connections we open: the partners' CA, our certificate.
pub(super) fn client_tls(cfg: &FdServerConfig) -> Result<Option<TlsConfig>, SipError> {
    let read = |key: &str, p: &Option<std::path::PathBuf>| -> Result<Option<Vec<u8>>, SipError> {
        p.as_ref()
            .map(|p| {
                std::fs::read(p)
                    .map_err(|e| SipError::TlsFiles(format!("{key} {}: {e}", p.display())))
            })
            .transpose()
    };
    let ca = read("sip-tls-ca-file", &cfg.sip_tls_ca_file)?;
    let cert = read("sip-tls-cert-file", &cfg.sip_tls_cert_file)?;
    let key = read("sip-tls-key-file", &cfg.sip_tls_key_file)?;
    if ca.is_none() && cert.is_none() {
        return Ok(None);
    }
    Ok(Some(TlsConfig {
        ca_certs: ca,
        client_cert: cert,
        client_key: key,
        ..Default::default()
    }))
}

impl Bound {
    /// Serve: UDP through the transport layer, TCP and TLS accepted here.
    pub(super) fn spawn(
        self,
        endpoint: &Arc<EndpointInner>,
        peers: &TlsPeers,
        cancel: &CancellationToken,
    ) {
        endpoint
            .transport_layer
            .add_transport(SipConnection::Udp(self.udp));
        let tcp_local = SipAddr {
            r#type: Some(Transport::Tcp),
            addr: self.local.into(),
        };
        tokio::spawn(accept_tcp(
            self.tcp,
            tcp_local,
            endpoint.clone(),
            cancel.clone(),
        ));
        if let (Some(listener), Some(tls), Some(addr)) =
            (self.tls_listener, self.tls, self.tls_local)
        {
            let local = SipAddr {
                r#type: Some(Transport::Tls),
                addr: addr.into(),
            };
            // A renewed certificate is taken within 10 s, as on the HTTP listeners.
            let watch = tls.spawn_watch(std::time::Duration::from_secs(10));
            let stop = cancel.clone();
            tokio::spawn(async move {
                stop.cancelled().await;
                watch.abort();
            });
            tokio::spawn(accept_tls(
                listener,
                tls,
                local,
                endpoint.clone(),
                peers.clone(),
                cancel.clone(),
            ));
        }
    }
}

async fn accept_tcp(
    listener: TcpListener,
    local: SipAddr,
    endpoint: Arc<EndpointInner>,
    cancel: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "SIP TCP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        match TcpConnection::from_stream(stream, local.clone(), Some(cancel.child_token())) {
            Ok(c) => endpoint
                .transport_layer
                .add_connection(SipConnection::Tcp(c)),
            Err(e) => tracing::warn!(error = %e, "SIP TCP connection dropped"),
        }
    }
}

async fn accept_tls(
    listener: TcpListener,
    tls: Arc<ServerTls>,
    local: SipAddr,
    endpoint: Arc<EndpointInner>,
    peers: TlsPeers,
    cancel: CancellationToken,
) {
    loop {
        let (stream, remote) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "SIP TLS accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = tls.acceptor();
        let (local, endpoint, peers, cancel) = (
            local.clone(),
            endpoint.clone(),
            peers.clone(),
            cancel.clone(),
        );
        tokio::spawn(async move {
            let handshake =
                tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream))
                    .await;
            let stream = match handshake {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!(%remote, error = %e, "SIP TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::info!(%remote, "SIP TLS handshake timed out");
                    return;
                }
            };
            if let Some(cert) = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
            {
                peers.insert(remote, cert.clone().into_owned());
            }
            let remote_addr = SipAddr {
                r#type: Some(Transport::Tls),
                addr: remote.into(),
            };
            match TlsConnection::from_server_stream(
                stream,
                local,
                remote_addr,
                Some(cancel.child_token()),
            )
            .await
            {
                Ok(c) => endpoint
                    .transport_layer
                    .add_connection(SipConnection::Tls(c)),
                Err(e) => tracing::warn!(%remote, error = %e, "SIP TLS connection dropped"),
            }
        });
    }
}
