//! [`McDataClient`]: one user's HTTP client for the MCData server API (`docs/fd-api.md`)
//! and the content server (upload, HEAD for metadata). Every request carries the user's
//! bearer token when there is one. Downloads are in `download.rs`.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::client::{new_client_for, tls_config, Connector};
use crate::http::disposition::content_disposition;
use crate::support::origin::same_origin;

use super::error::{chain, reason_from_body, ClientError};
use super::events::EventStream;
use super::file_body::FileBody;
use super::types::{FileInfo, HistoryQuery, Report, SendFd, Sent, Uploaded};
use super::wire::{
    empty_body, file_info_from_headers, full_body, guess_content_type, history_url, join,
    json_body, json_headers, read_limited, ReqBody,
};

/// Largest JSON answer we read.
const MAX_JSON: usize = 16 * 1024 * 1024;
/// Largest error body we read for its reason.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// How long to wait for things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// From sending a request to its response headers. Not applied to uploads, which
    /// take as long as the file takes to send.
    pub headers: Duration,
    /// Between two pieces of a download or of the event stream (the server sends a
    /// keep-alive every 15 s).
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            headers: Duration::from_secs(60),
            idle: Duration::from_secs(60),
        }
    }
}

/// One MCData user's client: talks to the user's MCData server (`fd_server`) and to the
/// content server of the user's system (`content_server`). Cheap to clone.
#[derive(Clone)]
pub struct McDataClient {
    /// The user's MCData ID (for messages; the servers know the user by the token).
    pub user: String,
    pub(super) token: String,
    pub(super) fd_base: String,
    pub(super) content_base: String,
    pub(super) timeouts: Timeouts,
    pub(super) http: Client<Connector, ReqBody>,
}

impl std::fmt::Debug for McDataClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McDataClient")
            .field("user", &self.user)
            .field("token", &if self.token.is_empty() { "" } else { "***" })
            .field("fd_base", &self.fd_base)
            .field("content_base", &self.content_base)
            .finish()
    }
}

impl McDataClient {
    /// A client for `user` with bearer `token` (empty: send none), talking to the MCData
    /// server at `fd_server` and the content server at `content_server` (base URLs such as
    /// `http://127.0.0.1:9080`).
    pub fn new(user: &str, token: &str, fd_server: &str, content_server: &str) -> Self {
        Self::with_timeouts(user, token, fd_server, content_server, Timeouts::default())
    }

    /// [`McDataClient::new`] with other timeouts.
    pub fn with_timeouts(
        user: &str,
        token: &str,
        fd_server: &str,
        content_server: &str,
        timeouts: Timeouts,
    ) -> Self {
        Self::with_tls(
            user,
            token,
            fd_server,
            content_server,
            timeouts,
            tls_config(&[]),
        )
    }

    /// [`McDataClient::with_timeouts`] with a TLS configuration for `https://` servers
    /// (e.g. [`crate::http::client::tls_from_file`] with the CA of a private PKI; the
    /// others trust the system's roots).
    pub fn with_tls(
        user: &str,
        token: &str,
        fd_server: &str,
        content_server: &str,
        timeouts: Timeouts,
        tls: rustls::ClientConfig,
    ) -> Self {
        let http = new_client_for(timeouts.connect, tls);
        McDataClient {
            user: user.to_string(),
            token: token.trim().to_string(),
            fd_base: fd_server.trim().trim_end_matches('/').to_string(),
            content_base: content_server.trim().trim_end_matches('/').to_string(),
            timeouts,
            http,
        }
    }

    /// The user's MCData ID.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The bearer token (empty when none is sent).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The MCData server base URL.
    pub fn fd_server(&self) -> &str {
        &self.fd_base
    }

    /// The content server base URL.
    pub fn content_server(&self) -> &str {
        &self.content_base
    }

    /// The timeouts in use.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Send one request and wait for the response headers (any status), at most
    /// [`Timeouts::headers`].
    pub(super) async fn request(
        &self,
        method: Method,
        url: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: ReqBody,
    ) -> Result<Response<Incoming>, ClientError> {
        self.request_within(method, url, headers, body, Some(self.timeouts.headers))
            .await
    }

    /// Send one request and wait for the response headers, at most `wait` if given.
    pub(super) async fn request_within(
        &self,
        method: Method,
        url: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: ReqBody,
        wait: Option<Duration>,
    ) -> Result<Response<Incoming>, ClientError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| ClientError::InvalidUrl(format!("{url}: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(ClientError::InvalidUrl(format!(
                "{url}: expected an absolute http:// or https:// URL"
            )));
        }
        let mut b = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(header::USER_AGENT, crate::http::client::USER_AGENT);
        // The token is for this user's own system: never hand it to another origin.
        if !self.token.is_empty()
            && (same_origin(url, self.fd_server()) || same_origin(url, self.content_server()))
        {
            b = b.header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        }
        for (k, v) in headers {
            b = b.header(k, v);
        }
        let req = b
            .body(body)
            .map_err(|e| ClientError::InvalidUrl(format!("{url}: {e}")))?;
        let sent = match wait {
            Some(t) => tokio::time::timeout(t, self.http.request(req))
                .await
                .map_err(|_| t),
            None => Ok(self.http.request(req).await),
        };
        match sent {
            Err(t) => Err(ClientError::Body(format!(
                "{method} {url}: no answer within {} s",
                t.as_secs()
            ))),
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) if e.is_connect() => Err(ClientError::Connect {
                url: url.to_string(),
                // hyper-util's own message ("client error (Connect)") says nothing more.
                reason: std::error::Error::source(&e).map_or_else(|| chain(&e), chain),
            }),
            Ok(Err(e)) => Err(ClientError::Body(format!("{method} {url}: {}", chain(&e)))),
        }
    }

    /// `resp` if it is 2xx, else a [`ClientError::Status`] with the server's reason.
    pub(super) async fn success(
        method: &Method,
        url: &str,
        resp: Response<Incoming>,
    ) -> Result<Response<Incoming>, ClientError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = read_limited(resp.into_body(), MAX_ERROR_BODY)
            .await
            .unwrap_or_default();
        Err(ClientError::Status {
            method: method.to_string(),
            url: url.to_string(),
            status: status.as_u16(),
            reason: reason_from_body(status.as_u16(), &body),
        })
    }

    /// Send, require 2xx, and decode the JSON answer.
    async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: ReqBody,
    ) -> Result<T, ClientError> {
        self.call_json_within(method, url, headers, body, Some(self.timeouts.headers))
            .await
    }

    async fn call_json_within<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: ReqBody,
        wait: Option<Duration>,
    ) -> Result<T, ClientError> {
        let resp = self
            .request_within(method.clone(), url, headers, body, wait)
            .await?;
        let resp = Self::success(&method, url, resp).await?;
        let bytes = read_limited(resp.into_body(), MAX_JSON)
            .await
            .map_err(|e| ClientError::Body(format!("{method} {url}: {e}")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Decode(format!("{method} {url}: {e}")))
    }

    /// POST a JSON body, require 2xx, ignore the answer's body.
    async fn post_json_no_answer(
        &self,
        url: &str,
        value: &impl Serialize,
    ) -> Result<(), ClientError> {
        let resp = self
            .request(Method::POST, url, json_headers(), json_body(value)?)
            .await?;
        let resp = Self::success(&Method::POST, url, resp).await?;
        // Drain so the connection can be reused.
        let _ = read_limited(resp.into_body(), MAX_JSON).await;
        Ok(())
    }

    /// Stream a file from disk to the own content server; returns the upload JSON.
    /// The content type comes from the file extension, the file name from the path.
    pub async fn upload_file(
        &self,
        path: &Path,
        availability: Option<&str>,
    ) -> Result<Uploaded, ClientError> {
        let file = tokio::fs::File::open(path).await.map_err(|e| {
            ClientError::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            ))
        })?;
        let len = file.metadata().await?.len();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_string());
        let body = FileBody::new(file, len).boxed();
        self.upload(body, len, &name, guess_content_type(&name), availability)
            .await
    }

    /// Upload bytes held in memory to the own content server.
    pub async fn upload_bytes(
        &self,
        data: Bytes,
        name: &str,
        content_type: &str,
        availability: Option<&str>,
    ) -> Result<Uploaded, ClientError> {
        let len = data.len() as u64;
        self.upload(full_body(data), len, name, content_type, availability)
            .await
    }

    async fn upload(
        &self,
        body: ReqBody,
        len: u64,
        name: &str,
        content_type: &str,
        availability: Option<&str>,
    ) -> Result<Uploaded, ClientError> {
        let url = join(&self.content_base, "/files");
        let mut headers = vec![(header::CONTENT_LENGTH, HeaderValue::from(len))];
        let ct = HeaderValue::from_str(content_type.trim()).map_err(|_| {
            ClientError::Body(format!(
                "content type {content_type:?} is not a header value"
            ))
        })?;
        headers.push((header::CONTENT_TYPE, ct));
        // The name in any script: `filename*` (RFC 8187) beside an ASCII `filename`; the
        // content server refuses names it cannot keep (path separators, control
        // characters) with 400 and says why.
        if !name.trim().is_empty() {
            let v = HeaderValue::from_str(&content_disposition(name.trim())).map_err(|_| {
                ClientError::Body(format!("file name {name:?} is not a header value"))
            })?;
            headers.push((header::CONTENT_DISPOSITION, v));
        }
        if let Some(a) = availability {
            let v = HeaderValue::from_str(a.trim()).map_err(|_| {
                ClientError::Body(format!("availability {a:?} is not a header value"))
            })?;
            headers.push((HeaderName::from_static("x-mcdata-availability"), v));
        }
        self.call_json_within(Method::POST, &url, headers, body, None)
            .await
    }

    /// What the content server says about a file URL (`HEAD`): size, type, sha256, name,
    /// seconds of availability left.
    pub async fn file_info(&self, url: &str) -> Result<FileInfo, ClientError> {
        let resp = self
            .request(Method::HEAD, url, Vec::new(), empty_body())
            .await?;
        let resp = Self::success(&Method::HEAD, url, resp).await?;
        Ok(file_info_from_headers(resp.headers()))
    }

    /// The delivery record of a file on the own (primary) content server
    /// (`GET <file URL>/deliveries`, step 12): `{"file_id", "systems": {"B": {"count",
    /// "first", "last"}}}`.
    pub async fn deliveries(&self, file_url: &str) -> Result<serde_json::Value, ClientError> {
        let url = join(file_url, "/deliveries");
        self.call_json(Method::GET, &url, Vec::new(), empty_body())
            .await
    }

    /// Remove a file from the own content server (file removal, 7.5.2.8: `DELETE <file
    /// URL>`); partners that hold a copy are told to drop it.
    pub async fn delete_file(&self, file_url: &str) -> Result<(), ClientError> {
        let resp = self
            .request(Method::DELETE, file_url, Vec::new(), empty_body())
            .await?;
        let resp = Self::success(&Method::DELETE, file_url, resp).await?;
        let _ = read_limited(resp.into_body(), MAX_JSON).await;
        Ok(())
    }

    /// `POST /fd/requests`: send an FD request (steps 2-4).
    pub async fn send_fd(&self, req: &SendFd) -> Result<Sent, ClientError> {
        let url = join(&self.fd_base, "/fd/requests");
        self.call_json(Method::POST, &url, json_headers(), json_body(req)?)
            .await
    }

    /// `GET /fd/events`: open the event stream, resuming after `last_event_id` if given.
    pub async fn events(&self, last_event_id: Option<u64>) -> Result<EventStream, ClientError> {
        let url = join(&self.fd_base, "/fd/events");
        let mut headers = vec![
            (
                header::ACCEPT,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ];
        if let Some(id) = last_event_id {
            headers.push((
                HeaderName::from_static("last-event-id"),
                HeaderValue::from(id),
            ));
        }
        let resp = self
            .request(Method::GET, &url, headers, empty_body())
            .await?;
        let resp = Self::success(&Method::GET, &url, resp).await?;
        Ok(EventStream::from_body(
            resp.into_body(),
            last_event_id,
            Some(self.timeouts.idle),
        ))
    }

    /// `POST /fd/responses`: accept or reject an FD request (step 7).
    pub async fn respond(&self, message_id: Uuid, accept: bool) -> Result<(), ClientError> {
        let url = join(&self.fd_base, "/fd/responses");
        self.post_json_no_answer(
            &url,
            &serde_json::json!({"message_id": message_id, "accept": accept}),
        )
        .await
    }

    /// `POST /fd/reports`: send a download completed report (step 14).
    pub async fn report(&self, message_id: Uuid) -> Result<(), ClientError> {
        let url = join(&self.fd_base, "/fd/reports");
        self.post_json_no_answer(&url, &serde_json::json!({"message_id": message_id}))
            .await
    }

    /// `GET /fd/history`: the download completed reports matching `q`.
    pub async fn history(&self, q: &HistoryQuery) -> Result<Vec<Report>, ClientError> {
        #[derive(Deserialize)]
        struct Reports {
            reports: Vec<Report>,
        }
        let url = history_url(&self.fd_base, q);
        let r: Reports = self
            .call_json(Method::GET, &url, Vec::new(), empty_body())
            .await?;
        Ok(r.reports)
    }
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
