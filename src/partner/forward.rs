//! The request the partner sends upstream for a client (RFC 9110 §7.6, RFC 9111 §4): the
//! client's end-to-end fields (`Accept`, `Accept-Language`, `User-Agent`, extensions...),
//! never its `Authorization`, `Cookie`, `Proxy-*` or hop-by-hop fields, nor its
//! conditionals and `Range` (a fill fetches the whole representation and answers those
//! itself); then ours: `Via`, the agreement credential of the primary's system (the
//! user's token never leaves this system), `X-Mcdata-System`, and for a revalidation the
//! stored copy's validators (RFC 9111 §4.3.1).

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request};
use http_body_util::Empty;
use hyper::body::Incoming;

use super::fetch::FetchError;
use super::upstream::Upstream;
use crate::cache::fields;
use crate::http::client::USER_AGENT;
use crate::support::error_chain::chain;

/// The client fields as the primary sees them: what [`fields::to_forward`] keeps, with
/// `Accept-Encoding: identity` when the client named no coding (so that a copy made for
/// one client is plain bytes for all). Secondary keys (`Vary`) are computed from this
/// view, the request the stored response was selected for.
pub fn view(client: &HeaderMap) -> HeaderMap {
    let mut h = fields::to_forward(client);
    if !h.contains_key(header::ACCEPT_ENCODING) {
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
    h
}

/// The `Via` to send: the client's, with ours appended.
pub fn via(up: &Upstream, client: &HeaderMap) -> Option<HeaderValue> {
    let lines: Vec<&str> = client
        .get_all(header::VIA)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let joined = lines.join(", ");
    let existing = HeaderValue::from_str(&joined).ok();
    let own = up.via.trim_start_matches("1.1 ");
    HeaderValue::from_str(&fields::append_via(existing.as_ref(), own)).ok()
}

/// What one upstream request carries.
pub struct Upstreamed<'a> {
    pub method: Method,
    pub url: &'a url::Url,
    pub system: &'a str,
    /// [`view`] of the client's fields.
    pub fields: &'a HeaderMap,
    /// Our `Via` line ([`via`]).
    pub via: Option<&'a HeaderValue>,
    /// The stored copy's `ETag` and `Last-Modified`, for a revalidation.
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
}

/// Send `r` and wait for the response head (within `upstream-header-timeout`).
pub async fn send(
    up: &Upstream,
    r: &Upstreamed<'_>,
) -> Result<http::Response<Incoming>, FetchError> {
    let mut b = Request::builder()
        .method(r.method.clone())
        .uri(r.url.as_str());
    if let Some(h) = b.headers_mut() {
        for (name, value) in r.fields {
            h.append(name.clone(), value.clone());
        }
        if !h.contains_key(header::USER_AGENT) {
            h.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        }
        if let Some(v) = r.via {
            h.insert(header::VIA, v.clone());
        }
        if let Ok(v) = HeaderValue::from_str(&up.settings.system_id) {
            h.insert("x-mcdata-system", v);
        }
        if let Some(cred) = up.credential_for(r.system).as_deref() {
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer {cred}")) {
                h.insert(header::AUTHORIZATION, v);
            }
        }
        for (name, value) in [
            (header::IF_NONE_MATCH, r.if_none_match),
            (header::IF_MODIFIED_SINCE, r.if_modified_since),
        ] {
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                h.insert(name, v);
            }
        }
    }
    let req = b
        .body(Empty::<Bytes>::new())
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    let timeout = up.settings.header_timeout;
    match tokio::time::timeout(timeout, up.client.request(req)).await {
        Err(_) => Err(FetchError::HeaderTimeout(timeout)),
        Ok(Err(e)) => Err(FetchError::Connect(chain(&e))),
        Ok(Ok(resp)) => Ok(resp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9110_7_6_view_drops_credentials_and_conditionals_and_asks_for_identity() {
        let mut c = HeaderMap::new();
        for (k, v) in [
            ("accept-language", "en"),
            ("authorization", "Bearer user-token"),
            ("cookie", "a=b"),
            ("if-none-match", "\"x\""),
            ("range", "bytes=0-1"),
            ("x-custom", "1"),
        ] {
            c.append(
                header::HeaderName::from_static(k),
                HeaderValue::from_static(v),
            );
        }
        let v = view(&c);
        assert_eq!(v["accept-language"], "en");
        assert_eq!(v["x-custom"], "1");
        assert_eq!(v["accept-encoding"], "identity");
        for gone in ["authorization", "cookie", "if-none-match", "range"] {
            assert!(v.get(gone).is_none(), "{gone}");
        }
        c.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(view(&c)["accept-encoding"], "gzip");
    }
}
