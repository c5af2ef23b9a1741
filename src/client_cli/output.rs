//! What `mcdata client` prints: lines on stdout that fail instead of panicking when
//! stdout is closed, stdout as an async writer for `download -o -`, and the history table.

use std::fmt::Display;
use std::io::Write;

use crate::client::{ClientError, Report};

/// stdout as an `AsyncWrite`, written synchronously (the crate's tokio has no `io-std`);
/// a file piped out of `download -o -` blocks the task no longer than the pipe does.
pub struct BlockingStdout;

impl tokio::io::AsyncWrite for BlockingStdout {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(std::io::stdout().lock().write(buf))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(std::io::stdout().lock().flush())
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// Write a line to stdout; a closed stdout is an error, not a panic.
pub fn say(text: impl Display) -> Result<(), ClientError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SSZ` for Unix seconds (UTC).
pub fn format_unix(secs: u64) -> String {
    crate::support::time::utc_date_time(secs, ' ')
}

/// The history as an aligned table with a header line.
pub fn format_history(reports: &[Report]) -> String {
    if reports.is_empty() {
        return "no download completed reports\n".to_string();
    }
    let header = [
        "REPORTED (UTC)",
        "MESSAGE",
        "CONVERSATION",
        "REPORTER",
        "RECIPIENT",
        "SYSTEM",
        "FILE URL",
    ];
    let rows: Vec<[String; 7]> = reports
        .iter()
        .map(|r| {
            [
                format_unix(r.reported_at),
                r.message_id.to_string(),
                r.conversation_id.to_string(),
                r.reporter.clone(),
                r.recipient.clone(),
                r.system.clone(),
                r.file_url.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn unix_times() {
        assert_eq!(format_unix(0), "1970-01-01 00:00:00Z");
        assert_eq!(format_unix(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(format_unix(1_700_000_000), "2023-11-14 22:13:20Z");
        assert_eq!(format_unix(4_102_444_799), "2099-12-31 23:59:59Z");
    }

    #[test]
    fn history_table() {
        assert_eq!(format_history(&[]), "no download completed reports\n");
        let r = Report {
            message_id: Uuid::nil(),
            conversation_id: Uuid::nil(),
            file_url: "http://a/files/1".into(),
            reporter: "bob@b".into(),
            recipient: "alice@a".into(),
            reported_at: 0,
            system: "A".into(),
        };
        let t = format_history(&[r]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("REPORTED (UTC)        MESSAGE"), "{t}");
        assert!(
            lines[1].starts_with("1970-01-01 00:00:00Z  00000000-"),
            "{t}"
        );
        assert!(lines[1].ends_with("  A       http://a/files/1"), "{t}");
        // Columns line up.
        assert_eq!(lines[0].find("FILE URL"), lines[1].find("http://"));
    }
}
