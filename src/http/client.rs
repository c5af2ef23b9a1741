//! The outbound HTTP/1.1 clients (connection pooling by hyper-util): partner fetches from
//! primaries, purges from primaries to partners, and MCData server interconnection.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Empty, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A client for requests without a body.
pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// A client for requests with a small body held whole.
pub type BodyClient = Client<HttpConnector, Full<Bytes>>;

fn build<B>(connect_timeout: Duration) -> Client<HttpConnector, B>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    conn.set_connect_timeout(Some(connect_timeout));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(conn)
}

/// A pooled client with TCP_NODELAY and a connect timeout.
pub fn new_client(connect_timeout: Duration) -> HttpClient {
    build(connect_timeout)
}

/// The same, for requests with a body.
pub fn new_body_client(connect_timeout: Duration) -> BodyClient {
    build(connect_timeout)
}

/// The `User-Agent` we send.
pub const USER_AGENT: &str = concat!("mcdata/", env!("CARGO_PKG_VERSION"));
