//! The outbound HTTP/1.1 client (connection pooling by hyper-util): partner fetches from
//! primaries and purges from primaries to partners.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The client type.
pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// A pooled client with TCP_NODELAY and a connect timeout.
pub fn new_client(connect_timeout: Duration) -> HttpClient {
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    conn.set_connect_timeout(Some(connect_timeout));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(conn)
}

/// The `User-Agent` we send.
pub const USER_AGENT: &str = concat!("mcdata/", env!("CARGO_PKG_VERSION"));
