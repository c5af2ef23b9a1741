//! The issuer's public keys: a JWK Set (RFC 7517 §5) read from a file (`jwks-file`) or
//! fetched over http(s) (`jwks-url`) with the server's outbound client, parsed into a
//! [`KeySet`] of the keys we can use (by `kid`, ES256 on P-256 or RS256 of at least 2048
//! bits, for signatures). Keys we cannot use (encryption keys, HMAC secrets, other curves
//! or algorithms, no `kid`) are skipped, not errors: issuers publish such keys too.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use jsonwebtoken::jwk::PublicKeyUse;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::http::client::{HttpClient, USER_AGENT};
use crate::support::error_chain::chain;

/// The longest a JWKS fetch may take, headers and body.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest JWK Set document we read.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Why a key set could not be loaded (the last good one stays in use).
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("cannot read the JWKS file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot fetch the JWKS from {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("the JWKS at {url} answered {status}")]
    Status { url: String, status: StatusCode },
    #[error("{from}: not a JWK Set: {reason}")]
    Parse { from: String, reason: String },
    #[error("{from}: no usable signing key (ES256 on P-256 or RS256, with a kid)")]
    NoUsableKey { from: String },
}

/// One verification key of the issuer.
#[derive(Debug)]
pub struct Key {
    /// The only algorithm this key verifies (RFC 8725 §3.1: the key decides, not the
    /// token's header).
    pub alg: Algorithm,
    pub decoding: DecodingKey,
}

/// The issuer's usable keys, by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: HashMap<String, Arc<Key>>,
}

impl KeySet {
    /// The key named `kid`.
    pub fn get(&self, kid: &str) -> Option<Arc<Key>> {
        self.keys.get(kid).cloned()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The kids, sorted (for logs).
    pub fn kids(&self) -> Vec<&str> {
        let mut k: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        k.sort_unstable();
        k
    }

    /// Parse a JWK Set document; `from` names where it came from in errors and logs.
    pub fn parse(json: &[u8], from: &str) -> Result<KeySet, JwksError> {
        #[derive(serde::Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Value>,
        }
        let doc: Doc = serde_json::from_slice(json).map_err(|e| JwksError::Parse {
            from: from.to_string(),
            reason: e.to_string(),
        })?;
        let mut keys = HashMap::new();
        for (i, value) in doc.keys.into_iter().enumerate() {
            let jwk: Jwk = match serde_json::from_value(value) {
                Ok(j) => j,
                Err(e) => {
                    tracing::debug!(from, key = i, error = %e, "JWKS: key skipped (not a key we know)");
                    continue;
                }
            };
            match usable(&jwk) {
                Ok((kid, key)) => match keys.entry(kid) {
                    Entry::Vacant(e) => {
                        e.insert(Arc::new(key));
                    }
                    Entry::Occupied(e) => {
                        let kid = e.key();
                        tracing::warn!(
                            from,
                            kid,
                            "JWKS: a second key with the same kid is ignored"
                        );
                    }
                },
                Err(why) => {
                    tracing::debug!(from, key = i, kid = ?jwk.common.key_id, why, "JWKS: key skipped");
                }
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey {
                from: from.to_string(),
            });
        }
        Ok(KeySet { keys })
    }
}

/// The (kid, key) of a JWK we can verify signatures with, or why not.
fn usable(jwk: &Jwk) -> Result<(String, Key), &'static str> {
    let c = &jwk.common;
    let kid = c.key_id.clone().filter(|k| !k.is_empty()).ok_or("no kid")?;
    if c.public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return Err("not a signature key (use)");
    }
    if c.key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return Err("not a verification key (key_ops)");
    }
    let alg = c.key_algorithm;
    let key = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) => {
            if p.curve != EllipticCurve::P256 {
                return Err("not a P-256 key");
            }
            if alg.is_some_and(|a| a != KeyAlgorithm::ES256) {
                return Err("alg is not ES256");
            }
            // RFC 7518 §6.2.1.2: both coordinates are the full 32 bytes.
            if b64_len(&p.x) != Some(32) || b64_len(&p.y) != Some(32) {
                return Err("x or y is not 32 bytes");
            }
            let decoding = DecodingKey::from_ec_components(&p.x, &p.y).map_err(|_| "bad x or y")?;
            Key {
                alg: Algorithm::ES256,
                decoding,
            }
        }
        AlgorithmParameters::RSA(p) => {
            if alg.is_some_and(|a| a != KeyAlgorithm::RS256) {
                return Err("alg is not RS256");
            }
            // RFC 7518 §3.3: a key of 2048 bits or larger.
            if b64_len(&p.n).is_none_or(|n| n < 256) {
                return Err("RSA modulus shorter than 2048 bits");
            }
            let decoding =
                DecodingKey::from_rsa_components(&p.n, &p.e).map_err(|_| "bad n or e")?;
            Key {
                alg: Algorithm::RS256,
                decoding,
            }
        }
        AlgorithmParameters::OctetKey(_) => return Err("symmetric keys are never accepted"),
        AlgorithmParameters::OctetKeyPair(_) => return Err("OKP keys are not accepted"),
    };
    Ok((kid, key))
}

/// The decoded length of a base64url value, leading zero bytes not counted.
fn b64_len(v: &str) -> Option<usize> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v.trim_end_matches('='))
        .ok()?;
    Some(bytes.iter().skip_while(|b| **b == 0).count())
}

/// Where the key set comes from.
pub(crate) enum Source {
    File(PathBuf),
    // Boxed: a client is large beside a path.
    Url {
        url: String,
        client: Box<HttpClient>,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Source {
    pub(crate) fn describe(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Url { url, .. } => url.clone(),
        }
    }

    /// Read or fetch the key set once.
    pub(crate) async fn load(&self) -> Result<KeySet, JwksError> {
        match self {
            Source::File(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|source| JwksError::Read {
                        path: path.clone(),
                        source,
                    })?;
                KeySet::parse(&bytes, &path.display().to_string())
            }
            Source::Url { url, client } => {
                let bytes = fetch(client, url).await?;
                KeySet::parse(&bytes, url)
            }
        }
    }
}

/// GET the JWK Set document at `url`: a 200 with at most [`MAX_JWKS_BYTES`], all within
/// [`FETCH_TIMEOUT`].
async fn fetch(client: &HttpClient, url: &str) -> Result<Bytes, JwksError> {
    let failed = |reason: String| JwksError::Fetch {
        url: url.to_string(),
        reason,
    };
    let req = Request::get(url)
        .header(header::USER_AGENT, HeaderValue::from_static(USER_AGENT))
        .header(
            header::ACCEPT,
            HeaderValue::from_static("application/jwk-set+json, application/json"),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| failed(e.to_string()))?;
    let got = tokio::time::timeout(FETCH_TIMEOUT, async {
        let resp = client.request(req).await.map_err(|e| failed(chain(&e)))?;
        if resp.status() != StatusCode::OK {
            return Err(JwksError::Status {
                url: url.to_string(),
                status: resp.status(),
            });
        }
        Limited::new(resp.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| failed(format!("reading the body: {e}")))
    })
    .await;
    got.map_err(|_| failed(format!("no complete answer within {FETCH_TIMEOUT:?}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_sets_parse_by_kid() {
        let set = KeySet::parse(
            include_bytes!("../../tests/fixtures/jwt/jwks.json"),
            "jwks.json",
        )
        .unwrap();
        assert_eq!(set.kids(), ["es256-a", "rs256-a"]);
        assert_eq!(set.get("es256-a").unwrap().alg, Algorithm::ES256);
        assert_eq!(set.get("rs256-a").unwrap().alg, Algorithm::RS256);
        let rotated = KeySet::parse(
            include_bytes!("../../tests/fixtures/jwt/jwks-rotated.json"),
            "r",
        )
        .unwrap();
        assert_eq!(rotated.kids(), ["es256-b", "rs256-a"]);
    }

    /// RFC 7517 §4.2, §4.3, §4.4: only signature keys for ES256/RS256, with a kid, are
    /// kept; an HMAC secret in the set is never a verification key (RFC 8725 §3.1).
    #[test]
    fn unusable_keys_are_skipped_and_a_set_without_any_is_an_error() {
        let good: serde_json::Value =
            serde_json::from_slice(include_bytes!("../../tests/fixtures/jwt/jwks.json")).unwrap();
        let ec = good["keys"][0].clone();
        let mut no_kid = ec.clone();
        no_kid.as_object_mut().unwrap().remove("kid");
        let mut enc = ec.clone();
        enc["use"] = "enc".into();
        enc["kid"] = "enc".into();
        let mut ops = ec.clone();
        ops["key_ops"] = serde_json::json!(["sign"]);
        ops["kid"] = "ops".into();
        let mut es384 = ec.clone();
        es384["alg"] = "ES384".into();
        es384["kid"] = "es384".into();
        let mut short_x = ec.clone();
        short_x["x"] = "AAAA".into();
        short_x["kid"] = "short".into();
        let oct = serde_json::json!({"kty": "oct", "kid": "hs", "k": "c2VjcmV0"});
        let junk = serde_json::json!({"kty": "XYZ", "kid": "junk"});
        let doc = serde_json::json!({"keys": [no_kid, enc, ops, es384, short_x, oct, junk]});
        let e = KeySet::parse(doc.to_string().as_bytes(), "t").unwrap_err();
        assert!(matches!(e, JwksError::NoUsableKey { .. }), "{e}");

        let doc = serde_json::json!({"keys": [oct_first(), ec.clone(), ec]});
        let set = KeySet::parse(doc.to_string().as_bytes(), "t").unwrap();
        assert_eq!(set.kids(), ["es256-a"], "duplicates: the first one wins");

        for bad in ["", "[]", "{\"keys\": 3}", "{}"] {
            assert!(KeySet::parse(bad.as_bytes(), "t").is_err(), "{bad}");
        }
    }

    fn oct_first() -> serde_json::Value {
        serde_json::json!({"kty": "oct", "kid": "es256-a", "k": "c2VjcmV0"})
    }
}
