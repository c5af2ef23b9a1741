//! Who is calling: bearer tokens of local users and agreement credentials of peer systems.
//! Credentials are compared in constant time.

use std::collections::HashMap;

use http::HeaderMap;

use crate::http::error::ApiError;

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
}

/// The tokens and credentials a server accepts.
#[derive(Debug, Clone, Default)]
pub struct Access {
    users: Vec<(String, String)>,
    peers: Vec<(String, String)>,
    peer_by_id: HashMap<String, String>,
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
        }
    }

    /// True when local users must present a token.
    pub fn users_required(&self) -> bool {
        !self.users.is_empty()
    }

    /// Identify the caller; an unknown token is an error, no token is `Anonymous`.
    pub fn identify(&self, headers: &HeaderMap) -> Result<Caller, AccessError> {
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
        Err(AccessError::Invalid)
    }

    /// The caller must be a local user, or anyone when no users are configured.
    pub fn require_user(&self, headers: &HeaderMap) -> Result<Caller, AccessError> {
        match self.identify(headers)? {
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

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Missing => ApiError::Unauthorized(e.to_string()),
            AccessError::Invalid | AccessError::Malformed => ApiError::Forbidden(e.to_string()),
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

    #[test]
    fn identifies_users_and_peers() {
        let a = Access::new([("alice", "tok-alice")], [("B", "cred-b-123")]);
        assert_eq!(a.identify(&HeaderMap::new()), Ok(Caller::Anonymous));
        assert_eq!(
            a.identify(&h("Bearer tok-alice")),
            Ok(Caller::User("alice".into()))
        );
        assert_eq!(
            a.identify(&h("bearer cred-b-123")),
            Ok(Caller::Peer("B".into()))
        );
        assert_eq!(a.identify(&h("Bearer nope")), Err(AccessError::Invalid));
        assert_eq!(a.identify(&h("Basic eA==")), Err(AccessError::Malformed));
        assert_eq!(a.require_user(&HeaderMap::new()), Err(AccessError::Missing));
        assert_eq!(a.credential_for("B"), Some("cred-b-123"));
    }
}
