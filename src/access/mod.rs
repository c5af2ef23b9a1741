//! Who is calling: bearer tokens of local users (static tokens, or JWT access tokens of the
//! identity management server, [`jwt`]) and agreement credentials of peer systems. Static
//! tokens and credentials are compared in constant time.

pub mod jwks;
pub mod jwt;
pub mod ring_provider;

use std::collections::HashMap;
use std::sync::Arc;

use http::HeaderMap;

use crate::http::error::ApiError;
use jwt::{JwtVerifier, TokenError};

/// The identity behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No `Authorization` header.
    Anonymous,
    /// A local user, by MCData ID.
    User(String),
    /// A peer system, by system id, proven by its agreement credential.
    Peer(String),
}

/// Why a caller was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    #[error("this request needs `Authorization: Bearer <token>`")]
    Missing,
    #[error("the bearer token is not valid here")]
    Invalid,
    #[error("the Authorization header is not a bearer token")]
    Malformed,
    /// A JWT access token that does not verify (RFC 6750 §3.1 `invalid_token`), or
    /// lacks the scope (`insufficient_scope`).
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// The access table in use, replaced whole when the configuration is reloaded (SIGHUP);
/// requests read it without a lock.
pub type SharedAccess = std::sync::Arc<arc_swap::ArcSwap<Access>>;

/// Share `access` as the table in use.
pub fn shared(access: Access) -> SharedAccess {
    std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(access))
}

/// The tokens and credentials a server accepts.
#[derive(Debug, Clone, Default)]
pub struct Access {
    users: Vec<(String, String)>,
    peers: Vec<(String, String)>,
    peer_by_id: HashMap<String, String>,
    /// JWT access tokens, when an issuer is configured.
    jwt: Option<Arc<JwtVerifier>>,
}

pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, AccessError> {
    let Some(v) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| AccessError::Malformed)?;
    match v.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(AccessError::Malformed),
    }
}

impl Access {
    /// Accept `users` as (MCData ID, token) and `peers` as (system id, agreement credential).
    pub fn new<'a>(
        users: impl IntoIterator<Item = (&'a str, &'a str)>,
        peers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let peers: Vec<(String, String)> = peers
            .into_iter()
            .map(|(id, cred)| (cred.to_string(), id.to_string()))
            .collect();
        Access {
            users: users
                .into_iter()
                .map(|(id, token)| (token.to_string(), id.to_string()))
                .collect(),
            peer_by_id: peers
                .iter()
                .map(|(cred, id)| (id.clone(), cred.clone()))
                .collect(),
            peers,
            jwt: None,
        }
    }

    /// Also accept JWT access tokens checked by `verifier` (beside the static tokens).
    pub fn with_jwt(mut self, verifier: Arc<JwtVerifier>) -> Self {
        self.jwt = Some(verifier);
        self
    }

    /// True when local users must present a token: static users or an issuer configured.
    pub fn users_required(&self) -> bool {
        !self.users.is_empty() || self.jwt.is_some()
    }

    /// Identify the caller; an unknown token is an error, no token is `Anonymous`.
    /// Agreement credentials and static tokens are tried first; a token that is neither
    /// and has the shape of a JWT goes to the verifier when one is configured (which may
    /// wait for a refresh of the issuer's keys when it names an unknown key).
    pub async fn identify(&self, headers: &HeaderMap) -> Result<Caller, AccessError> {
        let caller = self.caller_of(headers).await?;
        // The access log names who made the request.
        match &caller {
            Caller::User(id) => crate::http::access_log::note_caller(|| id.clone()),
            Caller::Peer(system) => {
                crate::http::access_log::note_caller(|| format!("peer:{system}"))
            }
            Caller::Anonymous => {}
        }
        Ok(caller)
    }

    async fn caller_of(&self, headers: &HeaderMap) -> Result<Caller, AccessError> {
        let Some(token) = bearer(headers)? else {
            return Ok(Caller::Anonymous);
        };
        let t = token.as_bytes();
        if let Some((_, id)) = self.peers.iter().find(|(c, _)| ct_eq(c.as_bytes(), t)) {
            return Ok(Caller::Peer(id.clone()));
        }
        if let Some((_, id)) = self.users.iter().find(|(c, _)| ct_eq(c.as_bytes(), t)) {
            return Ok(Caller::User(id.clone()));
        }
        if let Some(v) = self.jwt.as_ref().filter(|_| jwt::looks_like_jwt(token)) {
            return match v.verify(token).await {
                Ok(id) => Ok(Caller::User(id)),
                Err(e) => {
                    tracing::debug!(target: "mcdata::access", error = %e, "JWT access token refused");
                    Err(e.into())
                }
            };
        }
        Err(AccessError::Invalid)
    }

    /// The caller must be a local user, or anyone when no users are configured.
    pub async fn require_user(&self, headers: &HeaderMap) -> Result<Caller, AccessError> {
        match self.identify(headers).await? {
            Caller::Anonymous if self.users_required() => Err(AccessError::Missing),
            Caller::Peer(_) if self.users_required() => Err(AccessError::Invalid),
            c => Ok(c),
        }
    }

    /// The agreement credential we present to `system`.
    pub fn credential_for(&self, system: &str) -> Option<&str> {
        self.peer_by_id.get(system).map(String::as_str)
    }
}

/// RFC 6750 §3.1: no token is 401 without an error code; a static token we do not know
/// stays 403 as it always was; a JWT that does not verify is 401 `invalid_token`, one
/// without the scope 403 `insufficient_scope`; a JWT we cannot check for want of the
/// issuer's keys is 503.
impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Missing => ApiError::Unauthorized(e.to_string()),
            AccessError::Invalid | AccessError::Malformed => ApiError::Forbidden(e.to_string()),
            AccessError::Token(TokenError::InsufficientScope(scope)) => {
                let reason = TokenError::InsufficientScope(scope.clone()).to_string();
                ApiError::InsufficientScope { scope, reason }
            }
            AccessError::Token(t @ TokenError::KeysUnavailable) => {
                ApiError::Unavailable(t.to_string())
            }
            AccessError::Token(t) => ApiError::InvalidToken(t.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(v).unwrap(),
        );
        m
    }

    #[tokio::test]
    async fn identifies_users_and_peers() {
        let a = Access::new([("alice", "tok-alice")], [("B", "cred-b-123")]);
        assert_eq!(a.identify(&HeaderMap::new()).await, Ok(Caller::Anonymous));
        assert_eq!(
            a.identify(&h("Bearer tok-alice")).await,
            Ok(Caller::User("alice".into()))
        );
        assert_eq!(
            a.identify(&h("bearer cred-b-123")).await,
            Ok(Caller::Peer("B".into()))
        );
        assert_eq!(
            a.identify(&h("Bearer nope")).await,
            Err(AccessError::Invalid)
        );
        assert_eq!(
            a.identify(&h("Basic eA==")).await,
            Err(AccessError::Malformed)
        );
        assert_eq!(
            a.require_user(&HeaderMap::new()).await,
            Err(AccessError::Missing)
        );
        assert_eq!(a.credential_for("B"), Some("cred-b-123"));
        // Without an issuer, a JWT-shaped token is just an unknown static token.
        assert_eq!(
            a.identify(&h("Bearer eyJh.eyJi.c2ln")).await,
            Err(AccessError::Invalid)
        );
    }

    #[tokio::test]
    async fn static_tokens_and_jwts_side_by_side() {
        use jwt::tests::{good_claims, sign};
        let a = Access::new([("bob@a.example", "tok-bob")], [("B", "cred-b-123")])
            .with_jwt(jwt::tests::verifier().await);
        let t = sign(
            jsonwebtoken::Algorithm::ES256,
            "es256-a",
            Some("es256-a"),
            &good_claims(),
        );
        assert_eq!(
            a.require_user(&h(&format!("Bearer {t}"))).await,
            Ok(Caller::User("alice@a.example".into()))
        );
        assert_eq!(
            a.require_user(&h("Bearer tok-bob")).await,
            Ok(Caller::User("bob@a.example".into()))
        );
        assert_eq!(
            a.identify(&h("Bearer cred-b-123")).await,
            Ok(Caller::Peer("B".into()))
        );
        assert_eq!(
            a.identify(&h("Bearer nope")).await,
            Err(AccessError::Invalid)
        );
        // An issuer alone makes a token required.
        let jwt_only = Access::new([], []).with_jwt(jwt::tests::verifier().await);
        assert!(jwt_only.users_required());
        assert_eq!(
            jwt_only.require_user(&HeaderMap::new()).await,
            Err(AccessError::Missing)
        );
    }

    /// RFC 6750 §3.1: which refusal is which status.
    #[test]
    fn rfc6750_3_1_errors_map_to_statuses() {
        use http::StatusCode;
        let status = |e: AccessError| ApiError::from(e).status();
        assert_eq!(status(AccessError::Missing), StatusCode::UNAUTHORIZED);
        assert_eq!(status(AccessError::Invalid), StatusCode::FORBIDDEN);
        assert_eq!(status(TokenError::Expired.into()), StatusCode::UNAUTHORIZED);
        assert_eq!(
            status(TokenError::InsufficientScope("s".into()).into()),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(TokenError::KeysUnavailable.into()),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
