//! Where `mcdata client download` puts a file. The name comes from the server's
//! `Content-Disposition` (`filename*` over `filename`, RFC 6266 §4.3) made safe
//! ([`safe_file_name`]: no path, no control characters, not `.` or `..`), else the last
//! segment of the URL path (a primary's file URL ends in the file's UUID), else
//! `download`; an `--output` path wins over all of them. An existing file is never
//! replaced without `force`, and the check is made once the response head is in, before
//! any byte of the body is read. The body goes to a hidden `.part` file beside the
//! destination, which becomes the file only when the download completed (a hard link, which
//! fails rather than replace a file that appeared meanwhile); a failed download leaves
//! nothing behind.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::output::BlockingStdout;
use crate::client::{safe_file_name, ClientError, Downloaded, McDataClient};

/// Where a download goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Standard output (`-o -`).
    Stdout,
    /// This file (`-o FILE`).
    File(PathBuf),
    /// This directory, under the name the server gives (no `-o`: the current directory;
    /// `-o DIR` for an existing directory).
    Dir(PathBuf),
}

impl Output {
    /// What `-o` says (`None`: the current directory).
    pub fn from_arg(output: Option<PathBuf>) -> Output {
        match output {
            None => Output::Dir(PathBuf::from(".")),
            Some(p) if p.as_os_str() == "-" => Output::Stdout,
            Some(p) if p.is_dir() => Output::Dir(p),
            Some(p) => Output::File(p),
        }
    }
}

/// The name to save a download as in a directory: the server's file name made safe, else
/// the last segment of the URL's path, else `download`.
pub fn name_for(server_name: Option<&str>, url: &str) -> String {
    server_name
        .and_then(safe_file_name)
        .or_else(|| {
            let u = url::Url::parse(url).ok()?;
            let last = u
                .path()
                .trim_end_matches('/')
                .rsplit('/')
                .next()?
                .to_string();
            // The segment as it is in the URL may be percent-encoded.
            let decoded = percent_decoded(&last).unwrap_or(last);
            safe_file_name(&decoded)
        })
        .unwrap_or_else(|| "download".to_string())
}

fn percent_decoded(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Download `url` to `output`, replacing an existing file only when `force`; returns where
/// it went (`None` for stdout) and what was received.
pub async fn save_download(
    client: &McDataClient,
    url: &str,
    output: Output,
    force: bool,
    progress: impl FnMut(u64, Option<u64>),
) -> Result<(Option<PathBuf>, Downloaded), ClientError> {
    let pending = client.open_download(url).await?;
    let dest = match output {
        Output::Stdout => {
            let d = pending.save(&mut BlockingStdout, progress).await?;
            return Ok((None, d));
        }
        Output::File(p) => p,
        Output::Dir(dir) => dir.join(name_for(pending.file_name(), url)),
    };
    if !force && exists(&dest).await {
        // Dropping `pending` closes the connection: nothing of the body is read.
        return Err(ClientError::Exists(dest));
    }
    let part = part_path(&dest);
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&part)
        .await
        .map_err(|e| io_at(&part, e))?;
    let result = pending.save(&mut file, progress).await;
    drop(file);
    let d = match result {
        Ok(d) => d,
        Err(e) => {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
    };
    if let Err(e) = place(&part, &dest, force).await {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(e);
    }
    tracing::debug!(path = %dest.display(), len = d.len, "download saved");
    Ok((Some(dest), d))
}

async fn exists(p: &Path) -> bool {
    tokio::fs::symlink_metadata(p).await.is_ok()
}

fn io_at(p: &Path, e: std::io::Error) -> ClientError {
    ClientError::Io(std::io::Error::new(
        e.kind(),
        format!("{}: {e}", p.display()),
    ))
}

/// The hidden `.part` file beside `dest`, unique to this download.
fn part_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    let tag = Uuid::new_v4().simple().to_string();
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    dir.join(format!(".{name}.{tag}.part"))
}

/// Make the completed `part` the file `dest`: replacing it when `force`, else through a
/// hard link, which fails if `dest` exists (by now), then dropping the part's name. On a
/// file system without hard links, a last existence check and a rename.
async fn place(part: &Path, dest: &Path, force: bool) -> Result<(), ClientError> {
    if force {
        return tokio::fs::rename(part, dest)
            .await
            .map_err(|e| io_at(dest, e));
    }
    match tokio::fs::hard_link(part, dest).await {
        Ok(()) => {
            let _ = tokio::fs::remove_file(part).await;
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(ClientError::Exists(dest.into())),
        Err(_) if exists(dest).await => Err(ClientError::Exists(dest.into())),
        Err(_) => tokio::fs::rename(part, dest)
            .await
            .map_err(|e| io_at(dest, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_server_then_the_url() {
        let url = "http://b/http://a/files/0b8f7a52-3c1e-4c5e-9a59-2d8f0c6e1b77";
        assert_eq!(
            name_for(Some("Einsatzbericht_München_화재.pdf"), url),
            "Einsatzbericht_München_화재.pdf"
        );
        // Path information is dropped (RFC 6266 §4.3), control characters replaced.
        assert_eq!(name_for(Some("../../etc/passwd"), url), "passwd");
        assert_eq!(name_for(Some("a\u{7}b"), url), "a_b");
        // Nothing usable from the server: the file's UUID, from the URL.
        for unusable in [None, Some(".."), Some("dir/"), Some("  ")] {
            assert_eq!(
                name_for(unusable, url),
                "0b8f7a52-3c1e-4c5e-9a59-2d8f0c6e1b77"
            );
        }
        assert_eq!(name_for(None, "http://b/d/M%C3%BCnchen.txt"), "München.txt");
        assert_eq!(name_for(None, "http://b/x/%2E%2E"), "download");
        assert_eq!(name_for(None, "http://b/"), "download");
    }

    #[test]
    fn output_arguments() {
        assert_eq!(Output::from_arg(None), Output::Dir(".".into()));
        assert_eq!(Output::from_arg(Some("-".into())), Output::Stdout);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Output::from_arg(Some(dir.path().into())),
            Output::Dir(dir.path().into())
        );
        let f = dir.path().join("x.bin");
        assert_eq!(Output::from_arg(Some(f.clone())), Output::File(f));
    }

    #[tokio::test]
    async fn placing_never_replaces_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f.txt");
        let part = part_path(&dest);
        assert_eq!(part.parent(), Some(dir.path()));
        assert!(part
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".f.txt."));
        std::fs::write(&part, "new").unwrap();
        place(&part, &dest, false).await.unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new");
        assert!(!part.exists());

        std::fs::write(&part, "newer").unwrap();
        let e = place(&part, &dest, false).await.unwrap_err();
        assert!(matches!(e, ClientError::Exists(ref p) if *p == dest), "{e}");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new");
        place(&part, &dest, true).await.unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "newer");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
