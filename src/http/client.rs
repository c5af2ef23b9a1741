//! The outbound HTTP/1.1 clients (connection pooling by hyper-util): partner fetches from
//! primaries, purges from primaries to partners, MCData server interconnection, and the
//! `mcdata client` library. `http://` and `https://` alike: TLS is rustls on ring, trusting
//! the system's CA roots plus, optionally, the CAs of a PEM file (`tls-ca-file`), which is
//! how a private PKI between two public-safety systems is usually trusted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Empty, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The connector of every outbound client: plain TCP, or TLS for `https://`.
pub type Connector = HttpsConnector<HttpConnector>;

/// A client for requests without a body.
pub type HttpClient = Client<Connector, Empty<Bytes>>;

/// A client for requests with a small body held whole.
pub type BodyClient = Client<Connector, Full<Bytes>>;

/// Why the outbound TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("tls-ca-file: cannot read CA certificates from {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("upstream-tls-cert-file: cannot use the client certificate {path}: {reason}")]
    ClientCert { path: PathBuf, reason: String },
}

/// The certificate and key a client presents to servers that ask for one (mutual TLS).
pub struct ClientIdentity {
    certs: Vec<CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
}

impl ClientIdentity {
    /// Read a certificate chain and its key from PEM files.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsSetupError> {
        let bad = |path: &Path, reason: String| TlsSetupError::ClientCert {
            path: path.to_path_buf(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(cert)
            .map_err(|e| bad(cert, e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(cert, e.to_string()))?;
        if certs.is_empty() {
            return Err(bad(cert, "no CERTIFICATE block in the file".into()));
        }
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key)
            .map_err(|e| bad(key, e.to_string()))?;
        Ok(ClientIdentity { certs, key })
    }
}

/// The CA certificates of a PEM file (`tls-ca-file`), checked: an error when the file
/// cannot be read, has no certificate, or one is not a usable CA.
pub fn load_cas(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let bad = |reason: String| TlsSetupError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE block in the file".into()));
    }
    let mut check = rustls::RootCertStore::empty();
    for c in &certs {
        check.add(c.clone()).map_err(|e| bad(e.to_string()))?;
    }
    Ok(certs)
}

/// The rustls client configuration, on ring: the system's CA roots plus `extra`. Without
/// any root at all (no system CA bundle, no extra CA), https peers are refused at the
/// handshake ("unknown issuer") while plain http keeps working.
pub fn tls_config(extra: &[CertificateDer<'static>]) -> rustls::ClientConfig {
    match tls_config_as(extra, None) {
        Ok(c) => c,
        // Without an identity nothing can fail; keep the types honest anyway.
        Err(_) => rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    }
}

/// [`tls_config`], presenting `identity` to servers that ask for a client certificate.
pub fn tls_config_as(
    extra: &[CertificateDer<'static>],
    identity: Option<ClientIdentity>,
) -> Result<rustls::ClientConfig, TlsSetupError> {
    let finish =
        |b: rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>| {
            match identity {
                None => Ok(b.with_no_client_auth()),
                Some(id) => b.with_client_auth_cert(id.certs, id.key).map_err(|e| {
                    TlsSetupError::ClientCert {
                        path: PathBuf::from("(certificate and key)"),
                        reason: e.to_string(),
                    }
                }),
            }
        };
    // ring is our only provider; make it the process default (a no-op when it already is)
    // so that building configurations never has to guess.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder();
    match rustls_platform_verifier::Verifier::new_with_extra_roots(extra.to_vec(), provider) {
        Ok(v) => finish(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(v)),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "no system CA certificates: https peers need tls-ca-file");
            let mut roots = rustls::RootCertStore::empty();
            roots.add_parsable_certificates(extra.iter().cloned());
            finish(builder.with_root_certificates(roots))
        }
    }
}

/// [`tls_config`] with the CAs of `ca_file`, if any.
pub fn tls_from_file(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, TlsSetupError> {
    tls_from_files(ca_file, None)
}

/// The same, presenting the client certificate and key of `identity` (PEM files).
pub fn tls_from_files(
    ca_file: Option<&Path>,
    identity: Option<(&Path, &Path)>,
) -> Result<rustls::ClientConfig, TlsSetupError> {
    let extra = match ca_file {
        Some(p) => load_cas(p)?,
        None => Vec::new(),
    };
    let identity = identity
        .map(|(c, k)| ClientIdentity::load(c, k))
        .transpose()?;
    tls_config_as(&extra, identity)
}

fn build<B>(connect_timeout: Duration, tls: rustls::ClientConfig) -> Client<Connector, B>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    conn.set_connect_timeout(Some(connect_timeout));
    conn.enforce_http(false);
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(conn);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(https)
}

/// A pooled client with TCP_NODELAY, a connect timeout and TLS for `https://` URLs.
pub fn new_client(connect_timeout: Duration, tls: rustls::ClientConfig) -> HttpClient {
    build(connect_timeout, tls)
}

/// The same, for requests with a body.
pub fn new_body_client(connect_timeout: Duration, tls: rustls::ClientConfig) -> BodyClient {
    build(connect_timeout, tls)
}

/// A client for any body type (the `mcdata client` library streams uploads).
pub fn new_client_for<B>(
    connect_timeout: Duration,
    tls: rustls::ClientConfig,
) -> Client<Connector, B>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    build(connect_timeout, tls)
}

/// The `User-Agent` we send.
pub const USER_AGENT: &str = concat!("mcdata/", env!("CARGO_PKG_VERSION"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_file_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        let e = tls_from_file(Some(&missing)).unwrap_err().to_string();
        assert!(e.contains("none.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = tls_from_file(Some(&empty)).unwrap_err().to_string();
        assert!(e.contains("no CERTIFICATE"), "{e}");
        assert!(tls_from_file(None).is_ok());
    }
}
