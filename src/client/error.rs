//! The one error type of the client library, and how HTTP answers and transport failures
//! become it: a non-2xx status keeps the server's `{"error", "reason"}` text, a transport
//! failure keeps the whole cause chain (hyper's top-level message alone says little).

use http::StatusCode;

/// Everything a client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a non-2xx status.
    #[error("{method} {url}: {status} {reason}")]
    Status {
        method: String,
        url: String,
        status: u16,
        reason: String,
    },
    /// No connection could be made (refused, unknown host, connect timeout).
    #[error("cannot reach {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The exchange failed after connecting: a body that broke off or came up short, a
    /// timeout, a stream that could not be parsed.
    #[error("{0}")]
    Body(String),
    /// Local files and terminals.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The server answered 2xx but the body is not what the API document says.
    #[error("bad answer: {0}")]
    Decode(String),
    /// A server or file URL this client cannot use (not `http://` or `https://`).
    #[error("not a usable URL: {0}")]
    InvalidUrl(String),
    /// A local setting this client cannot use (e.g. `--tls-ca-file`).
    #[error("{0}")]
    Setup(String),
    /// A download would replace this existing file, and replacing was not asked for.
    #[error("{} already exists: not replaced", .0.display())]
    Exists(std::path::PathBuf),
}

impl ClientError {
    /// The HTTP status, for [`ClientError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again later may help: transport failures and 5xx answers, not
    /// refusals (4xx) or bad input.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Status { status, .. } => *status >= 500,
            ClientError::Connect { .. } | ClientError::Body(_) | ClientError::Io(_) => true,
            ClientError::Decode(_)
            | ClientError::InvalidUrl(_)
            | ClientError::Setup(_)
            | ClientError::Exists(_) => false,
        }
    }
}

pub use crate::support::error_chain::chain;

/// The human reason of an error answer: the `reason` (else `error`) of the JSON body the
/// servers send, else the start of a text body, else the status's canonical reason.
pub fn reason_from_body(status: u16, body: &[u8]) -> String {
    let canonical = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        for key in ["reason", "error"] {
            if let Some(text) = v.get(key).and_then(|r| r.as_str()) {
                if !text.is_empty() {
                    return text.to_string();
                }
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return canonical.to_string();
    }
    let mut short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_prefers_the_json_reason() {
        let body = br#"{"error":"payload_too_large","reason":"the body exceeds the maximum data size for FD (10 bytes)"}"#;
        assert_eq!(
            reason_from_body(413, body),
            "the body exceeds the maximum data size for FD (10 bytes)"
        );
        assert_eq!(
            reason_from_body(404, br#"{"error":"not_found"}"#),
            "not_found"
        );
    }

    #[test]
    fn reason_falls_back_to_text_then_canonical() {
        assert_eq!(
            reason_from_body(502, b"upstream\nbroke\n"),
            "upstream broke"
        );
        assert_eq!(reason_from_body(404, b""), "Not Found");
        let long = "x".repeat(500);
        assert_eq!(reason_from_body(500, long.as_bytes()).chars().count(), 201);
    }

    #[test]
    fn status_error_display_and_transience() {
        let e = ClientError::Status {
            method: "POST".into(),
            url: "http://h/fd/requests".into(),
            status: 413,
            reason: "too big".into(),
        };
        assert_eq!(e.to_string(), "POST http://h/fd/requests: 413 too big");
        assert_eq!(e.status(), Some(413));
        assert!(!e.is_transient());
        assert!(ClientError::Body("x".into()).is_transient());
    }

    #[test]
    fn chain_joins_sources_without_repeats() {
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let outer = std::io::Error::other(inner);
        // io::Error::other displays its inner error: the repeat is dropped.
        assert_eq!(chain(&outer), "refused");
    }
}
