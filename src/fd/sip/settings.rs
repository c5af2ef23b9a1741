//! What the `sip-*` keys and a SIP partner's keys mean: our PSI, a partner's PSI, the next
//! hop and transport its requests go to, checked when the configuration loads.

use rsipstack::sip::{Host, HostWithPort, Param, Scheme, Transport, Uri};
use rsipstack::transport::SipAddr;

use crate::config::{invalid, ConfigError};
use crate::fd::config::{FdPartner, FdServerConfig, Interconnect};

/// A SIP partner as the transport sees it.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    /// Its PSI: the Request-URI and To of what we send it (TS 24.282 6.3).
    pub psi: Uri,
    /// Where its requests go: the next hop and the transport (UDP, TCP or TLS).
    pub next_hop: SipAddr,
    /// The host name its TLS certificate (as server and as client) must be valid for.
    pub tls_name: String,
}

fn transport_of(uri: &Uri) -> Transport {
    let named = uri.params.iter().find_map(|p| match p {
        Param::Transport(t) => Some(*t),
        _ => None,
    });
    match (named, &uri.scheme) {
        (Some(t), _) => t,
        (None, Some(Scheme::Sips)) => Transport::Tls,
        (None, _) => Transport::Udp,
    }
}

/// Parse a `sip:` or `sips:` URI.
pub(crate) fn parse_sip_uri(text: &str) -> Result<Uri, String> {
    let uri = Uri::try_from(text).map_err(|e| format!("{text}: not a SIP URI ({e})"))?;
    match uri.scheme {
        Some(Scheme::Sip | Scheme::Sips) => Ok(uri),
        _ => Err(format!("{text}: a SIP URI starts with sip: or sips:")),
    }
}

impl Peer {
    /// The SIP side of a partner whose `interconnect` is `sip`.
    pub(crate) fn of(p: &FdPartner) -> Result<Peer, String> {
        let psi = parse_sip_uri(&p.mcdata_server)?;
        let transport = transport_of(&psi);
        let mut addr = match &p.sip_next_hop {
            Some(h) => {
                HostWithPort::try_from(h.as_str()).map_err(|e| format!("sip-next-hop {h}: {e}"))?
            }
            None => psi.host_with_port.clone(),
        };
        if addr.port.is_none() {
            let port: u16 = if transport == Transport::Tls {
                5061
            } else {
                5060
            };
            addr.port = Some(port.into());
        }
        if !matches!(transport, Transport::Udp | Transport::Tcp | Transport::Tls) {
            return Err(format!(
                "{}: transport {transport} is not supported (udp, tcp or tls)",
                p.mcdata_server
            ));
        }
        let tls_name = match &psi.host_with_port.host {
            Host::Domain(d) => d.to_string(),
            Host::IpAddr(ip) => ip.to_string(),
        };
        Ok(Peer {
            psi,
            next_hop: SipAddr {
                r#type: Some(transport),
                addr,
            },
            tls_name,
        })
    }

    pub(crate) fn transport(&self) -> Transport {
        self.next_hop.r#type.unwrap_or(Transport::Udp)
    }
}

/// Our PSI: `sip-uri`, or `sip:mcdata-fd@<sip-listen>`.
pub(crate) fn our_uri(cfg: &FdServerConfig) -> Option<String> {
    match (&cfg.sip_uri, cfg.sip_listen) {
        (Some(u), _) => Some(u.clone()),
        (None, Some(addr)) => Some(format!("sip:mcdata-fd@{addr}")),
        (None, None) => None,
    }
}

/// Check the SIP keys: called by [`FdServerConfig::validate`].
pub(crate) fn validate(cfg: &FdServerConfig) -> Result<(), ConfigError> {
    if let Some(u) = &cfg.sip_uri {
        parse_sip_uri(u).map_err(|e| invalid("sip-uri", e))?;
    }
    if cfg.sip_tls_listen.is_some()
        && (cfg.sip_tls_cert_file.is_none() || cfg.sip_tls_key_file.is_none())
    {
        return Err(invalid(
            "sip-tls-listen",
            "needs sip-tls-cert-file and sip-tls-key-file",
        ));
    }
    if cfg.sip_tls_listen.is_some() && cfg.sip_listen.is_none() {
        return Err(invalid(
            "sip-tls-listen",
            "needs sip-listen too (UDP and TCP are always offered, RFC 3261 section 18)",
        ));
    }
    for p in &cfg.partners {
        if p.interconnect != Interconnect::Sip {
            if p.sip_next_hop.is_some() || !p.sip_trusted_sources.is_empty() {
                return Err(invalid(
                    "partners.interconnect",
                    format!(
                        "partner {} has sip-* keys but interconnect = \"http\"",
                        p.system_id
                    ),
                ));
            }
            continue;
        }
        if cfg.sip_listen.is_none() {
            return Err(invalid(
                "sip-listen",
                format!(
                    "partner {} is reached over SIP (interconnect = \"sip\"): set sip-listen",
                    p.system_id
                ),
            ));
        }
        Peer::of(p).map_err(|e| {
            invalid(
                "partners.mcdata-server",
                format!("partner {}: {e}", p.system_id),
            )
        })?;
    }
    Ok(())
}
