//! Every 405 names the methods its resource supports: RFC 9110 §15.5.6 ("The origin
//! server MUST generate an Allow header field in a 405 response containing a list of the
//! target resource's currently supported methods") and §10.2.1 (the `Allow` list).

use bytes::Bytes;
use http::{Method, StatusCode};

use crate::harness::*;

async fn allow_of(method: Method, url: &str) -> String {
    let r = request(method.clone(), url, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {url}");
    assert_eq!(r.json()["error"], "method_not_allowed");
    r.header("allow").to_string()
}

#[tokio::test]
async fn content_server_405s_carry_allow() {
    let (a, b) = pair().await;
    let url = upload(&a, b"x", &[]).await;
    let base = a.base();
    assert_eq!(
        allow_of(Method::GET, &format!("{base}/files")).await,
        "POST"
    );
    assert_eq!(
        allow_of(Method::PUT, &format!("{base}/files/")).await,
        "POST"
    );
    for m in [Method::PUT, Method::POST, Method::PATCH] {
        assert_eq!(allow_of(m, &url).await, "GET, HEAD, DELETE");
    }
    assert_eq!(
        allow_of(Method::DELETE, &format!("{url}/deliveries")).await,
        "GET"
    );
    // A path under a file that names nothing is 404, not 405.
    let r = request(Method::GET, &format!("{url}/other"), &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The partner URL: GET, HEAD and (for the primary's purge) DELETE.
    assert_eq!(
        allow_of(Method::POST, &b.via(&url)).await,
        "GET, HEAD, DELETE"
    );
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            allow_of(Method::POST, &format!("{base}{path}")).await,
            "GET, HEAD"
        );
        let head = request(Method::HEAD, &format!("{base}{path}"), &[], Bytes::new()).await;
        assert_eq!(head.status, StatusCode::OK, "HEAD {path}");
    }
}

#[tokio::test]
async fn mcdata_server_405s_carry_allow() {
    let t = crate::fd::two_systems(|_| {}, |_| {}).await;
    let base = t.a.fd.base().to_string();
    for (path, method, allow) in [
        ("/fd/requests", Method::GET, "POST"),
        ("/fd/responses", Method::GET, "POST"),
        ("/fd/reports", Method::PUT, "POST"),
        ("/interconnect", Method::GET, "POST"),
        ("/content/removals", Method::DELETE, "POST"),
        ("/fd/events", Method::POST, "GET"),
        ("/fd/history", Method::DELETE, "GET"),
        ("/healthz", Method::POST, "GET, HEAD"),
        ("/metrics", Method::PUT, "GET, HEAD"),
    ] {
        assert_eq!(
            allow_of(method, &format!("{base}{path}")).await,
            allow,
            "{path}"
        );
    }
    let r = request(Method::GET, &format!("{base}/nothing"), &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
