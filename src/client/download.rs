//! Downloads (the download data request/response of TS 23.282 7.5.2.1): `GET` with the
//! user's token, the body streamed to any writer and hashed on the way. A body that breaks
//! off, stalls past the idle timeout, or ends short of `Content-Length` is an error, never
//! a clean-looking short file.

use std::time::Duration;

use http::{header, Method};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::api::McDataClient;
use super::error::{chain, ClientError};
use super::types::Downloaded;
use super::wire::empty_body;
use crate::http::body::next_batch;
use crate::http::disposition::file_name_of;

/// Bytes handed to the writer at most at once.
const BATCH: usize = 512 * 1024;

/// Lowercase hex (the one the servers use too).
pub use crate::support::hex::to_hex;

/// A download whose response head has arrived and whose body has not been read: what the
/// server says of the file (its name, length), so that the caller can choose where to put
/// it before a byte is written. Dropping it closes the connection.
pub struct PendingDownload {
    url: String,
    status: u16,
    total: Option<u64>,
    x_cache: Option<String>,
    file_name: Option<String>,
    body: Incoming,
    idle: Duration,
}

impl PendingDownload {
    /// The file name of the response's `Content-Disposition` (`filename*` over `filename`,
    /// RFC 6266 §4.3), as the server sent it: not safe to use as a path as it is
    /// ([`super::safe_file_name`]).
    pub fn file_name(&self) -> Option<&str> {
        self.file_name.as_deref()
    }

    /// `Content-Length`, when the server sent one.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// Stream the body to `dest`, hashing sha256, calling progress(received, total) per
    /// chunk; fails if the body breaks off, stalls past the idle timeout or is shorter
    /// than Content-Length. `dest` is flushed at the end; on failure it holds what arrived
    /// before, for the caller to discard.
    pub async fn save<W: AsyncWrite + Unpin>(
        self,
        dest: &mut W,
        mut progress: impl FnMut(u64, Option<u64>),
    ) -> Result<Downloaded, ClientError> {
        let PendingDownload {
            url,
            status,
            total,
            x_cache,
            file_name,
            mut body,
            idle,
        } = self;
        let of_total = total.map(|t| format!(" of {t}")).unwrap_or_default();
        let mut hasher = Sha256::new();
        let mut len = 0u64;
        progress(0, total);
        loop {
            let next = tokio::time::timeout(idle, next_batch(&mut body, BATCH))
                .await
                .map_err(|_| {
                    ClientError::Body(format!(
                        "GET {url}: nothing received for {} s after {len}{of_total} bytes",
                        idle.as_secs()
                    ))
                })?;
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|e| {
                ClientError::Body(format!(
                    "GET {url}: the body broke off after {len}{of_total} bytes: {}",
                    chain(&e)
                ))
            })?;
            hasher.update(&chunk);
            dest.write_all(&chunk).await?;
            len += chunk.len() as u64;
            progress(len, total);
        }
        if let Some(t) = total {
            if len != t {
                return Err(ClientError::Body(format!(
                    "GET {url}: the body ended after {len} of {t} bytes"
                )));
            }
        }
        dest.flush().await?;
        Ok(Downloaded {
            len,
            sha256: to_hex(&hasher.finalize()),
            x_cache,
            status,
            file_name,
        })
    }
}

impl McDataClient {
    /// GET url (with the user's token) up to its response head: a non-2xx answer is an
    /// error here; the body is read by [`PendingDownload::save`].
    pub async fn open_download(&self, url: &str) -> Result<PendingDownload, ClientError> {
        let resp = self
            .request(Method::GET, url, Vec::new(), empty_body())
            .await?;
        let resp = Self::success(&Method::GET, url, resp).await?;
        let header_text = |name: header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_string())
        };
        let total = header_text(header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        let x_cache = header_text(header::HeaderName::from_static("x-cache"));
        let file_name = file_name_of(resp.headers());
        Ok(PendingDownload {
            url: url.to_string(),
            status: resp.status().as_u16(),
            total,
            x_cache,
            file_name,
            body: resp.into_body(),
            idle: self.timeouts.idle,
        })
    }

    /// GET url (with the user's token), streaming to `dest`, hashing sha256, calling
    /// progress(received, total) per chunk; the download fails if the body breaks off or is
    /// shorter than Content-Length. `dest` is flushed at the end; on failure it holds
    /// what arrived before, for the caller to discard.
    pub async fn download<W: AsyncWrite + Unpin>(
        &self,
        url: &str,
        dest: &mut W,
        progress: impl FnMut(u64, Option<u64>),
    ) -> Result<Downloaded, ClientError> {
        self.open_download(url).await?.save(dest, progress).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::api::Timeouts;
    use super::super::testserver::{raw_server, serve, Reply};
    use super::*;
    use std::time::Duration;

    fn client(base: &str) -> McDataClient {
        McDataClient::new("bob@b", "tok-b", base, base)
    }

    fn sha(data: &[u8]) -> String {
        to_hex(&Sha256::digest(data))
    }

    #[tokio::test]
    async fn a_whole_body_is_written_hashed_and_reported() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let body = data.clone();
        let server = serve(move |req| {
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = body.clone();
            async move {
                if auth != "Bearer tok-b" {
                    return Reply::json(401, r#"{"error":"unauthorized","reason":"who are you"}"#);
                }
                Reply::bytes(200, body).header("x-cache", "MISS").header(
                    "content-disposition",
                    "attachment; filename=\"x.pdf\"; filename*=UTF-8''Einsatzbericht_M%C3%BCnchen_%ED%99%94%EC%9E%AC.pdf",
                )
            }
        })
        .await;
        let c = client(&server);
        let mut out = Vec::new();
        let mut calls = Vec::new();
        let d = c
            .download(&format!("{server}/files/1"), &mut out, |n, t| {
                calls.push((n, t))
            })
            .await
            .unwrap();
        assert_eq!(out, data);
        assert_eq!(
            d,
            Downloaded {
                len: data.len() as u64,
                sha256: sha(&data),
                x_cache: Some("MISS".into()),
                status: 200,
                file_name: Some("Einsatzbericht_München_화재.pdf".into()),
            }
        );
        assert_eq!(calls.first(), Some(&(0, Some(data.len() as u64))));
        assert_eq!(
            calls.last(),
            Some(&(data.len() as u64, Some(data.len() as u64)))
        );
        assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));

        // Without the token: the server's reason comes back in a Status error.
        let anon = McDataClient::new("x", "", &server, &server);
        let e = anon
            .download(&format!("{server}/files/1"), &mut Vec::new(), |_, _| {})
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(401));
        assert!(e.to_string().ends_with("401 who are you"), "{e}");
    }

    #[tokio::test]
    async fn a_body_shorter_than_content_length_fails() {
        let base = raw_server(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nX-Cache: HIT\r\n\r\n".to_vec(),
            vec![b'a'; 60],
        ])
        .await;
        let mut out = Vec::new();
        let e = client(&base)
            .download(&format!("{base}/f"), &mut out, |_, _| {})
            .await
            .unwrap_err();
        assert!(matches!(e, ClientError::Body(_)), "{e}");
        let text = e.to_string();
        assert!(text.contains("of 100 bytes"), "{text}");
        assert!(out.len() <= 60);
    }

    #[tokio::test]
    async fn a_chunked_body_that_breaks_off_fails() {
        let base = raw_server(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            b"5\r\nhello\r\n".to_vec(),
            b"5\r\nwor".to_vec(),
        ])
        .await;
        let e = client(&base)
            .download(&format!("{base}/f"), &mut Vec::new(), |_, _| {})
            .await
            .unwrap_err();
        assert!(e.to_string().contains("broke off after"), "{e}");
    }

    #[tokio::test]
    async fn a_complete_chunked_body_without_length_succeeds() {
        let base = raw_server(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec(),
            b"5\r\nhello\r\n".to_vec(),
            b"6\r\n world\r\n0\r\n\r\n".to_vec(),
        ])
        .await;
        let mut out = Vec::new();
        let mut last = (0, Some(1));
        let d = client(&base)
            .download(&format!("{base}/f"), &mut out, |n, t| last = (n, t))
            .await
            .unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(
            (d.len, d.sha256, d.x_cache),
            (11, sha(b"hello world"), None)
        );
        assert_eq!(last, (11, None));
    }

    #[tokio::test]
    async fn a_stalled_body_times_out() {
        let base = raw_server(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec(),
            b"__stall__".to_vec(),
        ])
        .await;
        let c = McDataClient::with_timeouts(
            "b",
            "",
            &base,
            &base,
            Timeouts {
                idle: Duration::from_millis(200),
                ..Timeouts::default()
            },
        );
        let e = c
            .download(&format!("{base}/f"), &mut Vec::new(), |_, _| {})
            .await
            .unwrap_err();
        assert!(e.to_string().contains("nothing received"), "{e}");
    }
}
