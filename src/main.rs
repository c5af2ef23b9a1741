//! The `mcdata` command: subcommands for each server.

use anyhow::Context;
use clap::{Parser, Subcommand};

use mcdata::config::ContentServerArgs;
use mcdata::content_server::ContentServer;

/// MCData file distribution between interconnected systems (3GPP TS 23.282 7.5.2).
///
/// Each MCData system runs one content server. It is the primary for files its own users
/// upload, and a caching partner (a streaming reverse proxy) for files of other systems it
/// has a service agreement with: a client asks it for `<its URI>/<original URL>`.
#[derive(Parser)]
#[command(name = "mcdata", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a content server (primary + partner roles).
    ///
    /// Example, two systems on one machine:
    ///   mcdata content-server --system-id A --listen 127.0.0.1:8080 --store file://./data-a \
    ///       --peer B,http://127.0.0.1:8081,secret-ab-123
    ///   mcdata content-server --system-id B --listen 127.0.0.1:8081 --store file://./data-b \
    ///       --peer A,http://127.0.0.1:8080,secret-ab-123
    /// then upload with `curl -T file http://127.0.0.1:8080/files` and download through B
    /// with `curl http://127.0.0.1:8081/<Location from the upload>`.
    ///
    /// Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=mcdata=debug) for more or less.
    #[command(verbatim_doc_comment)]
    ContentServer(ContentServerArgs),
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logs();
    match cli.command {
        Command::ContentServer(args) => {
            let cfg = args.resolve().context("configuration")?;
            let running = ContentServer::start(cfg)
                .await
                .context("starting the content server")?;
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {
                    tracing::info!("interrupted; finishing in-flight requests");
                    running.shutdown().await;
                }
            }
        }
    }
    Ok(())
}
