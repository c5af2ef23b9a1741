//! How errors become HTTP responses: an [`ApiError`] is a status with a JSON body
//! `{"error", "reason"}`. Each module maps its own typed error to it, beside that error
//! (`From<AccessError>` in `access`, `From<TargetError>` in `partner::target`); the
//! storage layer's, which knows nothing of HTTP, is mapped here.

use http::{Method, Response, StatusCode};

use super::body::{self, Body};
use crate::storage::StoreError;

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    /// 401 for a bearer token that does not verify: `WWW-Authenticate` carries
    /// `error="invalid_token"` and the reason (RFC 6750 §3, §3.1).
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    Forbidden(String),
    /// 403 for a valid token without the scope: `error="insufficient_scope"` and the
    /// scope it needs (RFC 6750 §3, §3.1).
    #[error("{reason}")]
    InsufficientScope { scope: String, reason: String },
    #[error("{0}")]
    NotFound(String),
    /// 405 with `Allow`: the methods the target resource supports (RFC 9110 §15.5.6: a
    /// 405 MUST carry `Allow`; §10.2.1).
    #[error("{reason}")]
    MethodNotAllowed {
        allow: &'static [Method],
        reason: String,
    },
    /// 408: the client stopped sending its request body.
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the body exceeds the maximum data size for FD ({limit} bytes)")]
    PayloadTooLarge { limit: u64 },
    #[error("{0}")]
    BadGateway(String),
    /// 508 Loop Detected (RFC 5842 §7.2): a request that already went through us.
    #[error("{0}")]
    LoopDetected(String),
    #[error("{0}")]
    GatewayTimeout(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// 405 for `method` on `path`, whose resource supports the methods `allow`.
    pub fn method_not_allowed(method: &Method, path: &str, allow: &'static [Method]) -> Self {
        ApiError::MethodNotAllowed {
            allow,
            reason: format!(
                "{method} is not supported on {path}; use {}",
                allow_value(allow)
            ),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::LoopDetected(_) => StatusCode::LOOP_DETECTED,
            ApiError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short machine-readable code for the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::InvalidToken(_) => "invalid_token",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::InsufficientScope { .. } => "insufficient_scope",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::Gone(_) => "gone",
            ApiError::Conflict(_) => "conflict",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::BadGateway(_) => "bad_gateway",
            ApiError::LoopDetected(_) => "loop_detected",
            ApiError::GatewayTimeout(_) => "gateway_timeout",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The response: status plus `{"error": code, "reason": text}`.
    pub fn into_response(self) -> Response<Body> {
        let mut resp = body::json(
            self.status(),
            &serde_json::json!({"error": self.code(), "reason": self.to_string()}),
        );
        let challenge = match &self {
            ApiError::Unauthorized(_) => Some("Bearer realm=\"mcdata\"".to_string()),
            ApiError::InvalidToken(reason) => Some(format!(
                "Bearer realm=\"mcdata\", error=\"invalid_token\", error_description=\"{}\"",
                quotable(reason)
            )),
            ApiError::InsufficientScope { scope, .. } => Some(format!(
                "Bearer realm=\"mcdata\", error=\"insufficient_scope\", scope=\"{}\"",
                quotable(scope)
            )),
            _ => None,
        };
        if let Some(v) = challenge.and_then(|c| http::HeaderValue::from_str(&c).ok()) {
            resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
        }
        if let ApiError::MethodNotAllowed { allow, .. } = &self {
            if let Ok(v) = http::HeaderValue::from_str(&allow_value(allow)) {
                resp.headers_mut().insert(http::header::ALLOW, v);
            }
        }
        resp
    }
}

/// The `Allow` field value of `methods` (RFC 9110 §10.2.1: a comma-separated list).
pub fn allow_value(methods: &[Method]) -> String {
    methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// RFC 6750 §3: `error_description` and `scope` values are limited to %x20-21 / %x23-5B
/// / %x5D-7E (printable ASCII without `"` and `\`); anything else becomes `?`.
fn quotable(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '?',
        })
        .collect()
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => ApiError::NotFound("no such file".into()),
            StoreError::Conflict(key) => {
                ApiError::Conflict(format!("{key} was changed by another writer; try again"))
            }
            other => ApiError::Unavailable(format!("storage: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9110 §15.5.6: a 405 MUST carry `Allow` with the target's methods (§10.2.1).
    #[test]
    fn method_not_allowed_carries_allow() {
        const FILE: &[Method] = &[Method::GET, Method::HEAD, Method::DELETE];
        let e = ApiError::method_not_allowed(&Method::PUT, "/files/x", FILE);
        assert_eq!(e.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            e.to_string(),
            "PUT is not supported on /files/x; use GET, HEAD, DELETE"
        );
        let resp = e.into_response();
        assert_eq!(resp.headers()[http::header::ALLOW], "GET, HEAD, DELETE");
        assert_eq!(allow_value(&[Method::POST]), "POST");
        // Other errors have no Allow.
        let resp = ApiError::NotFound("x".into()).into_response();
        assert!(resp.headers().get(http::header::ALLOW).is_none());
    }
}
