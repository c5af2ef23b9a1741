//! The crypto behind JWT signatures, on ring (which the rest of the project, rustls
//! included, already uses): a `jsonwebtoken` [`CryptoProvider`] for exactly the two
//! algorithms we accept, ES256 (ECDSA P-256 with SHA-256, RFC 7518 §3.4, the raw `r||s`
//! signature) and RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3, keys of 2048 to
//! 8192 bits). Every other algorithm, HMAC included, is refused here too, so a public key
//! can never be used as an HMAC secret (RFC 8725 §2.1). `jsonwebtoken` is built without
//! its own backends (`rust_crypto`, `aws_lc_rs`); [`install`] makes this one the process
//! default before any token is decoded or signed.

use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature as sig;

/// The provider: ES256 and RS256, nothing else.
pub static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    jwk_utils: JwkUtils {
        extract_rsa_public_key_components,
        extract_ec_public_key_coordinates,
        compute_digest,
    },
};

/// Make [`RING_PROVIDER`] the process default of `jsonwebtoken` (idempotent). Without a
/// default, `jsonwebtoken` built with no backend feature panics on its first use, so
/// everything that decodes or signs calls this first.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(other) = RING_PROVIDER.install_default() {
            if !std::ptr::eq(other, &RING_PROVIDER) {
                tracing::warn!("another jsonwebtoken crypto provider was installed first");
            }
        }
    });
}

fn unsupported(alg: &Algorithm) -> Error {
    ErrorKind::Provider(format!("{alg:?} is not accepted (ES256 and RS256 only)")).into()
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    let (params, bytes): (&'static dyn sig::VerificationAlgorithm, Vec<u8>) = match alg {
        Algorithm::ES256 => {
            if key.family() != AlgorithmFamily::Ec {
                return Err(ErrorKind::InvalidKeyFormat.into());
            }
            // An uncompressed SEC1 point (0x04 || x || y), as `from_ec_components` makes it.
            (&sig::ECDSA_P256_SHA256_FIXED, key.as_bytes().to_vec())
        }
        Algorithm::RS256 => match key.kind() {
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                return Ok(Box::new(RsaComponents {
                    n: n.clone(),
                    e: e.clone(),
                }))
            }
            // A PKCS#1 RSAPublicKey DER (`from_rsa_der`).
            DecodingKeyKind::SecretOrDer(der) if key.family() == AlgorithmFamily::Rsa => {
                (&sig::RSA_PKCS1_2048_8192_SHA256, der.clone())
            }
            DecodingKeyKind::SecretOrDer(_) => return Err(ErrorKind::InvalidKeyFormat.into()),
        },
        other => return Err(unsupported(other)),
    };
    Ok(Box::new(Unparsed {
        alg: *alg,
        params,
        bytes,
    }))
}

/// A public key in the form ring parses itself (an EC point or a PKCS#1 DER).
struct Unparsed {
    alg: Algorithm,
    params: &'static dyn sig::VerificationAlgorithm,
    bytes: Vec<u8>,
}

impl Verifier<Vec<u8>> for Unparsed {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        sig::UnparsedPublicKey::new(self.params, &self.bytes)
            .verify(msg, signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Unparsed {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// An RSA public key as a JWK gives it (`n`, `e`).
struct RsaComponents {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl Verifier<Vec<u8>> for RsaComponents {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        sig::RsaPublicKeyComponents {
            n: &self.n,
            e: &self.e,
        }
        .verify(&sig::RSA_PKCS1_2048_8192_SHA256, msg, signature)
        .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RsaComponents {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    let rng = SystemRandom::new();
    match alg {
        Algorithm::ES256 if key.family() == AlgorithmFamily::Ec => {
            let pair = sig::EcdsaKeyPair::from_pkcs8(
                &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                key.inner(),
                &rng,
            )
            .map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey))?;
            Ok(Box::new(EcSigner { pair, rng }))
        }
        Algorithm::RS256 if key.family() == AlgorithmFamily::Rsa => {
            let pair = sig::RsaKeyPair::from_pkcs8(key.inner())
                .or_else(|_| sig::RsaKeyPair::from_der(key.inner()))
                .map_err(|e| Error::from(ErrorKind::InvalidRsaKey(e.to_string())))?;
            Ok(Box::new(RsaSigner { pair, rng }))
        }
        Algorithm::ES256 | Algorithm::RS256 => Err(ErrorKind::InvalidKeyFormat.into()),
        other => Err(unsupported(other)),
    }
}

struct EcSigner {
    pair: sig::EcdsaKeyPair,
    rng: SystemRandom,
}

impl Signer<Vec<u8>> for EcSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        self.pair
            .sign(&self.rng, msg)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for EcSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}

struct RsaSigner {
    pair: sig::RsaKeyPair,
    rng: SystemRandom,
}

impl Signer<Vec<u8>> for RsaSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut out = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(&sig::RSA_PKCS1_SHA256, &self.rng, msg, &mut out)
            .map_err(|_| signature::Error::new())?;
        Ok(out)
    }
}

impl JwtSigner for RsaSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

// Only `Jwk::from_encoding_key` (building a JWK from a private key) uses these two; we
// never do, so they answer an error instead of a panic.
fn extract_rsa_public_key_components(_: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
    Err(ErrorKind::Provider("JWKs from private keys are not supported".into()).into())
}

fn extract_ec_public_key_coordinates(
    _: &[u8],
    _: Algorithm,
) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>), Error> {
    Err(ErrorKind::Provider("JWKs from private keys are not supported".into()).into())
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Vec<u8> {
    let alg = match hash {
        ThumbprintHash::SHA256 => &ring::digest::SHA256,
        ThumbprintHash::SHA384 => &ring::digest::SHA384,
        ThumbprintHash::SHA512 => &ring::digest::SHA512,
    };
    ring::digest::digest(alg, data).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::crypto::{sign, verify};

    const ES256_A: &str = include_str!("../../tests/fixtures/jwt/es256-a.pem");
    const RS256_A: &str = include_str!("../../tests/fixtures/jwt/rs256-a.pem");

    fn der(pem: &str) -> Vec<u8> {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .secret_pkcs8_der()
            .to_vec()
    }

    fn jwk(kid: &str) -> DecodingKey {
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_str(include_str!("../../tests/fixtures/jwt/jwks.json")).unwrap();
        DecodingKey::from_jwk(set.find(kid).unwrap()).unwrap()
    }

    #[test]
    fn es256_and_rs256_sign_and_verify_round_trip() {
        install();
        let ec = EncodingKey::from_ec_der(&der(ES256_A));
        let s = sign(b"message", &ec, Algorithm::ES256).unwrap();
        assert!(verify(&s, b"message", &jwk("es256-a"), Algorithm::ES256).unwrap());
        assert!(!verify(&s, b"other", &jwk("es256-a"), Algorithm::ES256).unwrap());

        let rsa = EncodingKey::from_rsa_der(&der(RS256_A));
        let s = sign(b"message", &rsa, Algorithm::RS256).unwrap();
        assert!(verify(&s, b"message", &jwk("rs256-a"), Algorithm::RS256).unwrap());
        assert!(!verify(&s, b"other", &jwk("rs256-a"), Algorithm::RS256).unwrap());
    }

    /// RFC 8725 §2.1: the public key of an RSA or EC issuer must never become an HMAC
    /// secret, and nothing but ES256 and RS256 is accepted at all.
    #[test]
    fn rfc8725_2_1_hmac_and_other_algorithms_are_refused() {
        install();
        for alg in [
            Algorithm::HS256,
            Algorithm::HS512,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ] {
            assert!(
                verify("AAAA", b"m", &jwk("rs256-a"), alg).is_err(),
                "{alg:?}"
            );
            assert!(
                sign(b"m", &EncodingKey::from_secret(b"k"), alg).is_err(),
                "{alg:?}"
            );
        }
        // A key of the other family is refused, not misused.
        assert!(verify("AAAA", b"m", &jwk("rs256-a"), Algorithm::ES256).is_err());
        assert!(verify("AAAA", b"m", &jwk("es256-a"), Algorithm::RS256).is_err());
    }

    #[test]
    fn thumbprints_use_ring_digests() {
        install();
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_str(include_str!("../../tests/fixtures/jwt/jwks.json")).unwrap();
        let t = set.keys[0].thumbprint(ThumbprintHash::SHA256);
        assert_eq!(t.len(), 43, "{t}");
    }
}
