//! `mcdata client listen`: print the user's events as they come, answer FD requests
//! (mandatory download: accept; else per flag or by asking on the terminal), download and
//! report through [`super::handle`], and reconnect with `Last-Event-ID` when the stream
//! ends or breaks.

use std::io::Write;
use std::time::Duration;

use std::path::PathBuf;

use clap::{ArgGroup, Args};

use super::output::say;
use super::progress::ProgressBar;
use crate::client::{
    effective_decision, handle_request_with, ClientError, Decision, FdEvent, Handled,
    IncomingRequest, McDataClient,
};
use crate::support::size::human_bytes;

/// `mcdata client listen`.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("decision").args(["accept", "reject", "prompt"])))]
pub struct ListenArgs {
    /// Accept every FD request, e.g. --accept
    #[arg(long)]
    pub accept: bool,
    /// Reject every FD request that is not a mandatory download, e.g. --reject
    #[arg(long)]
    pub reject: bool,
    /// Ask on the terminal for each request that is not a mandatory download:
    /// y = accept, n = reject, i (or Enter) = ignore, e.g. --prompt
    #[arg(long)]
    pub prompt: bool,
    /// Download accepted files into this directory (created if missing; the sha256 is
    /// checked when the sender announced one), e.g. --download-dir ./inbox
    #[arg(long, value_name = "DIR")]
    pub download_dir: Option<PathBuf>,
    /// After a download, send the download completed report when the sender asked for
    /// one, e.g. --report
    #[arg(long)]
    pub report: bool,
    /// Exit after the first FD request has been handled (non-zero if handling it
    /// failed), e.g. --once
    #[arg(long)]
    pub once: bool,
}

impl ListenArgs {
    /// The decision for requests without mandatory download when not prompting.
    pub fn default_decision(&self) -> Decision {
        if self.accept {
            Decision::Accept
        } else if self.reject {
            Decision::Reject
        } else {
            Decision::Ignore
        }
    }
}

/// One line from stdin (`None` at its end), read on a blocking thread.
async fn read_stdin_line() -> Result<Option<String>, ClientError> {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let n = std::io::stdin().read_line(&mut line)?;
        Ok(if n == 0 { None } else { Some(line) })
    })
    .await
    .map_err(|e| ClientError::Io(std::io::Error::other(e)))?
}

/// Ask the terminal what to do with `req`; a closed stdin means ignore.
async fn ask(req: &IncomingRequest) -> Result<Decision, ClientError> {
    let name = req.metadata.name.as_deref().unwrap_or("the file");
    loop {
        eprint!("accept {name} from {}? [y]es / [n]o / [I]gnore: ", req.from);
        let _ = std::io::stderr().flush();
        let Some(line) = read_stdin_line().await? else {
            eprintln!();
            return Ok(Decision::Ignore);
        };
        match parse_answer(&line) {
            Some(d) => return Ok(d),
            None => eprintln!("please answer y, n or i"),
        }
    }
}

/// `y`/`yes` accept, `n`/`no` reject, `i`/`ignore`/empty ignore.
pub fn parse_answer(line: &str) -> Option<Decision> {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Some(Decision::Accept),
        "n" | "no" => Some(Decision::Reject),
        "" | "i" | "ignore" => Some(Decision::Ignore),
        _ => None,
    }
}

/// Lines describing what was done with a request.
pub fn describe_handled(h: &Handled) -> Vec<String> {
    let mut out = vec![match (h.decision, h.responded) {
        (Decision::Accept, true) => "  accepted".to_string(),
        (Decision::Reject, true) => "  rejected".to_string(),
        _ => "  ignored (no response sent)".to_string(),
    }];
    if let (Some(p), Some(d)) = (&h.saved, &h.download) {
        let check = match h.sha256_ok {
            Some(true) => "matches the announced one",
            _ => "none announced",
        };
        out.push(format!(
            "  saved {} ({}); sha256 {} ({check}); X-Cache {}",
            p.display(),
            human_bytes(d.len),
            d.sha256,
            d.x_cache.as_deref().unwrap_or("-")
        ));
    }
    if h.reported {
        out.push("  download completed report sent".to_string());
    }
    out
}

/// Run `listen` until `--once` is satisfied, a refusal (4xx), or the process ends.
pub async fn listen(client: &McDataClient, a: ListenArgs) -> Result<(), ClientError> {
    let who = if client.user().is_empty() {
        "you".to_string()
    } else {
        client.user().to_string()
    };
    let mut last_id: Option<u64> = None;
    let mut connected_once = false;
    let mut backoff = Duration::from_secs(1);
    loop {
        let mut stream = match client.events(last_id).await {
            Ok(s) => s,
            Err(e) if !connected_once || !e.is_transient() => return Err(e),
            Err(e) => {
                eprintln!("{e}; retrying in {} s", backoff.as_secs());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        connected_once = true;
        backoff = Duration::from_secs(1);
        eprintln!(
            "listening for events of {who} on {}{}",
            client.fd_server(),
            last_id
                .map(|i| format!(" after event {i}"))
                .unwrap_or_default()
        );
        while let Some(item) = stream.next().await {
            let (id, ev) = match item {
                Ok(x) => x,
                Err(ClientError::Decode(e)) => {
                    eprintln!("skipping an event: {e}");
                    continue;
                }
                Err(e) => {
                    eprintln!("{e}");
                    break;
                }
            };
            say(format!("[{id}] {ev}"))?;
            let FdEvent::Request(req) = ev else { continue };
            let result = handle_one(client, &a, &req).await;
            match result {
                Ok(h) => {
                    for line in describe_handled(&h) {
                        say(line)?;
                    }
                }
                Err(e) if a.once => return Err(e),
                Err(e) => eprintln!("  failed: {e}"),
            }
            if a.once {
                return Ok(());
            }
        }
        last_id = stream.last_event_id().or(last_id);
        let wait = stream
            .retry()
            .unwrap_or(Duration::from_secs(1))
            .clamp(Duration::from_millis(100), Duration::from_secs(60));
        eprintln!(
            "event stream ended; reconnecting in {:.1} s",
            wait.as_secs_f64()
        );
        tokio::time::sleep(wait).await;
    }
}

async fn handle_one(
    client: &McDataClient,
    a: &ListenArgs,
    req: &IncomingRequest,
) -> Result<Handled, ClientError> {
    let decision = if req.mandatory_download {
        say("  mandatory download: accepting automatically")?;
        Decision::Accept
    } else if a.prompt {
        ask(req).await?
    } else {
        a.default_decision()
    };
    let decision = effective_decision(req, decision);
    let label = req
        .metadata
        .name
        .clone()
        .unwrap_or_else(|| req.message_id.to_string());
    let mut bar = ProgressBar::new(&format!("  {label}"));
    let downloading = decision == Decision::Accept && a.download_dir.is_some();
    let result = handle_request_with(
        client,
        req,
        decision,
        a.download_dir.as_deref(),
        a.report,
        |n, t| bar.update(n, t),
    )
    .await;
    if downloading {
        match &result {
            Ok(h) if h.download.is_some() => bar.finish(),
            _ => bar.abandon(),
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Downloaded;
    use std::path::PathBuf;
    use uuid::Uuid;

    #[test]
    fn answers() {
        assert_eq!(parse_answer(" Y\n"), Some(Decision::Accept));
        assert_eq!(parse_answer("no"), Some(Decision::Reject));
        assert_eq!(parse_answer(""), Some(Decision::Ignore));
        assert_eq!(parse_answer("i"), Some(Decision::Ignore));
        assert_eq!(parse_answer("maybe"), None);
    }

    #[test]
    fn handled_descriptions() {
        let h = Handled {
            message_id: Uuid::nil(),
            decision: Decision::Accept,
            responded: true,
            saved: Some(PathBuf::from("in/f.txt")),
            download: Some(Downloaded {
                len: 2048,
                sha256: "ab".into(),
                x_cache: Some("HIT".into()),
                status: 200,
                file_name: None,
            }),
            sha256_ok: Some(true),
            reported: true,
        };
        assert_eq!(
            describe_handled(&h),
            vec![
                "  accepted",
                "  saved in/f.txt (2.0 KiB); sha256 ab (matches the announced one); X-Cache HIT",
                "  download completed report sent"
            ]
        );
        let ignored = Handled {
            decision: Decision::Ignore,
            responded: false,
            saved: None,
            download: None,
            sha256_ok: None,
            reported: false,
            ..h
        };
        assert_eq!(
            describe_handled(&ignored),
            vec!["  ignored (no response sent)"]
        );
    }
}
