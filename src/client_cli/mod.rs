//! `mcdata client ...`: the command line over the client library ([`crate::client`], which
//! knows nothing of it). `listen.rs` is the `listen` loop with its arguments (prompting,
//! reconnecting), `output.rs` what is printed, `progress.rs` the progress bar, `save.rs`
//! where a download goes (the server's file name made safe, never replacing a file without
//! `--force`). Global options say who the user is and where its servers are; each
//! subcommand is one thing a user does in the FD procedure (upload, send, listen and
//! answer, download, report, history).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use uuid::Uuid;

mod listen;
mod output;
pub mod progress;
mod save;

use crate::client::{ClientError, FileInfo, HistoryQuery, McDataClient, SendFd, Sent};
use crate::support::size::human_bytes;
use listen::listen;
pub use listen::ListenArgs;
use output::{format_history, say};
use progress::ProgressBar;
pub use save::{name_for, save_download, Output};

/// Act as an MCData client of one user: upload files, send file distributions, listen for
/// and answer them, download, report, query the download history.
///
/// Example, alice of system A sends a file to bob of system B, who accepts and downloads:
///   mcdata client --user bob@b.example --token tok-bob --fd-server http://127.0.0.1:9081 \
///       --content-server http://127.0.0.1:8081 listen --accept --download-dir ./inbox --report
///   mcdata client --user alice@a.example --token tok-alice send-file scene.jpg \
///       --to bob@b.example --report
#[derive(Args, Debug, Clone)]
#[command(verbatim_doc_comment)]
pub struct ClientArgs {
    /// Base URL of your MCData server (FD signalling), e.g. --fd-server http://127.0.0.1:9080
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "MCDATA_FD_SERVER",
        default_value = "http://127.0.0.1:9080",
        value_name = "URL"
    )]
    pub fd_server: String,

    /// Base URL of your system's content server (uploads; downloads of FD requests point
    /// there), e.g. --content-server http://127.0.0.1:8080
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "MCDATA_CONTENT_SERVER",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub content_server: String,

    /// Your MCData ID, shown in messages (the servers know you by your token),
    /// e.g. --user alice@a.example
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "MCDATA_USER",
        value_name = "ID"
    )]
    pub user: Option<String>,

    /// Your access token, sent as `Authorization: Bearer TOKEN` to both servers,
    /// e.g. --token tok-alice (or set MCDATA_TOKEN to keep it out of the shell history)
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "MCDATA_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// PEM file of CA certificates trusted for https servers besides the system's roots,
    /// e.g. --tls-ca-file /etc/mcdata/ca.pem
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "MCDATA_TLS_CA_FILE",
        value_name = "FILE"
    )]
    pub tls_ca_file: Option<std::path::PathBuf>,

    #[command(subcommand)]
    pub command: ClientCommand,
}

/// What to do.
#[derive(Subcommand, Debug, Clone)]
pub enum ClientCommand {
    /// Upload a file to your content server (file upload, TS 23.282 7.5.2.2); prints the
    /// file URL, then the server's answer as JSON.
    ///
    /// Example: mcdata client upload ./scene.jpg --availability 1h
    #[command(verbatim_doc_comment)]
    Upload {
        /// The file to upload, e.g. ./scene.jpg
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// How long the file stays available (seconds, or 30m, 12h, 7d; the server caps
        /// it), e.g. --availability 1h
        #[arg(long, value_name = "DURATION")]
        availability: Option<String>,
    },

    /// Send an FD request for a file already on your content server (steps 2-4). The
    /// metadata comes from the content server (HEAD on the URL); the options override it.
    ///
    /// Example: mcdata client send --to bob@b.example --file-url http://127.0.0.1:8080/files/6f1c --report
    #[command(verbatim_doc_comment)]
    Send(SendArgs),

    /// Upload a file, then send an FD request for it with the upload's metadata.
    ///
    /// Example: mcdata client send-file ./scene.jpg --to bob@b.example --mandatory --report
    #[command(verbatim_doc_comment)]
    SendFile(SendFileArgs),

    /// Print your events as they come (FD requests, responses, reports, notifications)
    /// and answer FD requests. Requests with mandatory download are accepted
    /// automatically; others per --accept, --reject or --prompt (default: ignore).
    /// Reconnects by itself, resuming after the last event received.
    ///
    /// Example: mcdata client listen --accept --download-dir ./inbox --report
    #[command(verbatim_doc_comment)]
    Listen(ListenArgs),

    /// Download a file (with your token), showing progress on stderr; prints where it
    /// went, its size, sha256 and the X-Cache answer of a partner content server.
    /// The file is saved under the name the server gives (Content-Disposition, in any
    /// script; path parts and control characters removed), else the last part of the
    /// URL (the file's UUID), in the current directory. An existing file is never
    /// replaced unless --force is given.
    ///
    /// Example: mcdata client download http://127.0.0.1:8081/http://127.0.0.1:8080/files/6f1c
    ///          mcdata client download http://127.0.0.1:8080/files/6f1c -o scene.jpg --force
    #[command(verbatim_doc_comment)]
    Download {
        /// The file URL, e.g. http://127.0.0.1:8081/http://127.0.0.1:8080/files/6f1c
        #[arg(value_name = "URL")]
        url: String,
        /// Where to save it instead: a file, a directory (saved there under the server's
        /// name), or `-` for stdout, e.g. -o scene.jpg
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace the file if it exists, e.g. --force
        #[arg(short, long)]
        force: bool,
    },

    /// Send a download completed report for an FD request you received (step 14).
    ///
    /// Example: mcdata client report 0b8f7a52-3c1e-4c5e-9a59-2d8f0c6e1b77
    #[command(verbatim_doc_comment)]
    Report {
        /// The message ID of the FD request, e.g. 0b8f7a52-3c1e-4c5e-9a59-2d8f0c6e1b77
        #[arg(value_name = "MESSAGE_ID")]
        message_id: Uuid,
    },

    /// List download completed reports (download history interrogation, steps 15-16) as
    /// a table; needs `may-query-history` on the MCData server.
    ///
    /// Example: mcdata client history --conversation 4b1d0c1e-8f7a-4c5e-9a59-2d8f0c6e1b77
    #[command(verbatim_doc_comment)]
    History {
        /// Only reports of this conversation, e.g. --conversation 4b1d0c1e-8f7a-4c5e-9a59-2d8f0c6e1b77
        #[arg(long, value_name = "UUID")]
        conversation: Option<Uuid>,
        /// Only reports of this FD request, e.g. --message 0b8f7a52-3c1e-4c5e-9a59-2d8f0c6e1b77
        #[arg(long, value_name = "UUID")]
        message: Option<Uuid>,
        /// Only reports of this file (original or prefixed URL),
        /// e.g. --file-url http://127.0.0.1:8080/files/6f1c
        #[arg(long, value_name = "URL")]
        file_url: Option<String>,
    },
}

/// `mcdata client send`.
#[derive(Args, Debug, Clone)]
pub struct SendArgs {
    /// The recipient's MCData ID, e.g. --to bob@b.example
    #[arg(long, value_name = "USER")]
    pub to: String,
    /// The file URL on your content server (from the upload),
    /// e.g. --file-url http://127.0.0.1:8080/files/6f1c
    #[arg(long, value_name = "URL")]
    pub file_url: String,
    /// Ask for mandatory download: the recipient's client accepts and downloads without
    /// asking, e.g. --mandatory
    #[arg(long)]
    pub mandatory: bool,
    /// Ask for a download completed report when the recipient has the file, e.g. --report
    #[arg(long)]
    pub report: bool,
    /// Continue this conversation instead of starting a new one,
    /// e.g. --conversation 4b1d0c1e-8f7a-4c5e-9a59-2d8f0c6e1b77
    #[arg(long, value_name = "UUID")]
    pub conversation: Option<Uuid>,
    /// File name to announce, e.g. --name scene.jpg
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Size in bytes to announce, e.g. --size 123456
    #[arg(long, value_name = "BYTES")]
    pub size: Option<u64>,
    /// Content type to announce, e.g. --type image/jpeg
    #[arg(long = "type", value_name = "MIME")]
    pub content_type: Option<String>,
    /// sha256 (hex) to announce, e.g. --sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
}

/// `mcdata client send-file`.
#[derive(Args, Debug, Clone)]
pub struct SendFileArgs {
    /// The file to upload and send, e.g. ./scene.jpg
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The recipient's MCData ID, e.g. --to bob@b.example
    #[arg(long, value_name = "USER")]
    pub to: String,
    /// Ask for mandatory download, e.g. --mandatory
    #[arg(long)]
    pub mandatory: bool,
    /// Ask for a download completed report, e.g. --report
    #[arg(long)]
    pub report: bool,
    /// How long the file stays available (seconds, or 30m, 12h, 7d), e.g. --availability 1h
    #[arg(long, value_name = "DURATION")]
    pub availability: Option<String>,
    /// Continue this conversation, e.g. --conversation 4b1d0c1e-8f7a-4c5e-9a59-2d8f0c6e1b77
    #[arg(long, value_name = "UUID")]
    pub conversation: Option<Uuid>,
}

/// Run one `mcdata client` command.
pub async fn run(args: ClientArgs) -> Result<(), ClientError> {
    let tls = crate::http::client::tls_from_file(args.tls_ca_file.as_deref())
        .map_err(|e| ClientError::Setup(format!("--tls-ca-file: {e}")))?;
    let client = McDataClient::with_tls(
        args.user.as_deref().unwrap_or(""),
        args.token.as_deref().unwrap_or(""),
        &args.fd_server,
        &args.content_server,
        Default::default(),
        tls,
    );
    match args.command {
        ClientCommand::Upload { file, availability } => {
            let up = client.upload_file(&file, availability.as_deref()).await?;
            say(&up.url)?;
            say(serde_json::to_string_pretty(&up).unwrap_or_default())
        }
        ClientCommand::Send(a) => send(&client, a).await,
        ClientCommand::SendFile(a) => send_file(&client, a).await,
        ClientCommand::Listen(a) => listen(&client, a).await,
        ClientCommand::Download { url, output, force } => {
            download(&client, &url, Output::from_arg(output), force).await
        }
        ClientCommand::Report { message_id } => {
            client.report(message_id).await?;
            say(format!("download completed report sent for {message_id}"))
        }
        ClientCommand::History {
            conversation,
            message,
            file_url,
        } => {
            let reports = client
                .history(&HistoryQuery {
                    conversation_id: conversation,
                    message_id: message,
                    file_url,
                })
                .await?;
            say(format_history(&reports).trim_end())
        }
    }
}

fn print_sent(to: &str, sent: &Sent) -> Result<(), ClientError> {
    say(format!(
        "message_id: {}\nconversation_id: {}\nto: {to}\nto_system: {}\nmandatory_download: {}",
        sent.message_id, sent.conversation_id, sent.to_system, sent.mandatory_download
    ))
}

async fn send(client: &McDataClient, a: SendArgs) -> Result<(), ClientError> {
    let from_server = match client.file_info(&a.file_url).await {
        Ok(fi) => fi,
        Err(e) => {
            eprintln!("note: no metadata from the content server ({e}); sending what was given");
            FileInfo::default()
        }
    };
    let metadata = from_server.merge(FileInfo {
        name: a.name,
        size: a.size,
        content_type: a.content_type,
        sha256: a.sha256,
        availability: None,
    });
    let req = SendFd {
        to: a.to,
        file_url: a.file_url,
        metadata: (!metadata.is_empty()).then_some(metadata),
        conversation_id: a.conversation,
        mandatory_download: a.mandatory,
        download_report: a.report,
    };
    let sent = client.send_fd(&req).await?;
    print_sent(&req.to, &sent)
}

async fn send_file(client: &McDataClient, a: SendFileArgs) -> Result<(), ClientError> {
    let up = client
        .upload_file(&a.file, a.availability.as_deref())
        .await?;
    say(format!(
        "uploaded: {} ({}, sha256 {})",
        up.url,
        human_bytes(up.size),
        up.sha256
    ))?;
    let req = SendFd {
        to: a.to,
        file_url: up.url.clone(),
        metadata: Some(FileInfo::from_upload(&up)),
        conversation_id: a.conversation,
        mandatory_download: a.mandatory,
        download_report: a.report,
    };
    let sent = client.send_fd(&req).await?;
    print_sent(&req.to, &sent)
}

async fn download(
    client: &McDataClient,
    url: &str,
    output: Output,
    force: bool,
) -> Result<(), ClientError> {
    let label = url.rsplit('/').next().unwrap_or(url).to_string();
    let mut bar = ProgressBar::new(&label);
    let to_stdout = output == Output::Stdout;
    let r = save_download(client, url, output, force, |n, t| bar.update(n, t)).await;
    let (saved, d) = match r {
        Ok(r) => {
            bar.finish();
            r
        }
        Err(e) => {
            bar.abandon();
            if matches!(e, ClientError::Exists(_)) {
                eprintln!("note: --force replaces it; -o FILE saves elsewhere");
            }
            return Err(e);
        }
    };
    let mut lines = Vec::new();
    if let Some(p) = saved {
        lines.push(format!("saved: {}", p.display()));
    }
    lines.push(format!("size: {} ({})", d.len, human_bytes(d.len)));
    lines.push(format!("sha256: {}", d.sha256));
    lines.push(format!("x-cache: {}", d.x_cache.as_deref().unwrap_or("-")));
    // With `-o -` the file went to stdout: the summary goes to stderr.
    let text = lines.join("\n");
    if to_stdout {
        eprintln!("{text}");
        Ok(())
    } else {
        say(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Decision;
    use clap::{CommandFactory, Parser};
    use uuid::Uuid;

    #[derive(Parser, Debug)]
    struct Top {
        #[command(flatten)]
        client: ClientArgs,
    }

    fn parse(args: &[&str]) -> Result<ClientArgs, clap::Error> {
        let mut full = vec!["mcdata-client"];
        full.extend_from_slice(args);
        Top::try_parse_from(full).map(|t| t.client)
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Top::command().debug_assert();
        // Every argument has help text with an example.
        let cmd = Top::command();
        for sub in cmd.get_subcommands() {
            for arg in sub.get_arguments() {
                if arg.get_id() == "help" {
                    continue;
                }
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                assert!(
                    help.contains("e.g."),
                    "{} --{}: {help:?}",
                    sub.get_name(),
                    arg.get_id()
                );
            }
        }
    }

    #[test]
    fn global_options_and_subcommands_parse() {
        let a = parse(&[
            "--user",
            "bob@b",
            "listen",
            "--accept",
            "--download-dir",
            "in",
            "--report",
            "--once",
            "--fd-server",
            "http://f:1",
        ])
        .unwrap();
        assert_eq!(a.fd_server, "http://f:1");
        assert_eq!(a.user.as_deref(), Some("bob@b"));
        let ClientCommand::Listen(l) = a.command else {
            panic!("not listen")
        };
        assert!(l.accept && l.report && l.once);
        assert_eq!(l.default_decision(), Decision::Accept);
        assert_eq!(l.download_dir, Some(PathBuf::from("in")));

        assert!(parse(&["listen", "--accept", "--reject"]).is_err());
        let a = parse(&["listen"]).unwrap();
        let ClientCommand::Listen(l) = a.command else {
            panic!("not listen")
        };
        assert_eq!(l.default_decision(), Decision::Ignore);

        let a = parse(&[
            "send",
            "--to",
            "bob@b",
            "--file-url",
            "http://c/files/1",
            "--type",
            "text/plain",
            "--size",
            "5",
            "--mandatory",
        ])
        .unwrap();
        let ClientCommand::Send(s) = a.command else {
            panic!("not send")
        };
        assert_eq!(s.content_type.as_deref(), Some("text/plain"));
        assert_eq!(s.size, Some(5));
        assert!(s.mandatory && !s.report);

        assert!(parse(&["report", "not-a-uuid"]).is_err());
        assert!(parse(&["history", "--message", &Uuid::nil().to_string()]).is_ok());
        let a = parse(&["download", "http://x/f", "-o", "-"]).unwrap();
        assert!(
            matches!(a.command, ClientCommand::Download { output: Some(ref p), .. } if p.as_os_str() == "-")
        );
    }
}
