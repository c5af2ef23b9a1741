//! The `mcdata` command: one subcommand per job.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use mcdata::config::{collecting_warnings, LogFormat};
use mcdata::content_server::config::ContentServerArgs;
use mcdata::content_server::ContentServer;
use mcdata::fd::config::FdServerArgs;
use mcdata::fd::FdServer;
use mcdata::system::{RunningSystem, SystemArgs};

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
    /// Check a file without starting anything: mcdata system --config FILE --check
    #[command(verbatim_doc_comment)]
    System(Box<SystemCmd>),
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
    /// Every flag can also be set as MCDATA_<FLAG> (MCDATA_CACHE_MAX_TTL=12h); keep
    /// secrets out of the command line (`ps` shows it): MCDATA_SERVER_CREDENTIAL, the
    /// *-file flags, or CREDENTIAL / TOKEN written as @FILE in --peer and --user.
    /// Check a configuration without starting: mcdata content-server --config FILE --check
    ///
    /// Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=mcdata=debug) for more or less.
    #[command(verbatim_doc_comment)]
    ContentServer(Box<ContentServerCmd>),
    /// Run an MCData server (FD signalling), from a TOML file and/or flags.
    ///
    /// Example: mcdata fd-server --config examples/fd-server.toml
    /// The file holds system-id, listen, content-server (this system's content server
    /// URI), the FD limits, [[users]] (id, token or token-file, may-send-fd) and
    /// [[partners]] (system-id, mcdata-server, content-server, credential or
    /// credential-file, users); optionally tls-ca-file (CAs for https partners) and
    /// content-server-credential (the secret the content server, started with
    /// --mcdata-server, posts removals with). Every key is also a flag and an MCDATA_<KEY>
    /// variable. See docs/fd-api.md.
    /// Check a configuration without starting: mcdata fd-server --config FILE --check
    #[command(verbatim_doc_comment)]
    FdServer(Box<FdServerCmd>),
    /// Play an MCData user: upload, send, listen, download, report, history.
    ///
    /// Example: mcdata client --user bob@b.example --token $TOKEN listen --accept --download-dir .
    #[command(verbatim_doc_comment)]
    Client(Box<mcdata::client_cli::ClientArgs>),
}

/// `--check`: like `nginx -t`.
#[derive(Args)]
struct Check {
    /// Check the configuration (files, flags, environment, secret files, TLS files) and
    /// print the effective settings as TOML, secrets redacted; then exit, 0 when it is
    /// valid. Binds no address and opens no store.
    #[arg(long)]
    check: bool,
}

#[derive(Args)]
struct SystemCmd {
    #[command(flatten)]
    check: Check,
    #[command(flatten)]
    args: SystemArgs,
}

#[derive(Args)]
struct ContentServerCmd {
    #[command(flatten)]
    check: Check,
    #[command(flatten)]
    args: ContentServerArgs,
}

#[derive(Args)]
struct FdServerCmd {
    #[command(flatten)]
    check: Check,
    #[command(flatten)]
    args: FdServerArgs,
}

/// Changes the log level of the running process (SIGHUP with a new `log-level`).
type LogLevel =
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

/// Logs on stderr at `level` (`RUST_LOG`, when set, wins), as text or one JSON object a
/// line.
fn init_logs(level: &str, format: LogFormat) -> LogLevel {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(quiet_sip_stack(level)));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let text = (format == LogFormat::Text).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
    });
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json)
        .init();
    handle
}

/// `level`, with rsipstack at `warn` unless `level` names it: at `info` the SIP stack
/// logs every datagram with its bytes.
fn quiet_sip_stack(level: &str) -> String {
    if level.contains("rsipstack") {
        level.to_string()
    } else {
        format!("{level},rsipstack=warn")
    }
}

/// Apply a reloaded `log-level` (unless `RUST_LOG` rules).
fn set_log_level(handle: &LogLevel, level: &str) {
    if std::env::var_os("RUST_LOG").is_some() {
        return;
    }
    match tracing_subscriber::EnvFilter::try_new(quiet_sip_stack(level)) {
        Ok(f) => {
            if handle.reload(f).is_ok() {
                tracing::info!(level, "log level reloaded");
            }
        }
        Err(e) => tracing::error!(level, error = %e, "log-level not reloaded"),
    }
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

/// What the process is told by its service manager or operator.
enum Signal {
    /// Ctrl-C or SIGTERM: drain and stop.
    Stop,
    /// SIGHUP: read the configuration again and apply what can change.
    Reload,
}

/// The signals we act on.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                hup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = tokio::signal::ctrl_c() => Signal::Stop,
                _ = recv(&mut self.term) => Signal::Stop,
                _ = recv(&mut self.hup) => Signal::Reload,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Stop
        }
    }
}

/// Serve until Ctrl-C or SIGTERM; on each SIGHUP run `reload` (which logs what it did),
/// telling the service manager (systemd `Type=notify`) around it.
async fn serve_until_stopped<F: std::future::Future<Output = ()>>(mut reload: impl FnMut() -> F) {
    mcdata::service::notify_ready();
    let mut signals = Signals::new();
    while let Signal::Reload = signals.next().await {
        mcdata::service::notify_reloading();
        reload().await;
        mcdata::service::notify_ready();
    }
    mcdata::service::notify_stopping();
    tracing::info!("stopping; finishing in-flight requests");
}

/// What `--check` loads besides the configuration itself: the listener's certificate and
/// key, and the CA and client certificate files for outbound https (reading files only).
fn check_tls(
    server: Option<mcdata::http::server_tls::ServerTlsSettings>,
    ca_file: Option<&std::path::Path>,
    identity: Option<(&std::path::Path, &std::path::Path)>,
) -> anyhow::Result<()> {
    if let Some(settings) = server {
        mcdata::http::server_tls::ServerTls::load(settings).context("tls-cert-file")?;
    }
    mcdata::http::client::tls_from_files(ca_file, identity).context("tls-ca-file")?;
    Ok(())
}

/// Print what `--check` found: the warnings on stderr, the effective settings on stdout.
fn print_check(what: &str, warnings: &[String], toml: &str) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
    println!("# mcdata {what}: the configuration is valid; secrets are shown as <redacted>");
    print!("{toml}");
}

/// Log the warnings raised while the configuration was read (before the logger existed).
fn log_warnings(warnings: Vec<String>) {
    for w in warnings {
        tracing::warn!("{w}");
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            // Each error of the chain once (our errors' messages already hold their
            // sources, which `chain` then drops), and never a backtrace.
            eprintln!("error: {}", mcdata::support::error_chain::chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn run() -> anyhow::Result<ExitCode> {
    let (cli, mut warnings) = collecting_warnings(Cli::parse);
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
        Command::System(cmd) => {
            let (cfg, more) = collecting_warnings(|| cmd.args.resolve());
            warnings.extend(more);
            if cmd.check.check {
                let cfg = cfg.context("configuration")?;
                let content = cfg.content();
                let identity = content.upstream_identity()?;
                check_tls(
                    content.server_tls()?,
                    content.tls_ca_file.as_deref(),
                    identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
                )
                .context("content server")?;
                check_tls(cfg.fd(&content.public_base()).server_tls()?, None, None)
                    .context("MCData server")?;
                print_check("system", &warnings, &cfg.to_check_toml()?);
                return Ok(ExitCode::SUCCESS);
            }
            let cfg = cfg.context("configuration")?;
            let logs = init_logs(&cfg.log_level, cfg.log_format);
            log_warnings(warnings);
            let running = RunningSystem::start(&cfg)
                .await
                .context("starting the system")?;
            serve_until_stopped(|| async {
                match cmd.args.resolve() {
                    Ok(new) => {
                        set_log_level(&logs, &new.log_level);
                        if let Err(e) = running.content.reload(new.content()).await {
                            tracing::error!(error = %mcdata::support::error_chain::chain(&e), "SIGHUP: the content server's configuration was not reloaded");
                        }
                        let fd = new.fd(running.content.base());
                        if let Err(e) = running.fd.reload(fd) {
                            tracing::error!(error = %mcdata::support::error_chain::chain(&e), "SIGHUP: the MCData server's configuration was not reloaded");
                        }
                    }
                    Err(e) => tracing::error!(error = %mcdata::support::error_chain::chain(&e), "SIGHUP: the configuration is invalid; nothing changed"),
                }
            })
            .await;
            running.shutdown().await;
        }
        Command::ContentServer(cmd) => {
            let (cfg, more) = collecting_warnings(|| cmd.args.resolve());
            warnings.extend(more);
            if cmd.check.check {
                let cfg = cfg.context("configuration")?;
                let identity = cfg.upstream_identity()?;
                check_tls(
                    cfg.server_tls()?,
                    cfg.tls_ca_file.as_deref(),
                    identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
                )?;
                print_check("content-server", &warnings, &cfg.to_check_toml()?);
                return Ok(ExitCode::SUCCESS);
            }
            let cfg = cfg.context("configuration")?;
            let logs = init_logs(&cfg.log_level, cfg.log_format);
            log_warnings(warnings);
            let running = ContentServer::start(cfg)
                .await
                .context("starting the content server")?;
            serve_until_stopped(|| async {
                match cmd.args.resolve() {
                    Ok(new) => {
                        set_log_level(&logs, &new.log_level);
                        if let Err(e) = running.reload(new).await {
                            tracing::error!(error = %mcdata::support::error_chain::chain(&e), "SIGHUP: the configuration was not reloaded; nothing changed");
                        }
                    }
                    Err(e) => tracing::error!(error = %mcdata::support::error_chain::chain(&e), "SIGHUP: the configuration is invalid; nothing changed"),
                }
            })
            .await;
            running.shutdown().await;
        }
        Command::FdServer(cmd) => {
            let (cfg, more) = collecting_warnings(|| cmd.args.resolve());
            warnings.extend(more);
            if cmd.check.check {
                let cfg = cfg.context("configuration")?;
                check_tls(cfg.server_tls()?, cfg.tls_ca_file.as_deref(), None)?;
                print_check("fd-server", &warnings, &cfg.to_check_toml()?);
                return Ok(ExitCode::SUCCESS);
            }
            let cfg = cfg.context("configuration")?;
            let logs = init_logs(&cfg.log_level, cfg.log_format);
            log_warnings(warnings);
            let running = FdServer::start(cfg)
                .await
                .context("starting the MCData server")?;
            serve_until_stopped(|| async {
                match cmd.args.resolve() {
                    Ok(new) => {
                        set_log_level(&logs, &new.log_level);
                        if let Err(e) = running.reload(new) {
                            tracing::error!(error = %mcdata::support::error_chain::chain(&e), "SIGHUP: the configuration was not reloaded; nothing changed");
                        }
                    }
                    Err(e) => tracing::error!(error = %mcdata::support::error_chain::chain(&e), "SIGHUP: the configuration is invalid; nothing changed"),
                }
            })
            .await;
            running.shutdown().await;
        }
        Command::Client(args) => {
            init_logs("warn", LogFormat::Text);
            log_warnings(warnings);
            mcdata::client_cli::run(*args).await.context("client")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
