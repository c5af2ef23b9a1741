//! The cache key: which stored copy answers a request. Its primary part is the lower-case
//! hex sha-256 of the original URL's normalized serialization (scheme and host lower-cased
//! by `url`, default port dropped, fragment never part of it); a secondary part, the
//! request's values of the fields a response's `Vary` names (RFC 9111 4.1), can join it,
//! and the combined text is then the key the index and the fill registry use.

use sha2::{Digest, Sha256};
use url::{Position, Url};

use crate::support::hex::to_hex;

/// The key of one stored response (and of the one fill that brings it in).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// Hex sha-256 of the URL (the primary key, RFC 9111 2).
    primary: String,
    /// Hex sha-256 of the primary key and the secondary key, when a secondary key joined.
    combined: Option<String>,
}

impl CacheKey {
    /// The key of an original URL (fragment excluded).
    pub fn of(url: &Url) -> CacheKey {
        CacheKey {
            primary: to_hex(&Sha256::digest(url[..Position::AfterQuery].as_bytes())),
            combined: None,
        }
    }

    /// The key of a URL as a sidecar stores it; `None` when the text is not a URL.
    pub fn of_stored_url(url: &str) -> Option<CacheKey> {
        Url::parse(url).ok().map(|u| CacheKey::of(&u))
    }

    /// This key with a secondary key joined (the normalized values of the request fields
    /// a response's `Vary` nominates).
    pub fn with_secondary(&self, secondary: &str) -> CacheKey {
        let mut h = Sha256::new();
        h.update(self.primary.as_bytes());
        h.update([0u8]);
        h.update(secondary.as_bytes());
        CacheKey {
            primary: self.primary.clone(),
            combined: Some(to_hex(&h.finalize())),
        }
    }

    /// The primary part alone (the URL's key).
    pub fn primary(&self) -> &str {
        &self.primary
    }

    /// The key as text: 64 lower-case hex digits.
    pub fn as_str(&self) -> &str {
        self.combined.as_deref().unwrap_or(&self.primary)
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<String> for CacheKey {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn cache_keys() {
        let a = CacheKey::of(&url("http://127.0.0.1:8080/files/3f2a"));
        let b = CacheKey::of(&url("HTTP://127.0.0.1:8080/files/3f2a"));
        let c = CacheKey::of(&url("http://127.0.0.1:8080/files/3f2a#frag"));
        let d = CacheKey::of(&url("http://127.0.0.1:8080/files/3f2b"));
        let e = CacheKey::of(&url("http://127.0.0.1:8080/files/3f2a?x"));
        assert_eq!(a.as_str().len(), 64);
        assert!(a
            .as_str()
            .chars()
            .all(|ch| matches!(ch, '0'..='9' | 'a'..='f')));
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_ne!(a, d);
        assert_ne!(a, e);
        assert_eq!(
            CacheKey::of(&url("http://h/")),
            // sha256("http://h/"), and the key the index rebuilds from sidecars
            CacheKey::of_stored_url("http://h/").unwrap()
        );
        assert_eq!(CacheKey::of(&url("http://h/")).as_str(), {
            let mut s = String::new();
            for byte in Sha256::digest(b"http://h/") {
                std::fmt::Write::write_fmt(&mut s, format_args!("{byte:02x}")).unwrap();
            }
            s
        });
    }

    #[test]
    fn a_secondary_key_makes_another_key() {
        let k = CacheKey::of(&url("http://h/f"));
        let en = k.with_secondary("accept-language=en");
        assert_ne!(en, k);
        assert_ne!(en, k.with_secondary("accept-language=fr"));
        assert_eq!(en, k.with_secondary("accept-language=en"));
        assert_eq!(en.primary(), k.as_str());
        assert_eq!(en.as_str().len(), 64);
    }
}
