//! frame-server: the frame MCP server of every customer machine (frame-mcp-blue on :3710,
//! frame-mcp-green on :3711), and the first thing to run when trying axe.
//!
//! Dev mode, from the repository root (own PostgreSQL, dev token issuer, sample customers):
//!
//! ```text
//! cargo run --example frame-server
//! ```
//!
//! then paste the `export TOKEN=…` and `curl …` lines it prints. Production, against real
//! Entra ID:
//!
//! ```text
//! cargo run --example frame-server -- --config frame.yaml --check   # validate, then exit
//! cargo run --example frame-server -- --config frame.yaml
//! ```
//!
//! Routes: `/frame/mcp` (MCP Streamable HTTP behind Entra sign-in), its RFC 9728 metadata at
//! `/.well-known/oauth-protected-resource/frame/mcp` (and the root form), `/healthz`,
//! `/readyz`, and in dev mode `/dev/token?user=NAME`.

mod app;
mod config;
mod dev;
mod pg;
mod prod;
mod request_id;
mod routes;
mod tools;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use clap::Parser;

/// Grace period of dev mode on Ctrl-C / SIGTERM.
const DEV_GRACE: Duration = Duration::from_secs(10);

/// The frame MCP server. With no arguments it runs in dev mode on loopback.
#[derive(Parser, Debug)]
#[command(name = "frame-server", version, about, long_about = None)]
struct Args {
    /// Production mode: read this config file (see examples/frame-server/frame.example.yaml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Validate the config (and the files and variables it names), print the result, exit.
    #[arg(long, requires = "config", conflicts_with = "ephemeral")]
    check: bool,
    /// Where to listen: `PORT` (on 127.0.0.1) or `IP:PORT`. Dev mode accepts loopback only.
    /// Default: 127.0.0.1:3710, or `listen` of the config.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Dev mode's data folder (PostgreSQL, keys, customers.yaml). Default: `.dev/frame` in the
    /// repository.
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    dev_dir: Option<PathBuf>,
    /// Dev mode in a fresh temporary folder, removed (with its PostgreSQL stopped) at exit:
    /// nothing survives the run.
    #[arg(long, conflicts_with_all = ["config", "dev_dir"])]
    ephemeral: bool,
}

fn parse_listen(text: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse().with_context(|| {
        format!("--listen: {text:?} is not PORT or IP:PORT (e.g. 3711 or 127.0.0.1:3711)")
    })
}

fn default_dev_dir() -> PathBuf {
    // examples/ is this package; the repository root is its parent.
    let package = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    package
        .parent()
        .map_or_else(|| package.clone(), std::path::Path::to_path_buf)
        .join(".dev")
        .join("frame")
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,rmcp=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("frame-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("frame-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    // clap's `requires` is not enough on its own: with `--ephemeral` it let `--check` through
    // and dev mode started. Checking never starts a server.
    if args.check && args.config.is_none() {
        anyhow::bail!("--check needs --config FILE");
    }
    let listen = args.listen.as_deref().map(parse_listen).transpose()?;
    match args.config {
        Some(path) => {
            let config = match config::Config::load(&path) {
                Ok(c) => c,
                Err(errors) => {
                    eprintln!("{errors}");
                    eprintln!(
                        "frame-server: {} problem(s) in {}",
                        errors.0.len(),
                        path.display()
                    );
                    return Ok(ExitCode::FAILURE);
                }
            };
            if args.check {
                println!(
                    "{}: ok (customer {}, {}{}, listen {})",
                    path.display(),
                    config.customer,
                    config.public_url,
                    config::MCP_PATH,
                    listen.unwrap_or(config.listen)
                );
                return Ok(ExitCode::SUCCESS);
            }
            let prod = prod::start(config, listen).await?;
            let listener = tokio::net::TcpListener::bind(prod.listen)
                .await
                .with_context(|| format!("cannot listen on {}", prod.listen))?;
            let ready = Arc::new(app::Readiness::new(&prod.data));
            let router = routes::router(prod.endpoint.router(), Arc::clone(&ready), None);
            tracing::info!(addr = %prod.listen, "listening");
            serve(listener, router, &prod.endpoint, &ready, prod.grace).await;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let listen =
                listen.unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 3710));
            dev::check_loopback(listen)?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen} (is another frame-server running? try --listen 3711)"))?;
            let listen = listener.local_addr()?;
            let temp = if args.ephemeral {
                Some(
                    tempfile::Builder::new()
                        .prefix("frame-dev-")
                        .tempdir()
                        .context("cannot create a temporary folder")?,
                )
            } else {
                None
            };
            let dir = match &temp {
                Some(t) => t.path().to_path_buf(),
                None => args.dev_dir.unwrap_or_else(default_dev_dir),
            };
            let dev = dev::start(&dir, listen).await?;
            let ready = Arc::new(app::Readiness::new(&dev.data));
            let router = routes::router(
                dev.endpoint.router(),
                Arc::clone(&ready),
                Some(dev.router.clone()),
            );
            println!("{}", dev::banner(&dev, listen)?);
            tracing::info!(addr = %listen, "listening (dev mode)");
            serve(listener, router, &dev.endpoint, &ready, DEV_GRACE).await;
            if let Some(cluster) = &dev.server.cluster {
                cluster.stop();
            }
            drop(dev);
            if let Some(temp) = temp {
                let path = temp.path().display().to_string();
                temp.close()
                    .with_context(|| format!("cannot remove {path}"))?;
                tracing::info!(dir = %path, "temporary dev folder removed");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Serves until SIGTERM or Ctrl-C, then stops taking connections, marks itself not ready,
/// ends the MCP sessions and SSE streams, and gives open requests `grace` to finish.
async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    endpoint: &axe_mcp::McpEndpoint,
    ready: &Arc<app::Readiness>,
    grace: Duration,
) {
    let (stop_tx, mut deadline_rx) = tokio::sync::watch::channel(false);
    let sessions = endpoint.shutdown_token();
    let ready = Arc::clone(ready);
    // Everything a shutdown does happens here, before axum stops accepting: were it a branch
    // of the `select!` below, a server with no open connection could finish in the same poll
    // and skip it.
    let shutdown = async move {
        wait_for_signal().await;
        tracing::info!(grace_secs = grace.as_secs(), "shutting down");
        ready.drain();
        // Ends open SSE streams: without this the graceful shutdown waits for them forever.
        sessions.cancel();
        let _ = stop_tx.send(true);
    };
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown);
    let deadline = async move {
        let _ = deadline_rx.wait_for(|stop| *stop).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = server => {
            if let Err(e) = result {
                tracing::error!(error = %e, "server error");
            }
            tracing::info!("stopped");
        }
        () = deadline => tracing::warn!("grace period over; exiting with requests still open"),
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
