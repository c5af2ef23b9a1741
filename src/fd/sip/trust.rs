//! Which partner a SIP request comes from, and whether to believe it. Across systems the
//! SIP core authenticates (TS 23.280 10.14), not a bearer token: a partner is named by
//! the request's P-Asserted-Identity (else From) and believed when the request came from
//! one of its `sip-trusted-sources` (by default its next hop's addresses) or over TLS
//! with a client certificate, chained to `sip-tls-ca-file`, valid for its PSI's host.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::sip::{Host, Uri};
use rustls::pki_types::{CertificateDer, ServerName};

use super::settings::Peer;
use crate::fd::config::FdPartner;

/// Verified client certificates of the TLS connections open now, by remote address.
#[derive(Clone)]
pub(crate) struct TlsPeers(moka::sync::Cache<std::net::SocketAddr, Arc<CertificateDer<'static>>>);

impl TlsPeers {
    pub(crate) fn new() -> Self {
        TlsPeers(
            moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
        )
    }
    pub(crate) fn insert(&self, remote: std::net::SocketAddr, cert: CertificateDer<'static>) {
        self.0.insert(remote, Arc::new(cert));
    }
    pub(crate) fn get(
        &self,
        remote: &std::net::SocketAddr,
    ) -> Option<Arc<CertificateDer<'static>>> {
        self.0.get(remote)
    }
}

/// `user@host` of a SIP URI, host in lower case: how identities are compared (RFC 3261
/// 19.1.4, without the parameters).
pub(crate) fn identity(uri: &Uri) -> String {
    let host = match &uri.host_with_port.host {
        Host::Domain(d) => d.to_string().to_ascii_lowercase(),
        Host::IpAddr(ip) => ip.to_string(),
    };
    let port = uri
        .host_with_port
        .port
        .as_ref()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    match &uri.auth {
        Some(a) => format!("{}@{host}{port}", a.user),
        None => format!("{host}{port}"),
    }
}

/// Is `ip` one of the partner's sources?
pub(crate) async fn from_trusted_source(p: &FdPartner, peer: &Peer, ip: IpAddr) -> bool {
    if !p.sip_trusted_sources.is_empty() {
        return p.sip_trusted_sources.iter().any(|net| net.contains(&ip));
    }
    // By default: the addresses of its next hop (the SIP core in front of it).
    match &peer.next_hop.addr.host {
        Host::IpAddr(a) => *a == ip,
        Host::Domain(d) => {
            let port: u16 = peer
                .next_hop
                .addr
                .port
                .as_ref()
                .map(|p| p.value())
                .unwrap_or(5060);
            match tokio::time::timeout(
                Duration::from_secs(2),
                tokio::net::lookup_host((d.to_string(), port)),
            )
            .await
            {
                Ok(Ok(mut addrs)) => addrs.any(|a| a.ip() == ip),
                _ => false,
            }
        }
    }
}

/// Is `cert` (already chained to our CA by the handshake) valid for the partner's host?
pub(crate) fn certificate_names(peer: &Peer, cert: &CertificateDer<'_>) -> bool {
    let Ok(name) = ServerName::try_from(peer.tls_name.as_str()) else {
        return false;
    };
    let Ok(parsed) = rustls::server::ParsedCertificate::try_from(cert) else {
        return false;
    };
    rustls::client::verify_server_name(&parsed, &name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_ignore_parameters_and_host_case() {
        let a = Uri::try_from("sip:mcdata-fd@B.Example;transport=tcp").unwrap();
        let b = Uri::try_from("sip:mcdata-fd@b.example").unwrap();
        assert_eq!(identity(&a), identity(&b));
        let c = Uri::try_from("sip:other@b.example").unwrap();
        assert_ne!(identity(&a), identity(&c));
    }
}
