//! The `mcdata` command: one subcommand per job.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use mcdata::content_server::config::ContentServerArgs;
use mcdata::content_server::ContentServer;
use mcdata::fd::FdServer;
use mcdata::system::{RunningSystem, SystemConfig};

/// MCData file distribution between interconnected systems (3GPP TS 23.282 7.5.2).
///
/// A system has a content server (files: primary for its own users' uploads, caching
/// partner for files of other systems) and an MCData server (FD signalling). Start with
/// `mcdata demo`: two systems on loopback and the whole procedure, step by step.
#[derive(Parser)]
#[command(name = "mcdata", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run two systems on loopback and the whole FD procedure between two users.
    ///
    /// Prints each step (number from TS 23.282 7.5.2.4.3, actor, what happened, elapsed
    /// ms), checks the sha256 of what was downloaded, and exits 0 only if every step held.
    /// Example: mcdata demo --size 67108864 --keep-running
    #[command(verbatim_doc_comment)]
    Demo(mcdata::demo::DemoArgs),
    /// Run one system: its content server and its MCData server, from one TOML file.
    ///
    /// Example: mcdata system --config examples/system-a.toml
    #[command(verbatim_doc_comment)]
    System(SystemArgs),
    /// Run a content server (primary + partner roles).
    ///
    /// Example, two systems on one machine:
    ///   mcdata content-server --system-id A --listen 127.0.0.1:8080 --store file://./data-a \
    ///       --peer B,http://127.0.0.1:8081,secret-ab-123
    ///   mcdata content-server --system-id B --listen 127.0.0.1:8081 --store file://./data-b \
    ///       --peer A,http://127.0.0.1:8080,secret-ab-123
    /// then upload the raw file with its type and name (RFC 6266; filename*=UTF-8''... for
    /// other scripts): curl --data-binary @scene.jpg -H 'Content-Type: image/jpeg' \
    ///   -H 'Content-Disposition: attachment; filename="scene.jpg"' http://127.0.0.1:8080/files
    /// and download through B with `curl -OJ http://127.0.0.1:8081/<Location from the upload>`.
    ///
    /// Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=mcdata=debug) for more or less.
    #[command(verbatim_doc_comment)]
    ContentServer(Box<ContentServerArgs>),
    /// Run an MCData server (FD signalling) from a TOML file.
    ///
    /// Example: mcdata fd-server --config examples/fd-server.toml
    /// The file holds system-id, listen, content-server (this system's content server
    /// URI), the FD limits, [[users]] (id, token, may-send-fd) and [[partners]]
    /// (system-id, mcdata-server, content-server, credential, users); optionally
    /// tls-ca-file (CAs for https partners) and content-server-credential (the secret the
    /// content server, started with --mcdata-server, posts removals with). See docs/fd-api.md.
    #[command(verbatim_doc_comment)]
    FdServer(FdServerArgs),
    /// Play an MCData user: upload, send, listen, download, report, history.
    ///
    /// Example: mcdata client --user bob@b.example --token $TOKEN listen --accept --download-dir .
    #[command(verbatim_doc_comment)]
    Client(Box<mcdata::client_cli::ClientArgs>),
}

#[derive(Args)]
struct SystemArgs {
    /// The system's TOML file. Example: --config examples/system-a.toml
    #[arg(long, short = 'c')]
    config: PathBuf,
}

#[derive(Args)]
struct FdServerArgs {
    /// The MCData server's TOML file. Example: --config examples/fd-server.toml
    #[arg(long, short = 'c')]
    config: PathBuf,
    /// Address to listen on, overriding the file. Example: --listen 127.0.0.1:9080
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
}

fn init_logs(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn init_demo_logs() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let errors = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        );
    let steps =
        mcdata::demo::StepPrinter.with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(steps)
        .with(errors)
        .init();
}

/// Wait for Ctrl-C or SIGTERM (what service managers send); on SIGHUP, `reload` the
/// listeners' TLS certificates (a failed reload keeps the ones in use) and go on serving.
async fn until_interrupted<E: std::fmt::Display>(reload: impl Fn() -> Result<(), E>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).ok();
        let mut hup = signal(SignalKind::hangup()).ok();
        async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = next(&mut term) => break,
                _ = next(&mut hup) => match reload() {
                    Ok(()) => tracing::info!("SIGHUP: TLS certificates reloaded"),
                    Err(e) => tracing::error!(error = %e, "SIGHUP: reload failed, the certificates in use stay"),
                },
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = &reload;
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("stopping; finishing in-flight requests");
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => {
            init_demo_logs();
            let ok = mcdata::demo::run(args).await.context("demo")?;
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        Command::System(args) => {
            init_logs("info");
            let cfg = SystemConfig::load(&args.config).context("configuration")?;
            let running = RunningSystem::start(&cfg)
                .await
                .context("starting the system")?;
            until_interrupted(|| running.reload_tls()).await;
            running.shutdown().await;
        }
        Command::ContentServer(args) => {
            init_logs("info");
            let cfg = args.resolve().context("configuration")?;
            let running = ContentServer::start(cfg)
                .await
                .context("starting the content server")?;
            until_interrupted(|| running.reload_tls()).await;
            running.shutdown().await;
        }
        Command::FdServer(args) => {
            init_logs("info");
            let mut cfg: mcdata::fd::config::FdServerConfig =
                mcdata::config::load_toml(&args.config).context("configuration")?;
            if let Some(l) = args.listen {
                cfg.listen = l;
            }
            let running = FdServer::start(cfg)
                .await
                .context("starting the MCData server")?;
            until_interrupted(|| running.reload_tls()).await;
            running.shutdown().await;
        }
        Command::Client(args) => {
            init_logs("warn");
            mcdata::client_cli::run(*args).await.context("client")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
