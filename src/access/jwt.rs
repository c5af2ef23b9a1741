//! OAuth 2.0 JWT access tokens as the identity management server issues them (TS 33.180
//! annex B.2.2, RFC 7519, checked as RFC 8725 recommends): [`JwtVerifier::verify`] turns a
//! signed token into the MCData ID of its `mcdata_id` claim, or says why not.
//!
//! A token is accepted when all of these hold:
//! - its header `alg` is ES256 or RS256 (never `none`, never HMAC), it names a key by
//!   `kid`, that key is in the issuer's JWK Set and is a key for that same algorithm, it
//!   has no `crit` header (RFC 7515 §4.1.11), and the signature verifies;
//! - `iss` is the configured issuer and `aud` (a string or a list) holds the configured
//!   audience (RFC 7519 §4.1.1, §4.1.3);
//! - `exp` is present and not past, `nbf` (if any) not ahead, each with a leeway of
//!   [`LEEWAY`] (TS 33.180 B.2: "not to exceed 30 seconds");
//! - the `mcdata_id` claim (TS 33.180 B.2.2.3) is a non-empty string without control
//!   characters, at most 255 bytes;
//! - the space-separated `scope` claim (RFC 9068 §2.2.3, RFC 6749 §3.3) holds the
//!   configured scope, by default [`DEFAULT_SCOPE`]; otherwise the token is refused with
//!   `insufficient_scope` (RFC 6750 §3.1).
//!
//! The keys sit behind an `Arc` swapped atomically ([`JwtVerifier::current`]), so the
//! hot path takes a read lock for the length of a clone and holds no lock across an await.
//! A task refreshes them every `jwks-refresh`; a token naming an unknown `kid` refreshes
//! them at once, at most every [`UNKNOWN_KID_REFRESH`], and waits for that refresh. A
//! failed refresh keeps the last good set (and logs a warning).

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};

use super::jwks::{JwksError, Key, KeySet, Source};
use super::ring_provider;
use crate::http::client::HttpClient;

/// Clock skew allowed on `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// The scope a token must grant by default: the MCData service (TS 33.180 annex B).
pub const DEFAULT_SCOPE: &str = "3gpp:mc:data_service";

/// The claim that carries the user's MCData ID (TS 33.180 B.2.2.3).
pub const MCDATA_ID_CLAIM: &str = "mcdata_id";

/// The most often a token with an unknown `kid` makes us fetch the key set again.
pub const UNKNOWN_KID_REFRESH: Duration = Duration::from_secs(30);

/// The longest `mcdata_id` accepted.
const MAX_MCDATA_ID: usize = 255;

/// Where the issuer's keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    Url(String),
}

/// What the content server is configured to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// `iss`: the identity management server.
    pub issuer: String,
    /// `aud`: this content server.
    pub audience: String,
    /// One of the `scope` values the token must carry.
    pub scope: String,
    pub keys: KeySource,
    /// How often the key set is read or fetched again.
    pub refresh: Duration,
}

/// Why a JWT was refused. Every one is `invalid_token` (401) but
/// [`TokenError::InsufficientScope`] (403) and [`TokenError::KeysUnavailable`] (503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("the access token's algorithm {0} is not accepted (ES256 or RS256 only)")]
    Algorithm(String),
    #[error("the access token has no kid header naming the issuer's key")]
    NoKeyId,
    #[error("the access token is signed with key {0}, which the issuer does not publish")]
    UnknownKey(String),
    #[error("the access token says {alg}, but key {kid} is not a {alg} key")]
    AlgorithmMismatch { alg: String, kid: String },
    #[error("the access token's signature does not verify")]
    BadSignature,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the access token was issued by another issuer")]
    WrongIssuer,
    #[error("the access token is meant for another audience")]
    WrongAudience,
    #[error("the access token has no {0} claim")]
    MissingClaim(String),
    #[error("the access token's {0} claim is not valid")]
    BadClaim(String),
    #[error("the access token does not grant the scope {0}")]
    InsufficientScope(String),
    #[error("the issuer's keys could not be loaded; try again later")]
    KeysUnavailable,
}

/// True when `token` has the shape of a JWS in compact serialization (RFC 7515 §7.1):
/// three base64url segments, the header and payload not empty (an unsecured JWT has an
/// empty signature: it still comes here, to be refused for its `alg`).
pub fn looks_like_jwt(token: &str) -> bool {
    let b64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => {
            !h.is_empty() && !p.is_empty() && b64url(h) && b64url(p) && b64url(s)
        }
        _ => false,
    }
}

/// Checks JWT access tokens against the issuer's current keys.
pub struct JwtVerifier {
    settings: JwtSettings,
    source: Source,
    keys: RwLock<Arc<KeySet>>,
    /// When a token with an unknown `kid` last made us refresh; held during that
    /// refresh, so that concurrent such tokens wait for the one fetch.
    unknown_kid_gate: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.settings.issuer)
            .field("audience", &self.settings.audience)
            .field("scope", &self.settings.scope)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The claims we read; the registered ones are checked by `jsonwebtoken`.
#[derive(serde::Deserialize)]
struct Claims {
    #[serde(default)]
    mcdata_id: Option<serde_json::Value>,
    #[serde(default)]
    scope: Option<serde_json::Value>,
}

/// The header fields we look at before anything else.
#[derive(serde::Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

impl JwtVerifier {
    /// Load the key set and build the verifier. A `jwks-file` that cannot be read or
    /// holds no usable key is an error; a `jwks-url` that cannot be fetched is not (the
    /// identity management server may start after us): we start without keys, tokens are
    /// answered 503 until a refresh succeeds, and one is tried on the first token.
    pub async fn start(settings: JwtSettings, client: HttpClient) -> Result<Arc<Self>, JwksError> {
        ring_provider::install();
        let source = match &settings.keys {
            KeySource::File(p) => Source::File(p.clone()),
            KeySource::Url(u) => Source::Url {
                url: u.clone(),
                client: Box::new(client),
            },
        };
        let keys = match source.load().await {
            Ok(k) => k,
            Err(e) if matches!(source, Source::Url { .. }) => {
                tracing::warn!(error = %e, "JWKS not loaded at start-up: JWT access tokens are refused until it is");
                KeySet::default()
            }
            Err(e) => return Err(e),
        };
        tracing::info!(
            issuer = settings.issuer,
            audience = settings.audience,
            scope = settings.scope,
            jwks = source.describe(),
            kids = ?keys.kids(),
            "JWT access tokens accepted"
        );
        Ok(Arc::new(JwtVerifier {
            settings,
            source,
            keys: RwLock::new(Arc::new(keys)),
            unknown_kid_gate: tokio::sync::Mutex::new(None),
        }))
    }

    /// The key set in use.
    pub fn current(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Load the key set again and swap it in; on failure the last good set stays.
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        let set = self.source.load().await?;
        let n = set.len();
        let kids: Vec<String> = set.kids().into_iter().map(String::from).collect();
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        tracing::debug!(jwks = self.source.describe(), ?kids, "JWKS refreshed");
        Ok(n)
    }

    async fn refresh_logged(&self, why: &'static str) {
        if let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, why, kept = self.current().len(), "JWKS refresh failed; keeping the last good key set");
        }
    }

    /// Refresh every `jwks-refresh` until aborted.
    pub fn spawn_refresh(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let every = me.settings.refresh;
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                me.refresh_logged("periodic").await;
            }
        })
    }

    /// The key named `kid`, refreshing the set once (rate-limited) when it is unknown.
    async fn key(&self, kid: &str) -> Result<Arc<Key>, TokenError> {
        if let Some(k) = self.current().get(kid) {
            return Ok(k);
        }
        {
            let mut last = self.unknown_kid_gate.lock().await;
            // Whoever held the gate before us may have just fetched the key.
            if let Some(k) = self.current().get(kid) {
                return Ok(k);
            }
            if last.is_none_or(|t| t.elapsed() >= UNKNOWN_KID_REFRESH) {
                *last = Some(Instant::now());
                tracing::info!(kid, "token with an unknown kid: refreshing the JWKS");
                self.refresh_logged("unknown kid").await;
            }
        }
        let set = self.current();
        match set.get(kid) {
            Some(k) => Ok(k),
            None if set.is_empty() => Err(TokenError::KeysUnavailable),
            None => Err(TokenError::UnknownKey(printable(kid))),
        }
    }

    /// Verify `token` (see the module doc) and return its MCData ID.
    pub async fn verify(&self, token: &str) -> Result<String, TokenError> {
        let header = parse_header(token)?;
        let kid = header.kid.ok_or(TokenError::NoKeyId)?;
        let key = self.key(&kid).await?;
        self.check(token, &header.alg, &kid, &key)
    }

    /// Everything after the key is known: synchronous, no I/O.
    fn check(&self, token: &str, alg: &str, kid: &str, key: &Key) -> Result<String, TokenError> {
        if alg_name(key.alg) != alg {
            return Err(TokenError::AlgorithmMismatch {
                alg: alg.to_string(),
                kid: printable(kid),
            });
        }
        let mut v = Validation::new(key.alg);
        v.leeway = LEEWAY.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.set_issuer(&[&self.settings.issuer]);
        v.set_audience(&[&self.settings.audience]);
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &v).map_err(map_error)?;
        let id = match data.claims.mcdata_id {
            None | Some(serde_json::Value::Null) => {
                return Err(TokenError::MissingClaim(MCDATA_ID_CLAIM.into()))
            }
            Some(serde_json::Value::String(s))
                if !s.is_empty()
                    && s.len() <= MAX_MCDATA_ID
                    && !s.chars().any(char::is_control) =>
            {
                s
            }
            Some(_) => return Err(TokenError::BadClaim(MCDATA_ID_CLAIM.into())),
        };
        let granted = match &data.claims.scope {
            Some(serde_json::Value::String(s)) => s.split(' ').any(|v| v == self.settings.scope),
            None | Some(serde_json::Value::Null) => false,
            Some(_) => return Err(TokenError::BadClaim("scope".into())),
        };
        if !granted {
            return Err(TokenError::InsufficientScope(self.settings.scope.clone()));
        }
        Ok(id)
    }

    /// The scope a token must grant.
    pub fn scope(&self) -> &str {
        &self.settings.scope
    }
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::RS256 => "RS256",
        _ => "",
    }
}

/// The JOSE header, checked: an accepted `alg`, no `crit`.
fn parse_header(token: &str) -> Result<RawHeader, TokenError> {
    let segment = token.split('.').next().unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
    let h: RawHeader = serde_json::from_slice(&bytes)
        .map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
    // RFC 8725 §3.1: an allowlist of algorithms; `none` and HMAC are never on it.
    if h.alg != "ES256" && h.alg != "RS256" {
        return Err(TokenError::Algorithm(printable(&h.alg)));
    }
    // RFC 7515 §4.1.11: we understand no extension, so a token that makes one critical
    // must be refused.
    if h.crit.is_some() {
        return Err(TokenError::Malformed(
            "crit header parameters are not supported".into(),
        ));
    }
    Ok(h)
}

/// A token's own text as we repeat it in errors: printable ASCII, at most 64 characters.
fn printable(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

fn map_error(e: jsonwebtoken::errors::Error) -> TokenError {
    match e.into_kind() {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::MissingRequiredClaim(c) => TokenError::MissingClaim(c),
        ErrorKind::InvalidClaimFormat(c) => TokenError::BadClaim(c),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            TokenError::Algorithm("?".into())
        }
        ErrorKind::Json(e) => TokenError::Malformed(format!("claims: {e}")),
        ErrorKind::Base64(e) => TokenError::Malformed(e.to_string()),
        ErrorKind::Utf8(e) => TokenError::Malformed(e.to_string()),
        ErrorKind::InvalidToken => TokenError::Malformed("not three segments".into()),
        // Key and provider errors: the key cannot check this token at all.
        _ => TokenError::BadSignature,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    pub const ISS: &str = "https://idms.a.example";
    pub const AUD: &str = "https://cs.a.example";

    fn der(pem: &str) -> Vec<u8> {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .secret_pkcs8_der()
            .to_vec()
    }

    /// Sign `claims` with a fixture key; `kid` goes in the header as given.
    pub fn sign(
        alg: Algorithm,
        key: &str,
        kid: Option<&str>,
        claims: &serde_json::Value,
    ) -> String {
        ring_provider::install();
        let pem = match key {
            "es256-a" => include_str!("../../tests/fixtures/jwt/es256-a.pem"),
            "es256-b" => include_str!("../../tests/fixtures/jwt/es256-b.pem"),
            "rs256-a" => include_str!("../../tests/fixtures/jwt/rs256-a.pem"),
            other => panic!("no fixture key {other}"),
        };
        let k = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_der(&der(pem)),
            _ => EncodingKey::from_rsa_der(&der(pem)),
        };
        let mut h = Header::new(alg);
        h.kid = kid.map(String::from);
        encode(&h, claims, &k).unwrap()
    }

    pub fn now() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64
    }

    pub fn good_claims() -> serde_json::Value {
        json!({
            "iss": ISS, "aud": AUD, "exp": now() + 300, "iat": now(),
            "mcdata_id": "alice@a.example", "scope": "openid 3gpp:mc:data_service",
        })
    }

    /// A token shaped by hand: any header, any payload, any signature.
    pub fn raw(header: &serde_json::Value, claims: &serde_json::Value, sig: &[u8]) -> String {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.{}",
            e.encode(header.to_string()),
            e.encode(claims.to_string()),
            e.encode(sig)
        )
    }

    pub async fn verifier() -> Arc<JwtVerifier> {
        let dir = env!("CARGO_MANIFEST_DIR");
        let client = crate::http::client::new_client(
            Duration::from_secs(1),
            crate::http::client::tls_config(&[]),
        );
        JwtVerifier::start(
            JwtSettings {
                issuer: ISS.into(),
                audience: AUD.into(),
                scope: DEFAULT_SCOPE.into(),
                keys: KeySource::File(format!("{dir}/tests/fixtures/jwt/jwks.json").into()),
                refresh: Duration::from_secs(300),
            },
            client,
        )
        .await
        .unwrap()
    }

    fn with(mut c: serde_json::Value, key: &str, v: serde_json::Value) -> serde_json::Value {
        c[key] = v;
        c
    }

    fn without(mut c: serde_json::Value, key: &str) -> serde_json::Value {
        c.as_object_mut().unwrap().remove(key);
        c
    }

    #[tokio::test]
    async fn rfc7519_7_2_es256_and_rs256_tokens_give_the_mcdata_id() {
        let v = verifier().await;
        let es = sign(Algorithm::ES256, "es256-a", Some("es256-a"), &good_claims());
        assert_eq!(v.verify(&es).await, Ok("alice@a.example".into()));
        let rs = sign(Algorithm::RS256, "rs256-a", Some("rs256-a"), &good_claims());
        assert_eq!(v.verify(&rs).await, Ok("alice@a.example".into()));
        // RFC 7519 §4.1.3: `aud` may be a list holding ours.
        let list = with(good_claims(), "aud", json!(["other", AUD]));
        let t = sign(Algorithm::ES256, "es256-a", Some("es256-a"), &list);
        assert_eq!(v.verify(&t).await, Ok("alice@a.example".into()));
    }

    /// Tokens signed by openssl (tests/fixtures/jwt/make.sh), not by our provider: what a
    /// real identity management server sends verifies here.
    #[tokio::test]
    async fn tokens_signed_by_openssl_verify() {
        let v = verifier().await;
        for t in [
            include_str!("../../tests/fixtures/jwt/openssl-es256.jwt"),
            include_str!("../../tests/fixtures/jwt/openssl-rs256.jwt"),
        ] {
            assert!(looks_like_jwt(t.trim()));
            assert_eq!(v.verify(t.trim()).await, Ok("alice@a.example".into()));
        }
        let t = include_str!("../../tests/fixtures/jwt/openssl-es256.jwt").trim();
        // One changed byte of the payload breaks the signature.
        let (h, rest) = t.split_once('.').unwrap();
        let (p, s) = rest.split_once('.').unwrap();
        let mut p = p.to_string();
        let last = if p.ends_with('A') { "B" } else { "A" };
        p.replace_range(p.len() - 1.., last);
        let tampered = format!("{h}.{p}.{s}");
        assert_eq!(v.verify(&tampered).await, Err(TokenError::BadSignature));
    }

    /// RFC 7519 §4.1.4 and §4.1.5 with TS 33.180's leeway of at most 30 s.
    #[tokio::test]
    async fn rfc7519_4_1_4_exp_and_4_1_5_nbf_with_30s_leeway() {
        let v = verifier().await;
        let t = |c| sign(Algorithm::ES256, "es256-a", Some("es256-a"), &c);
        let expired = with(good_claims(), "exp", json!(now() - 120));
        assert_eq!(v.verify(&t(expired)).await, Err(TokenError::Expired));
        let skewed = with(good_claims(), "exp", json!(now() - 10));
        assert!(v.verify(&t(skewed)).await.is_ok(), "within the leeway");
        let early = with(good_claims(), "nbf", json!(now() + 120));
        assert_eq!(v.verify(&t(early)).await, Err(TokenError::NotYetValid));
        let almost = with(good_claims(), "nbf", json!(now() + 10));
        assert!(v.verify(&t(almost)).await.is_ok(), "within the leeway");
        let no_exp = without(good_claims(), "exp");
        assert_eq!(
            v.verify(&t(no_exp)).await,
            Err(TokenError::MissingClaim("exp".into()))
        );
        // CVE-2026-25537: an `exp` or `nbf` of the wrong JSON type is not "absent".
        let text_nbf = with(good_claims(), "nbf", json!("99999999999"));
        assert!(v.verify(&t(text_nbf)).await.is_err());
        let text_exp = with(good_claims(), "exp", json!("99999999999"));
        assert!(v.verify(&t(text_exp)).await.is_err());
    }

    /// RFC 7519 §4.1.1 and §4.1.3; RFC 8725 §3.8 and §3.9.
    #[tokio::test]
    async fn rfc7519_4_1_1_issuer_and_4_1_3_audience_must_match() {
        let v = verifier().await;
        let t = |c| sign(Algorithm::ES256, "es256-a", Some("es256-a"), &c);
        let iss = with(good_claims(), "iss", json!("https://evil.example"));
        assert_eq!(v.verify(&t(iss)).await, Err(TokenError::WrongIssuer));
        let aud = with(good_claims(), "aud", json!("https://cs.b.example"));
        assert_eq!(v.verify(&t(aud)).await, Err(TokenError::WrongAudience));
        let no_aud = without(good_claims(), "aud");
        assert_eq!(
            v.verify(&t(no_aud)).await,
            Err(TokenError::MissingClaim("aud".into()))
        );
        let no_iss = without(good_claims(), "iss");
        assert_eq!(
            v.verify(&t(no_iss)).await,
            Err(TokenError::MissingClaim("iss".into()))
        );
    }

    /// TS 33.180 B.2.2.3: `mcdata_id` is the identity; RFC 6750 §3.1: a token without
    /// the scope is `insufficient_scope`.
    #[tokio::test]
    async fn mcdata_id_and_scope_claims_are_required() {
        let v = verifier().await;
        let t = |c| sign(Algorithm::RS256, "rs256-a", Some("rs256-a"), &c);
        let none = without(good_claims(), "mcdata_id");
        assert_eq!(
            v.verify(&t(none)).await,
            Err(TokenError::MissingClaim("mcdata_id".into()))
        );
        for bad in [json!(""), json!(42), json!(["alice"]), json!("a\nb")] {
            let c = with(good_claims(), "mcdata_id", bad.clone());
            assert_eq!(
                v.verify(&t(c)).await,
                Err(TokenError::BadClaim("mcdata_id".into())),
                "{bad}"
            );
        }
        let insufficient = Err(TokenError::InsufficientScope(DEFAULT_SCOPE.into()));
        assert_eq!(
            v.verify(&t(without(good_claims(), "scope"))).await,
            insufficient
        );
        for scope in [
            "openid",
            "3gpp:mc:data_service_x",
            "3GPP:MC:DATA_SERVICE",
            "",
        ] {
            let c = with(good_claims(), "scope", json!(scope));
            assert_eq!(v.verify(&t(c)).await, insufficient, "{scope}");
        }
        let alone = with(good_claims(), "scope", json!(DEFAULT_SCOPE));
        assert!(v.verify(&t(alone)).await.is_ok());
        let list = with(good_claims(), "scope", json!([DEFAULT_SCOPE]));
        assert_eq!(
            v.verify(&t(list)).await,
            Err(TokenError::BadClaim("scope".into()))
        );
    }

    /// RFC 8725 §2.1, §3.1: `none`, HMAC (with the issuer's public key as the secret) and
    /// any algorithm off the allowlist are refused before any key is used; a key is only
    /// used for its own algorithm.
    #[tokio::test]
    async fn rfc8725_3_1_algorithm_allowlist_and_key_binding() {
        let v = verifier().await;
        let claims = good_claims();
        let none = raw(&json!({"alg": "none", "kid": "es256-a"}), &claims, b"");
        assert!(looks_like_jwt(&none));
        assert_eq!(
            v.verify(&none).await,
            Err(TokenError::Algorithm("none".into()))
        );
        // HS256 keyed with the RSA key's public modulus, the classic confusion attack.
        let jwks: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/jwt/jwks.json")).unwrap();
        let n = jwks["keys"][1]["n"].as_str().unwrap();
        let head = json!({"alg": "HS256", "kid": "rs256-a"});
        let unsigned = raw(&head, &claims, b"");
        let input = unsigned.trim_end_matches('.');
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, n.as_bytes()),
            input.as_bytes(),
        );
        let hs = raw(&head, &claims, mac.as_ref());
        assert_eq!(
            v.verify(&hs).await,
            Err(TokenError::Algorithm("HS256".into()))
        );
        let ps = raw(&json!({"alg": "PS256", "kid": "rs256-a"}), &claims, b"x");
        assert_eq!(
            v.verify(&ps).await,
            Err(TokenError::Algorithm("PS256".into()))
        );
        // An RS256 header naming the EC key.
        let mixed = sign(Algorithm::RS256, "rs256-a", Some("es256-a"), &claims);
        assert!(matches!(
            v.verify(&mixed).await,
            Err(TokenError::AlgorithmMismatch { .. })
        ));
        // RFC 7515 §4.1.11.
        let crit = raw(
            &json!({"alg": "ES256", "kid": "es256-a", "crit": ["exp"], "exp": 1}),
            &claims,
            b"x",
        );
        assert!(matches!(
            v.verify(&crit).await,
            Err(TokenError::Malformed(_))
        ));
    }

    /// RFC 7515 §4.1.4 (`kid`) and §5.2: the key is chosen by kid, the signature checked
    /// with that key only.
    #[tokio::test]
    async fn kid_chooses_the_key_and_a_wrong_key_is_refused() {
        let v = verifier().await;
        let claims = good_claims();
        let wrong = sign(Algorithm::ES256, "es256-b", Some("es256-a"), &claims);
        assert_eq!(v.verify(&wrong).await, Err(TokenError::BadSignature));
        let unknown = sign(Algorithm::ES256, "es256-b", Some("es256-b"), &claims);
        assert_eq!(
            v.verify(&unknown).await,
            Err(TokenError::UnknownKey("es256-b".into()))
        );
        let no_kid = sign(Algorithm::ES256, "es256-a", None, &claims);
        assert_eq!(v.verify(&no_kid).await, Err(TokenError::NoKeyId));
    }

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("eyJh.eyJi.c2ln"));
        assert!(looks_like_jwt("eyJh.eyJi."));
        for t in [
            "tok-alice",
            "a.b",
            "a.b.c.d",
            ".b.c",
            "a..c",
            "a.b=.c",
            "a.b+.c",
            "secret-ab-123",
        ] {
            assert!(!looks_like_jwt(t), "{t}");
        }
    }
}
