//! What a receiving client does with an FD request (steps 6, 7, 10, 13, 14): decide
//! (mandatory download forces acceptance), answer, download to a directory and check the
//! sha256 the sender announced, then send the download completed report if it was asked
//! for. Used by `mcdata client listen` and by the demo.

use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::api::McDataClient;
use super::error::ClientError;
use super::types::{Downloaded, IncomingRequest};
use crate::http::disposition::{is_forbidden_char, MAX_NAME_BYTES};

/// What user 2 decided (step 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accept,
    Reject,
    /// Send nothing.
    Ignore,
}

/// What was done with one FD request.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    pub message_id: Uuid,
    /// The decision applied (`Accept` whenever the request had mandatory download).
    pub decision: Decision,
    /// An FD response was sent (accept or reject).
    pub responded: bool,
    /// Where the file was saved, when it was downloaded.
    pub saved: Option<PathBuf>,
    pub download: Option<Downloaded>,
    /// The announced sha256 was checked and matched (`None`: nothing to check against).
    pub sha256_ok: Option<bool>,
    /// A download completed report was sent.
    pub reported: bool,
}

/// The decision applied to `req`: mandatory download means accept (step 7).
pub fn effective_decision(req: &IncomingRequest, decision: Decision) -> Decision {
    if req.mandatory_download {
        Decision::Accept
    } else {
        decision
    }
}

/// A file name safe to create in a directory, from a name a server or a sender chose: the
/// last path component of `name` (RFC 6266 §4.3: recipients drop path information), with
/// control and bidirectional formatting characters replaced by `_`, cut to at most 255
/// bytes (the extension kept); `None` for nothing usable (empty, `.`, `..`).
pub fn safe_file_name(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let clean: String = last
        .chars()
        .map(|c| if is_forbidden_char(c) { '_' } else { c })
        .collect();
    let clean = shorten(clean.trim(), MAX_NAME_BYTES);
    if clean.is_empty() || clean == "." || clean == ".." {
        None
    } else {
        Some(clean)
    }
}

/// `name` in at most `max` bytes, cut on a character boundary; a short extension
/// (`.pdf`) is kept.
fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let ext = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 16 => &name[stem.len()..],
        _ => "",
    };
    let mut end = max - ext.len();
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ext}", &name[..end])
}

/// The name to save a request's file under: the metadata name, else the last segment of
/// the URL path, else the message ID.
pub fn file_name_for(req: &IncomingRequest) -> String {
    req.metadata
        .name
        .as_deref()
        .and_then(safe_file_name)
        .or_else(|| {
            let path = url::Url::parse(&req.file_url).ok()?.path().to_string();
            safe_file_name(path.trim_end_matches('/'))
        })
        .unwrap_or_else(|| req.message_id.to_string())
}

/// `dir/name`, or `dir/stem-1.ext`, `dir/stem-2.ext`, ... if taken.
pub fn unique_path(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, format!(".{e}")),
        _ => (name, String::new()),
    };
    (1..)
        .map(|i| dir.join(format!("{stem}-{i}{ext}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// Download `url` into `dir` (through a `.part` file renamed at the end, removed on
/// failure), saving as `name` or a free variant of it.
pub async fn download_to_dir(
    client: &McDataClient,
    url: &str,
    dir: &Path,
    name: &str,
    part_tag: &str,
    progress: impl FnMut(u64, Option<u64>),
) -> Result<(PathBuf, Downloaded), ClientError> {
    tokio::fs::create_dir_all(dir).await?;
    let part = dir.join(format!(".{name}.{part_tag}.part"));
    let mut file = tokio::fs::File::create(&part).await?;
    let result = client.download(url, &mut file, progress).await;
    drop(file);
    let d = match result {
        Ok(d) => d,
        Err(e) => {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
    };
    let dest = unique_path(dir, name);
    if let Err(e) = tokio::fs::rename(&part, &dest).await {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(e.into());
    }
    Ok((dest, d))
}

/// Handle an FD request: apply `decision` (mandatory download forces `Accept`), send the
/// FD response, and after accepting with a `download_dir`, download the file there, check
/// its sha256 against the metadata, and send a download completed report when the request
/// asked for one and `report` is true. A sha256 mismatch is an error (the file is removed,
/// nothing is reported).
pub async fn handle_request(
    client: &McDataClient,
    req: &IncomingRequest,
    decision: Decision,
    download_dir: Option<&Path>,
    report: bool,
) -> Result<Handled, ClientError> {
    handle_request_with(client, req, decision, download_dir, report, |_, _| {}).await
}

/// [`handle_request`] with a download progress callback `(received, total)`.
pub async fn handle_request_with(
    client: &McDataClient,
    req: &IncomingRequest,
    decision: Decision,
    download_dir: Option<&Path>,
    report: bool,
    progress: impl FnMut(u64, Option<u64>),
) -> Result<Handled, ClientError> {
    let decision = effective_decision(req, decision);
    let mut h = Handled {
        message_id: req.message_id,
        decision,
        responded: false,
        saved: None,
        download: None,
        sha256_ok: None,
        reported: false,
    };
    match decision {
        Decision::Ignore => return Ok(h),
        Decision::Reject => {
            client.respond(req.message_id, false).await?;
            h.responded = true;
            return Ok(h);
        }
        Decision::Accept => {
            client.respond(req.message_id, true).await?;
            h.responded = true;
        }
    }
    let Some(dir) = download_dir else {
        return Ok(h);
    };
    let name = file_name_for(req);
    let (path, d) = download_to_dir(
        client,
        &req.file_url,
        dir,
        &name,
        &req.message_id.simple().to_string(),
        progress,
    )
    .await?;
    if let Some(expected) = &req.metadata.sha256 {
        let ok = expected.trim().eq_ignore_ascii_case(&d.sha256);
        if !ok {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(ClientError::Body(format!(
                "{}: sha256 {} does not match the announced {}; file discarded",
                req.file_url, d.sha256, expected
            )));
        }
        h.sha256_ok = Some(true);
    }
    h.saved = Some(path);
    h.download = Some(d);
    if report && req.download_report {
        client.report(req.message_id).await?;
        h.reported = true;
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::super::download::to_hex;
    use super::super::testserver::{serve, Reply};
    use super::super::types::FileInfo;
    use super::*;
    use http_body_util::BodyExt;
    use sha2::Digest;
    use std::sync::{Arc, Mutex};

    fn request(url: &str, name: Option<&str>) -> IncomingRequest {
        IncomingRequest {
            message_id: Uuid::new_v4(),
            conversation_id: Uuid::new_v4(),
            from: "alice@a".into(),
            file_url: url.into(),
            metadata: FileInfo {
                name: name.map(str::to_string),
                ..Default::default()
            },
            mandatory_download: false,
            download_report: false,
        }
    }

    #[test]
    fn safe_names() {
        assert_eq!(safe_file_name("scene.jpg").as_deref(), Some("scene.jpg"));
        assert_eq!(
            safe_file_name("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(safe_file_name("C:\\x\\y.txt").as_deref(), Some("y.txt"));
        assert_eq!(safe_file_name("a\nb").as_deref(), Some("a_b"));
        assert_eq!(
            safe_file_name("Einsatzbericht_München_화재.pdf").as_deref(),
            Some("Einsatzbericht_München_화재.pdf")
        );
        assert_eq!(
            safe_file_name("invoice_\u{202E}fdp.exe").as_deref(),
            Some("invoice__fdp.exe")
        );
        // At most 255 bytes (NAME_MAX), cut on a character boundary, the extension kept.
        let long = format!("{}.pdf", "화".repeat(100));
        let short = safe_file_name(&long).unwrap();
        assert!(short.len() <= 255 && short.ends_with("화.pdf"), "{short}");
        assert_eq!(short.len(), 83 * 3 + 4);
        assert_eq!(safe_file_name(".."), None);
        assert_eq!(safe_file_name("dir/"), None);
        assert_eq!(safe_file_name("  "), None);
    }

    #[test]
    fn names_for_requests() {
        let r = request("http://b/http://a/files/3f2a", Some("../x.jpg"));
        assert_eq!(file_name_for(&r), "x.jpg");
        let r = request("http://b/http://a/files/3f2a", None);
        assert_eq!(file_name_for(&r), "3f2a");
        let r = request("not a url", None);
        assert_eq!(file_name_for(&r), r.message_id.to_string());
    }

    #[test]
    fn unique_paths() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(unique_path(dir.path(), "a.txt"), dir.path().join("a.txt"));
        std::fs::write(dir.path().join("a.txt"), b"x").unwrap();
        std::fs::write(dir.path().join("a-1.txt"), b"x").unwrap();
        assert_eq!(unique_path(dir.path(), "a.txt"), dir.path().join("a-2.txt"));
        std::fs::write(dir.path().join(".rc"), b"x").unwrap();
        assert_eq!(unique_path(dir.path(), ".rc"), dir.path().join(".rc-1"));
    }

    /// A fake MCData + content server recording the calls it gets.
    async fn fake(content: &'static [u8]) -> (String, Arc<Mutex<Vec<String>>>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        let base = serve(move |req| {
            let seen = seen.clone();
            async move {
                let line = format!("{} {}", req.method(), req.uri().path());
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let text = String::from_utf8_lossy(&body).to_string();
                seen.lock()
                    .unwrap()
                    .push(format!("{line} {text}").trim().to_string());
                if line.starts_with("GET /files/") {
                    Reply::bytes(200, content)
                } else {
                    Reply::json(202, "{}")
                }
            }
        })
        .await;
        (base, calls)
    }

    #[tokio::test]
    async fn mandatory_download_forces_accept_then_downloads_checks_and_reports() {
        let (base, calls) = fake(b"the file").await;
        let c = McDataClient::new("bob@b", "t", &base, &base);
        let mut req = request(&format!("{base}/files/1"), Some("f.txt"));
        req.mandatory_download = true;
        req.download_report = true;
        req.metadata.sha256 = Some(to_hex(&sha2::Sha256::digest(b"the file")).to_uppercase());
        let dir = tempfile::tempdir().unwrap();
        let h = handle_request(&c, &req, Decision::Reject, Some(dir.path()), true)
            .await
            .unwrap();
        assert_eq!(h.decision, Decision::Accept);
        assert!(h.responded && h.reported);
        assert_eq!(h.sha256_ok, Some(true));
        let saved = h.saved.unwrap();
        assert_eq!(saved, dir.path().join("f.txt"));
        assert_eq!(std::fs::read(&saved).unwrap(), b"the file");
        // Only the final file is left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let m = req.message_id.to_string();
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert!(calls[0].starts_with("POST /fd/responses {"), "{calls:?}");
        assert!(calls[0].contains("\"accept\":true") && calls[0].contains(&m));
        assert_eq!(calls[1], "GET /files/1");
        assert!(calls[2].starts_with("POST /fd/reports {") && calls[2].contains(&m));
    }

    #[tokio::test]
    async fn reject_ignore_and_no_report_without_the_flag() {
        let (base, calls) = fake(b"x").await;
        let c = McDataClient::new("bob@b", "t", &base, &base);
        let mut req = request(&format!("{base}/files/1"), None);
        req.download_report = true;
        let h = handle_request(&c, &req, Decision::Ignore, None, true)
            .await
            .unwrap();
        assert!(!h.responded && h.saved.is_none());
        assert!(calls.lock().unwrap().is_empty());
        let h = handle_request(&c, &req, Decision::Reject, None, true)
            .await
            .unwrap();
        assert!(h.responded && !h.reported);
        let dir = tempfile::tempdir().unwrap();
        let h = handle_request(&c, &req, Decision::Accept, Some(dir.path()), false)
            .await
            .unwrap();
        assert!(h.responded && !h.reported && h.saved.is_some());
        assert_eq!(h.sha256_ok, None);
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 3);
        assert!(calls[0].contains("\"accept\":false"));
        assert!(calls[2].starts_with("GET /files/1"));
    }

    #[tokio::test]
    async fn a_sha256_mismatch_discards_the_file_and_reports_nothing() {
        let (base, calls) = fake(b"tampered").await;
        let c = McDataClient::new("bob@b", "t", &base, &base);
        let mut req = request(&format!("{base}/files/1"), Some("f.txt"));
        req.download_report = true;
        req.metadata.sha256 = Some("00".repeat(32));
        let dir = tempfile::tempdir().unwrap();
        let e = handle_request(&c, &req, Decision::Accept, Some(dir.path()), true)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(!calls
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.contains("/fd/reports")));
    }
}
