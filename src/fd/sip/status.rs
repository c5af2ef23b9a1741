//! Our refusals as SIP responses: the status code (RFC 3261 section 21) and a `Warning`
//! (section 20.43) with the TS 24.282 clause 4.9 warn-code where the spec has one, else
//! 399 (miscellaneous) with the reason.

use crate::http::error::ApiError;

/// TS 24.282 clause 4.9 / 10.2.4.4.2: "file referenced by file URL does not exist".
pub(crate) const WARN_NO_SUCH_FILE: u16 = 212;
/// RFC 3261 section 20.43: miscellaneous warning, free text.
pub(crate) const WARN_MISC: u16 = 399;

/// A SIP refusal: status, reason phrase and warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub warn_code: u16,
    pub text: String,
}

impl Refusal {
    pub(crate) fn new(status: u16, warn_code: u16, text: impl Into<String>) -> Self {
        Refusal {
            status,
            warn_code,
            text: text.into(),
        }
    }

    /// The `Warning` header value: `code agent "text"`, quotes and backslashes escaped
    /// and control characters dropped (RFC 3261 section 25.1 quoted-string).
    pub(crate) fn warning(&self, agent: &str) -> String {
        let mut text = String::with_capacity(self.text.len());
        for c in self.text.chars().take(200) {
            match c {
                '"' | '\\' => {
                    text.push('\\');
                    text.push(c);
                }
                c if c.is_control() => text.push(' '),
                c => text.push(c),
            }
        }
        format!("{} {agent} \"{text}\"", self.warn_code)
    }
}

/// The SIP answer to an [`ApiError`] of the FD dispatch.
pub(crate) fn refusal(e: &ApiError) -> Refusal {
    let text = e.to_string();
    let (status, code) = match e {
        ApiError::BadRequest(_) => (400, WARN_MISC),
        ApiError::Unauthorized(_)
        | ApiError::InvalidToken(_)
        | ApiError::Forbidden(_)
        | ApiError::InsufficientScope { .. } => (403, WARN_MISC),
        ApiError::NotFound(_) => (404, WARN_MISC),
        ApiError::MethodNotAllowed { .. } => (405, WARN_MISC),
        ApiError::RequestTimeout(_) => (408, WARN_MISC),
        // The file the FD request names is gone: 24.282 warn-code 212.
        ApiError::Gone(_) => (404, WARN_NO_SUCH_FILE),
        // SIP has no 409; the request cannot be done as it stands.
        ApiError::Conflict(_) => (400, WARN_MISC),
        ApiError::UnsupportedMediaType(_) => (415, WARN_MISC),
        ApiError::PayloadTooLarge { .. } => (413, WARN_MISC),
        ApiError::LoopDetected(_) => (482, WARN_MISC),
        ApiError::BadGateway(_) => (502, WARN_MISC),
        ApiError::GatewayTimeout(_) => (504, WARN_MISC),
        ApiError::Unavailable(_) => (503, WARN_MISC),
        ApiError::Internal(_) => (500, WARN_MISC),
    };
    Refusal::new(status, code, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_is_a_quoted_string() {
        // RFC 3261 section 20.43: warn-code SP warn-agent SP warn-text (quoted-string).
        let r = Refusal::new(403, WARN_MISC, "no \"agreement\"\r\nwith B\\");
        assert_eq!(
            r.warning("a.example"),
            "399 a.example \"no \\\"agreement\\\"  with B\\\\\""
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(refusal(&ApiError::NotFound("x".into())).status, 404);
        assert_eq!(refusal(&ApiError::Gone("x".into())).warn_code, 212);
        assert_eq!(refusal(&ApiError::LoopDetected("x".into())).status, 482);
        assert_eq!(refusal(&ApiError::Conflict("x".into())).status, 400);
    }
}
