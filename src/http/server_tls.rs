//! TLS on the listening side (rustls on ring): a listener's certificate and key from PEM
//! files (`tls-cert-file`, `tls-key-file`), optional verification of client certificates
//! against a CA (`tls-client-ca-file`, `tls-client-auth = "optional" | "required"`: mutual
//! TLS between the content servers of two systems), and reload without a restart: on
//! [`ServerTls::reload`] (SIGHUP) and when the files change ([`ServerTls::spawn_watch`]).
//! A reload that fails keeps the certificate in use and says why; handshakes in progress
//! and open connections keep the configuration they started with.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use serde::Deserialize;

/// Whether a listener asks clients for a certificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    Off,
    /// A client may present one; if it does, it must chain to `tls-client-ca-file`.
    Optional,
    /// Every client must present a certificate that chains to `tls-client-ca-file`.
    Required,
}

/// The TLS settings of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
    pub client_auth: ClientAuth,
}

impl ServerTlsSettings {
    /// The settings of a listener's `tls-*` keys: none without a certificate; a key
    /// without a certificate (or the reverse) is an error, and a client CA without a
    /// `tls-client-auth` choice means `required`.
    pub fn from_keys(
        cert: Option<&PathBuf>,
        key: Option<&PathBuf>,
        client_ca: Option<&PathBuf>,
        client_auth: ClientAuth,
    ) -> Result<Option<Self>, crate::config::ConfigError> {
        use crate::config::invalid;
        let (cert, key) = match (cert, key) {
            (None, None) => {
                if client_ca.is_some() || client_auth != ClientAuth::Off {
                    return Err(invalid(
                        "tls-client-ca-file",
                        "client certificates need HTTPS: set tls-cert-file and tls-key-file",
                    ));
                }
                return Ok(None);
            }
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => {
                return Err(invalid(
                    "tls-cert-file",
                    "tls-cert-file and tls-key-file go together",
                ))
            }
        };
        let client_auth = match (client_auth, client_ca) {
            (ClientAuth::Off, Some(_)) => ClientAuth::Required,
            (ClientAuth::Off, None) => ClientAuth::Off,
            (_, None) => {
                return Err(invalid(
                    "tls-client-auth",
                    "verifying client certificates needs tls-client-ca-file",
                ))
            }
            (auth, Some(_)) => auth,
        };
        Ok(Some(ServerTlsSettings {
            cert_file: cert,
            key_file: key,
            client_ca_file: client_ca.cloned(),
            client_auth,
        }))
    }
}

/// Why a listener's TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ServerTlsError {
    #[error("cannot read the certificate chain from {path}: {reason}")]
    Cert { path: PathBuf, reason: String },
    #[error("cannot read the private key from {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("cannot read client CA certificates from {path}: {reason}")]
    ClientCa { path: PathBuf, reason: String },
    #[error("tls-client-auth = {0:?} needs tls-client-ca-file")]
    NoClientCa(ClientAuth),
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

/// A listener's TLS configuration, replaced whole on reload.
pub struct ServerTls {
    settings: ServerTlsSettings,
    current: RwLock<Arc<ServerConfig>>,
    /// Modification times of the files the configuration was built from.
    stamps: Mutex<Vec<Option<SystemTime>>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block in the file".into());
    }
    Ok(certs)
}

fn build(s: &ServerTlsSettings) -> Result<ServerConfig, ServerTlsError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(&s.cert_file).map_err(|reason| ServerTlsError::Cert {
        path: s.cert_file.clone(),
        reason,
    })?;
    let key = PrivateKeyDer::from_pem_file(&s.key_file).map_err(|e| ServerTlsError::Key {
        path: s.key_file.clone(),
        reason: e.to_string(),
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerTlsError::Config(e.to_string()))?;
    let builder = match (s.client_auth, &s.client_ca_file) {
        (ClientAuth::Off, _) => builder.with_no_client_auth(),
        (auth, None) => return Err(ServerTlsError::NoClientCa(auth)),
        (auth, Some(ca)) => {
            let bad = |reason: String| ServerTlsError::ClientCa {
                path: ca.clone(),
                reason,
            };
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs(ca).map_err(bad)? {
                roots.add(c).map_err(|e| bad(e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match auth {
                ClientAuth::Optional => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier.build().map_err(|e| bad(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| ServerTlsError::Config(e.to_string()))?;
    // HTTP/1.1 only, as the plain listener.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

impl ServerTls {
    /// Build the configuration of `settings`, or say which file is wrong.
    pub fn load(settings: ServerTlsSettings) -> Result<Arc<Self>, ServerTlsError> {
        let cfg = build(&settings)?;
        let stamps = stamps(&settings);
        Ok(Arc::new(ServerTls {
            settings,
            current: RwLock::new(Arc::new(cfg)),
            stamps: Mutex::new(stamps),
        }))
    }

    /// The settings it was built from.
    pub fn settings(&self) -> &ServerTlsSettings {
        &self.settings
    }

    /// The acceptor for a new connection.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let cfg = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        tokio_rustls::TlsAcceptor::from(cfg)
    }

    /// Read the files again and use them for new connections. On error the configuration
    /// in use stays.
    pub fn reload(&self) -> Result<(), ServerTlsError> {
        let stamps = stamps(&self.settings);
        let cfg = build(&self.settings)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(cfg);
        *self.stamps.lock().unwrap_or_else(|p| p.into_inner()) = stamps;
        tracing::info!(cert = %self.settings.cert_file.display(), "TLS certificate reloaded");
        Ok(())
    }

    /// [`ServerTls::reload`] when one of the files changed since the last load.
    pub fn reload_if_changed(&self) -> Result<bool, ServerTlsError> {
        let now = stamps(&self.settings);
        if *self.stamps.lock().unwrap_or_else(|p| p.into_inner()) == now {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }

    /// Check the files every `every` and reload when they changed (a renewed certificate,
    /// as certbot or cert-manager write it). A failed reload is logged, and tried again
    /// at the next change.
    pub fn spawn_watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(tls) = me.upgrade() else { return };
                if let Err(e) = tls.reload_if_changed() {
                    tracing::warn!(error = %e, "TLS reload failed: the certificate in use stays");
                    // Do not retry the same broken files every tick.
                    *tls.stamps.lock().unwrap_or_else(|p| p.into_inner()) = stamps(&tls.settings);
                }
            }
        })
    }
}

fn stamps(s: &ServerTlsSettings) -> Vec<Option<SystemTime>> {
    let mut files = vec![&s.cert_file, &s.key_file];
    files.extend(s.client_ca_file.as_ref());
    files
        .into_iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

/// The verified certificate a client presented (mutual TLS), as a request extension.
#[derive(Debug, Clone)]
pub struct ClientCertificate(pub Arc<CertificateDer<'static>>);

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name)
    }

    fn settings() -> ServerTlsSettings {
        ServerTlsSettings {
            cert_file: fixture("server.pem"),
            key_file: fixture("server.key"),
            client_ca_file: None,
            client_auth: ClientAuth::Off,
        }
    }

    #[test]
    fn errors_name_the_file() {
        let mut s = settings();
        s.cert_file = fixture("none.pem");
        let e = ServerTls::load(s).unwrap_err().to_string();
        assert!(e.contains("none.pem"), "{e}");
        let mut s = settings();
        s.key_file = fixture("ca.pem");
        let e = ServerTls::load(s).unwrap_err().to_string();
        assert!(e.contains("private key") && e.contains("ca.pem"), "{e}");
        let mut s = settings();
        s.client_auth = ClientAuth::Required;
        let e = ServerTls::load(s).unwrap_err().to_string();
        assert!(e.contains("tls-client-ca-file"), "{e}");
        let mut s = settings();
        s.key_file = fixture("server2.key");
        let e = ServerTls::load(s).unwrap_err().to_string();
        assert!(
            e.contains("do not make"),
            "a key of another certificate: {e}"
        );
    }

    #[test]
    fn a_failed_reload_keeps_the_configuration_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::copy(fixture("server.pem"), &cert).unwrap();
        std::fs::copy(fixture("server.key"), &key).unwrap();
        let tls = ServerTls::load(ServerTlsSettings {
            cert_file: cert.clone(),
            key_file: key,
            client_ca_file: None,
            client_auth: ClientAuth::Off,
        })
        .unwrap();
        assert!(!tls.reload_if_changed().unwrap(), "nothing changed");
        std::fs::write(&cert, "garbage").unwrap();
        assert!(tls.reload().is_err());
        let _still = tls.acceptor();
    }
}
