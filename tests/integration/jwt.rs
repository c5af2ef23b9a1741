//! JWT access tokens (TS 33.180 annex B) on a real content server: uploads, downloads and
//! partner hits with ES256 and RS256 tokens signed here with the fixture keys
//! (`tests/fixtures/jwt/`), every kind of bad token refused with the RFC 6750 §3 challenge,
//! and the issuer's JWK Set served over http, rotated, and picked up.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use mcdata::content_server::config::ContentServerConfig;
use mcdata::content_server::ContentServer;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivatePkcs8KeyDer;
use serde_json::{json, Value};

use crate::harness::*;

const ISS: &str = "https://idms.a.example";
const AUD_A: &str = "https://cs.a.example";
const AUD_B: &str = "https://cs.b.example";
const SCOPE: &str = "3gpp:mc:data_service";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

/// Claims as the identity management server issues them for `user` at `aud`.
fn claims(user: &str, aud: &str) -> Value {
    json!({
        "iss": ISS, "aud": aud, "exp": now() + 600, "iat": now(),
        "mcdata_id": user, "scope": format!("openid {SCOPE}"), "client_id": "mcdata-ue",
    })
}

/// `claims` signed with the fixture key `key` (`es256-a`, `es256-b`, `rs256-a`), with
/// `kid` in the header.
fn sign_as(key: &str, kid: &str, claims: &Value) -> String {
    mcdata::access::ring_provider::install();
    let der = PrivatePkcs8KeyDer::from_pem_file(fixture(&format!("{key}.pem")))
        .unwrap()
        .secret_pkcs8_der()
        .to_vec();
    let (alg, k) = if key.starts_with("es") {
        (Algorithm::ES256, EncodingKey::from_ec_der(&der))
    } else {
        (Algorithm::RS256, EncodingKey::from_rsa_der(&der))
    };
    let mut h = Header::new(alg);
    h.kid = Some(kid.to_string());
    encode(&h, claims, &k).unwrap()
}

fn sign(key: &str, claims: &Value) -> String {
    sign_as(key, key, claims)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// This content server accepts the test issuer's tokens for `aud`, keys from `jwks.json`.
fn jwt_for(aud: &'static str) -> impl FnOnce(&mut ContentServerConfig) {
    move |c| {
        c.jwt_issuer = Some(ISS.into());
        c.jwt_audience = Some(aud.into());
        c.jwks_file = Some(fixture("jwks.json"));
    }
}

async fn system_with(tweak: impl FnOnce(&mut ContentServerConfig)) -> System {
    let l = bind().await;
    let t = tempfile::tempdir().unwrap();
    let mut c = base_config("A", l.local_addr().unwrap(), t.path());
    tweak(&mut c);
    start(l, c, Some(t)).await
}

async fn post(sys: &System, auth: Option<&str>, body: &[u8]) -> Resp {
    let mut h = vec![("content-type", "text/plain")];
    if let Some(a) = auth {
        h.push(("authorization", a));
    }
    request(
        Method::POST,
        &format!("{}/files", sys.base()),
        &h,
        Bytes::copy_from_slice(body),
    )
    .await
}

/// The RFC 6750 §3 challenge of a refused token, and the JSON reason.
fn refused(r: &Resp, status: StatusCode, error: &str, reason_has: &str) {
    assert_eq!(r.status, status, "{:?}", r.body);
    let challenge = r.header("www-authenticate");
    assert!(
        challenge.starts_with("Bearer realm=\"mcdata\""),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!("error=\"{error}\"")),
        "{challenge}"
    );
    let j = r.json();
    assert_eq!(j["error"], error, "{j}");
    let reason = j["reason"].as_str().unwrap();
    assert!(
        reason.contains(reason_has),
        "{reason:?} lacks {reason_has:?}"
    );
}

#[tokio::test]
async fn rfc7519_es256_and_rs256_tokens_upload_and_download_beside_static_tokens() {
    let sys = system_with(|c| {
        jwt_for(AUD_A)(c);
        c.users.push(user("carol@a.example", "tok-carol"));
    })
    .await;
    let alice = sign("es256-a", &claims("alice@a.example", AUD_A));
    let bob = sign("rs256-a", &claims("bob@a.example", AUD_A));

    let up = post(&sys, Some(&bearer(&alice)), b"from alice").await;
    assert_eq!(up.status, StatusCode::CREATED, "{:?}", up.body);
    assert_eq!(up.json()["owner"], "alice@a.example", "the mcdata_id claim");
    let url = up.header("location").to_string();

    let down = get(&url, &[("authorization", &bearer(&bob))]).await;
    assert_eq!(down.status, StatusCode::OK);
    assert_eq!(down.bytes().as_ref(), b"from alice");
    let anonymous = get(&url, &[]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.header("www-authenticate"),
        "Bearer realm=\"mcdata\""
    );

    // The static token keeps working beside the issuer's tokens.
    let up = post(&sys, Some("Bearer tok-carol"), b"from carol").await;
    assert_eq!(up.status, StatusCode::CREATED);
    assert_eq!(up.json()["owner"], "carol@a.example");
    let unknown_static = post(&sys, Some("Bearer tok-nobody"), b"x").await;
    assert_eq!(unknown_static.status, StatusCode::FORBIDDEN, "as before");

    // The identity is the token's: only the uploader removes.
    let by_bob = request(
        Method::DELETE,
        &url,
        &[("authorization", &bearer(&bob))],
        Bytes::new(),
    )
    .await;
    assert_eq!(by_bob.status, StatusCode::FORBIDDEN);
    let by_alice = request(
        Method::DELETE,
        &url,
        &[("authorization", &bearer(&alice))],
        Bytes::new(),
    )
    .await;
    assert_eq!(by_alice.status, StatusCode::OK, "{:?}", by_alice.body);
}

#[tokio::test]
async fn jwt_without_static_users_still_requires_a_token() {
    let sys = system_with(jwt_for(AUD_A)).await;
    let r = post(&sys, None, b"x").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "not development mode");
}

/// RFC 7519 §4.1.4; RFC 6750 §3.1 `invalid_token`.
#[tokio::test]
async fn rfc7519_4_1_4_an_expired_token_is_401_invalid_token() {
    let sys = system_with(jwt_for(AUD_A)).await;
    let mut c = claims("alice@a.example", AUD_A);
    c["exp"] = json!(now() - 120);
    let expired = bearer(&sign("es256-a", &c));
    let r = post(&sys, Some(&expired), b"x").await;
    refused(&r, StatusCode::UNAUTHORIZED, "invalid_token", "expired");
    assert!(
        r.header("www-authenticate")
            .contains("error_description=\"the access token has expired\""),
        "{}",
        r.header("www-authenticate")
    );
    let url = post(
        &sys,
        Some(&bearer(&sign("rs256-a", &claims("a@a", AUD_A)))),
        b"y",
    )
    .await
    .header("location")
    .to_string();
    let r = get(&url, &[("authorization", &expired)]).await;
    refused(&r, StatusCode::UNAUTHORIZED, "invalid_token", "expired");
}

/// RFC 7519 §4.1.3 and §4.1.1; RFC 8725 §3.9: a token for another server is no use here.
#[tokio::test]
async fn rfc7519_4_1_3_wrong_audience_and_4_1_1_wrong_issuer_are_refused() {
    let sys = system_with(jwt_for(AUD_A)).await;
    let other_aud = bearer(&sign("es256-a", &claims("alice@a.example", AUD_B)));
    let r = post(&sys, Some(&other_aud), b"x").await;
    refused(&r, StatusCode::UNAUTHORIZED, "invalid_token", "audience");
    let mut c = claims("alice@a.example", AUD_A);
    c["iss"] = json!("https://idms.evil.example");
    let r = post(&sys, Some(&bearer(&sign("es256-a", &c))), b"x").await;
    refused(&r, StatusCode::UNAUTHORIZED, "invalid_token", "issuer");
}

/// RFC 7515 §5.2: the signature is checked with the key the kid names, and a key the
/// issuer does not publish is never trusted.
#[tokio::test]
async fn rfc7515_a_token_signed_by_a_key_not_in_the_jwks_is_refused() {
    let sys = system_with(jwt_for(AUD_A)).await;
    let c = claims("mallory@a.example", AUD_A);
    let forged = bearer(&sign_as("es256-b", "es256-a", &c));
    let r = post(&sys, Some(&forged), b"x").await;
    refused(&r, StatusCode::UNAUTHORIZED, "invalid_token", "signature");
    let own_kid = bearer(&sign("es256-b", &c));
    let r = post(&sys, Some(&own_kid), b"x").await;
    refused(&r, StatusCode::UNAUTHORIZED, "invalid_token", "es256-b");
}

/// RFC 8725 §2.1 and §3.1: `alg: none` (an unsecured JWT, RFC 7519 §6) is refused.
#[tokio::test]
async fn rfc8725_3_1_an_unsecured_alg_none_token_is_refused() {
    use base64::Engine;
    let sys = system_with(jwt_for(AUD_A)).await;
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        e.encode(json!({"alg": "none", "typ": "JWT", "kid": "es256-a"}).to_string()),
        e.encode(claims("mallory@a.example", AUD_A).to_string())
    );
    let r = post(&sys, Some(&bearer(&none)), b"x").await;
    refused(&r, StatusCode::UNAUTHORIZED, "invalid_token", "none");
}

/// TS 33.180 B.2.2.3 (`mcdata_id`) and RFC 6750 §3.1 (`insufficient_scope`, 403, with
/// the scope needed).
#[tokio::test]
async fn rfc6750_3_1_missing_mcdata_id_is_401_and_missing_scope_is_403() {
    let sys = system_with(jwt_for(AUD_A)).await;
    let mut c = claims("alice@a.example", AUD_A);
    c.as_object_mut().unwrap().remove("mcdata_id");
    let r = post(&sys, Some(&bearer(&sign("rs256-a", &c))), b"x").await;
    refused(&r, StatusCode::UNAUTHORIZED, "invalid_token", "mcdata_id");

    let mut c = claims("alice@a.example", AUD_A);
    c.as_object_mut().unwrap().remove("scope");
    let r = post(&sys, Some(&bearer(&sign("rs256-a", &c))), b"x").await;
    refused(&r, StatusCode::FORBIDDEN, "insufficient_scope", SCOPE);
    assert!(
        r.header("www-authenticate")
            .contains(&format!("scope=\"{SCOPE}\"")),
        "{}",
        r.header("www-authenticate")
    );
    c["scope"] = json!("openid 3gpp:mc:ptt_service");
    let r = post(&sys, Some(&bearer(&sign("rs256-a", &c))), b"x").await;
    refused(&r, StatusCode::FORBIDDEN, "insufficient_scope", SCOPE);
}

#[tokio::test]
async fn jwt_scope_is_configurable() {
    let sys = system_with(|c| {
        jwt_for(AUD_A)(c);
        c.jwt_scope = Some("3gpp:mcdata:cs".into());
    })
    .await;
    let default = bearer(&sign("es256-a", &claims("alice@a.example", AUD_A)));
    let r = post(&sys, Some(&default), b"x").await;
    refused(
        &r,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
        "3gpp:mcdata:cs",
    );
    let mut c = claims("alice@a.example", AUD_A);
    c["scope"] = json!("openid 3gpp:mcdata:cs");
    let r = post(&sys, Some(&bearer(&sign("es256-a", &c))), b"x").await;
    assert_eq!(r.status, StatusCode::CREATED);
}

/// A partner hit (steps 10-13) with the partner system's own users holding JWTs: B
/// checks the token for B's audience; the fetch from A still uses the agreement
/// credential, which A accepts beside its own users' JWTs.
#[tokio::test]
async fn partner_downloads_with_a_jwt_miss_then_hit() {
    let (a, b) = pair_with(jwt_for(AUD_A), jwt_for(AUD_B)).await;
    let alice = bearer(&sign("es256-a", &claims("alice@a.example", AUD_A)));
    let body = data(300 * 1024 + 7, 3);
    let up = post(&a, Some(&alice), &body).await;
    assert_eq!(up.status, StatusCode::CREATED, "{:?}", up.body);
    let url = up.header("location").to_string();

    let anonymous = get(&b.via(&url), &[]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let for_a = get(&b.via(&url), &[("authorization", &alice)]).await;
    refused(
        &for_a,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "audience",
    );

    let bob_es = bearer(&sign("es256-a", &claims("bob@b.example", AUD_B)));
    let first = get(&b.via(&url), &[("authorization", &bob_es)]).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.header("x-cache"), "MISS");
    assert_eq!(first.bytes().as_ref(), body.as_slice());
    let bob_rs = bearer(&sign("rs256-a", &claims("bob@b.example", AUD_B)));
    let hit = get(&b.via(&url), &[("authorization", &bob_rs)]).await;
    assert_eq!(hit.status, StatusCode::OK);
    assert_eq!(hit.header("x-cache"), "HIT");
    assert_eq!(hit.bytes().as_ref(), body.as_slice());
    assert_eq!(a.metric("mcdata_deliveries_total{system=\"B\"}"), 1.0);
}

/// A JWK Set served over http by a test "identity management server": what it answers
/// can be changed, and every fetch is counted.
struct JwksServer {
    url: String,
    answer: Arc<Mutex<(u16, String)>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(file: &str) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let body = std::fs::read_to_string(fixture(file)).unwrap();
        let answer = Arc::new(Mutex::new((200, body)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (a, f) = (answer.clone(), fetches.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (a, f) = (a.clone(), f.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |_req| {
                        f.fetch_add(1, Ordering::SeqCst);
                        let (status, body) = a.lock().unwrap().clone();
                        async move {
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .status(status)
                                    .header("content-type", "application/jwk-set+json")
                                    .body(Full::new(Bytes::from(body)))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        JwksServer {
            url: format!("http://{addr}/.well-known/jwks.json"),
            answer,
            fetches,
        }
    }

    fn serve(&self, status: u16, file: &str) {
        let body = std::fs::read_to_string(fixture(file)).unwrap_or_default();
        *self.answer.lock().unwrap() = (status, body);
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn jwt_url(url: String, refresh: Duration) -> impl FnOnce(&mut ContentServerConfig) {
    move |c| {
        c.jwt_issuer = Some(ISS.into());
        c.jwt_audience = Some(AUD_A.into());
        c.jwks_url = Some(url);
        c.jwks_refresh = refresh;
    }
}

/// RFC 7517 §4.5 (`kid`), key rotation as RFC 8725 §3.1 leaves it to the key set: a token
/// naming a key we have not seen makes us fetch the set again at once (and the request
/// waits for it); a retired key is refused; unknown kids cannot make us fetch more than
/// once per 30 s.
#[tokio::test]
async fn jwks_url_rotation_is_picked_up_on_an_unknown_kid() {
    let idms = JwksServer::start("jwks.json").await;
    let sys = system_with(jwt_url(idms.url.clone(), Duration::from_secs(3600))).await;
    assert_eq!(idms.fetches(), 1, "loaded at start-up");
    let old = bearer(&sign("es256-a", &claims("alice@a.example", AUD_A)));
    assert_eq!(
        post(&sys, Some(&old), b"1").await.status,
        StatusCode::CREATED
    );
    assert_eq!(idms.fetches(), 1, "a known kid needs no fetch");

    idms.serve(200, "jwks-rotated.json");
    let new = bearer(&sign("es256-b", &claims("alice@a.example", AUD_A)));
    let r = post(&sys, Some(&new), b"2").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(idms.fetches(), 2, "one refresh for the unknown kid");

    let r = post(&sys, Some(&old), b"3").await;
    refused(&r, StatusCode::UNAUTHORIZED, "invalid_token", "es256-a");
    let nope = bearer(&sign_as("es256-b", "nope", &claims("m@a", AUD_A)));
    let r = post(&sys, Some(&nope), b"4").await;
    refused(&r, StatusCode::UNAUTHORIZED, "invalid_token", "nope");
    assert_eq!(
        idms.fetches(),
        2,
        "rate-limited: no fetch within 30 s of the last"
    );
    // The RSA key was in both sets.
    let rs = bearer(&sign("rs256-a", &claims("alice@a.example", AUD_A)));
    assert_eq!(
        post(&sys, Some(&rs), b"5").await.status,
        StatusCode::CREATED
    );
}

/// A refresh that fails (the issuer answers 500) keeps the last good key set; a later
/// one that succeeds replaces it.
#[tokio::test]
async fn a_failed_jwks_refresh_keeps_the_last_good_keys() {
    let idms = JwksServer::start("jwks.json").await;
    let sys = system_with(jwt_url(idms.url.clone(), Duration::from_secs(1))).await;
    idms.serve(500, "none");
    let before = idms.fetches();
    assert!(eventually(Duration::from_secs(5), || idms.fetches() >= before + 2).await);
    let t = bearer(&sign("es256-a", &claims("alice@a.example", AUD_A)));
    assert_eq!(post(&sys, Some(&t), b"1").await.status, StatusCode::CREATED);

    // Periodic refreshes pick up a rotation without any token asking for it.
    idms.serve(200, "jwks-rotated.json");
    let before = idms.fetches();
    assert!(eventually(Duration::from_secs(5), || idms.fetches() >= before + 2).await);
    let new = bearer(&sign("es256-b", &claims("alice@a.example", AUD_A)));
    assert_eq!(
        post(&sys, Some(&new), b"2").await.status,
        StatusCode::CREATED
    );
}

/// An issuer that is down when we start does not stop the content server: tokens are
/// answered 503 until its keys are loaded, then accepted.
#[tokio::test]
async fn jwks_url_down_at_start_gives_503_until_a_refresh_succeeds() {
    let idms = JwksServer::start("jwks.json").await;
    idms.serve(503, "none");
    let sys = system_with(jwt_url(idms.url.clone(), Duration::from_secs(1))).await;
    let t = bearer(&sign("es256-a", &claims("alice@a.example", AUD_A)));
    let r = post(&sys, Some(&t), b"1").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    assert!(r.json()["reason"].as_str().unwrap().contains("keys"));
    idms.serve(200, "jwks.json");
    // The next periodic refresh (every second here) loads the keys.
    let end = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = post(&sys, Some(&t), b"2").await;
        if r.status == StatusCode::CREATED {
            break;
        }
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
        assert!(std::time::Instant::now() < end, "keys never loaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_jwks_file_that_cannot_be_read_stops_the_start() {
    let l = bind().await;
    let t = tempfile::tempdir().unwrap();
    let mut c = base_config("A", l.local_addr().unwrap(), t.path());
    jwt_for(AUD_A)(&mut c);
    c.jwks_file = Some(t.path().join("missing-jwks.json"));
    let e = ContentServer::start_on(l, c)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("missing-jwks.json"), "{e}");
}
