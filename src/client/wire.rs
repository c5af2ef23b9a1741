//! The small pieces of HTTP the client needs around its calls: URL joining, content types
//! by extension, request bodies, reading a bounded answer, and
//! file metadata from a content server's response headers.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use serde::Serialize;

use super::error::{chain, ClientError};
use super::types::{FileInfo, HistoryQuery};
use crate::http::body::BodyError;
use crate::http::disposition::file_name_of;
use crate::http::representation::repr_digest_sha256;
use crate::support::hex::to_hex;

/// Request bodies: whole (JSON, bytes) or streamed (a file).
pub type ReqBody = BoxBody<Bytes, BodyError>;

/// `base` without trailing slashes, `path` appended (`path` starts with `/`).
pub fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// The content type of a file name, by extension (`application/octet-stream` if unknown).
pub fn guess_content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        _ => "application/octet-stream",
    }
}

/// A whole request body.
pub fn full_body(data: impl Into<Bytes>) -> ReqBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty_body() -> ReqBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// File metadata from the headers of a content server answer (`HEAD` or `GET`):
/// `Content-Length`, `Content-Type`, `Repr-Digest` (sha-256), the `Content-Disposition`
/// file name (`filename*` over `filename`, RFC 6266 §4.3), and the seconds left from `Cache-Control: max-age`.
pub fn file_info_from_headers(h: &HeaderMap) -> FileInfo {
    let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let sha256 = repr_digest_sha256(h).map(|sha| to_hex(&sha));
    let name = file_name_of(h);
    let availability = text("cache-control").and_then(|cc| {
        cc.split(',').find_map(|d| {
            let (k, v) = d.trim().split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("max-age")
                .then(|| v.trim().parse::<u64>().ok())
                .flatten()
                .map(|s| s.to_string())
        })
    });
    FileInfo {
        name,
        size: text("content-length").and_then(|v| v.parse().ok()),
        content_type: text("content-type").map(str::to_string),
        sha256,
        availability,
    }
}

/// Read a whole (small) body.
pub async fn read_limited(body: Incoming, max: usize) -> Result<Bytes, String> {
    Limited::new(body, max)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| chain(e.as_ref()))
}

/// The `GET /fd/history` URL for `q`.
pub fn history_url(fd_base: &str, q: &HistoryQuery) -> String {
    let url = join(fd_base, "/fd/history");
    let query = q.to_query();
    if query.is_empty() {
        url
    } else {
        format!("{url}?{query}")
    }
}

pub fn json_headers() -> Vec<(HeaderName, HeaderValue)> {
    vec![(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )]
}

pub fn json_body(value: &impl Serialize) -> Result<ReqBody, ClientError> {
    let data = serde_json::to_vec(value)
        .map_err(|e| ClientError::Body(format!("cannot encode the request: {e}")))?;
    Ok(full_body(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn history_urls() {
        assert_eq!(
            history_url("http://f/", &HistoryQuery::default()),
            "http://f/fd/history"
        );
        let q = HistoryQuery {
            conversation_id: Some(Uuid::nil()),
            message_id: None,
            file_url: Some("http://a/files/1".into()),
        };
        assert_eq!(
            history_url("http://f", &q),
            "http://f/fd/history?conversation_id=00000000-0000-0000-0000-000000000000&file_url=http%3A%2F%2Fa%2Ffiles%2F1"
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(guess_content_type("Scene.JPG"), "image/jpeg");
        assert_eq!(guess_content_type("notes.txt"), "text/plain");
        assert_eq!(guess_content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn file_info_from_content_server_headers() {
        let mut h = HeaderMap::new();
        h.insert("content-length", HeaderValue::from_static("5"));
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        // sha256("hello")
        h.insert(
            "repr-digest",
            HeaderValue::from_static(
                "sha-512=:AAAA:, sha-256=:LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=:",
            ),
        );
        h.insert(
            "content-disposition",
            HeaderValue::from_static("attachment; filename=\"hello.txt\""),
        );
        h.insert(
            "cache-control",
            HeaderValue::from_static("public, max-age=3599"),
        );
        let fi = file_info_from_headers(&h);
        assert_eq!(
            fi,
            FileInfo {
                name: Some("hello.txt".into()),
                size: Some(5),
                content_type: Some("text/plain".into()),
                sha256: Some(
                    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".into()
                ),
                availability: Some("3599".into()),
            }
        );
        assert!(file_info_from_headers(&HeaderMap::new()).is_empty());
    }
}
