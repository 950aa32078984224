//! frame-proxy: the blue/green selector in front of two frame servers.
//!
//! Run (with frame servers on :3710 and :3711):
//!
//! ```text
//! cargo run --example frame-proxy -- run
//! curl -i http://127.0.0.1:3712/readyz          # answered by the active color (x-frame-color)
//! cargo run --example frame-proxy -- status     # active, draining, in flight, last swap
//! cargo run --example frame-proxy -- swap       # check the passive color, then make it active
//! cargo run --example frame-proxy -- rollback   # flip back while the old color is alive
//! ```
//!
//! Data plane (`server`, `sniff`, `lanes`, `timer`, `upstream`, `forward`, `headers`,
//! `body`) and control plane (`control`, `swap`, `probe`) share only [`state::ProxyState`];
//! the hot path reads the routing state with one `ArcSwap` load.

mod affinity;
mod body;
mod challenge;
mod cli;
mod color;
mod config;
mod control;
mod control_client;
mod forward;
mod headers;
mod lanes;
mod passive;
mod probe;
mod routing;
mod server;
mod signal;
mod sniff;
mod state;
mod state_file;
mod swap;
mod timer;
mod upstream;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use http::Method;
use tokio::net::TcpListener;

use crate::cli::{Cli, Command, RunArgs};
use crate::state::ProxyState;

/// An error with its sources (`client error (Connect): tcp connect error: Connection refused`).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The control plane and the accept loop; the data plane runs on threads of its own
    // (`lanes`), so one worker is enough here.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("frame-proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run(*args).await,
            Command::Status(c) => control_client::call(c.control, Method::GET, "/status").await,
            Command::Swap(c) => control_client::call(c.control, Method::POST, "/swap").await,
            Command::Rollback(c) => {
                control_client::call(c.control, Method::POST, "/rollback").await
            }
        }
    })
}

async fn run(args: RunArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FRAME_PROXY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = match config::load(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("frame-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    let active = match state_file::load(&config.state_file) {
        Ok(Some(color)) => {
            tracing::info!(%color, file = %config.state_file.display(), "active color restored");
            color
        }
        Ok(None) => config.initial_color,
        Err(e) => {
            eprintln!("frame-proxy: config field `state_file`: {e}");
            return ExitCode::from(2);
        }
    };
    let data = match TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "frame-proxy: cannot listen on {} (`listen`): {e}",
                config.listen
            );
            return ExitCode::from(2);
        }
    };
    let control = match TcpListener::bind(config.control).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "frame-proxy: cannot listen on {} (`control`): {e}",
                config.control
            );
            return ExitCode::from(2);
        }
    };
    let (listen, control_addr) = (
        data.local_addr().unwrap_or(config.listen),
        control.local_addr().unwrap_or(config.control),
    );
    let state = ProxyState::new(config, active);
    if let Err(e) = state_file::store(&state.config.state_file, active) {
        eprintln!(
            "frame-proxy: config field `state_file`: cannot write {}: {e}",
            state.config.state_file.display()
        );
        return ExitCode::from(2);
    }
    // Tests and scripts read this line to learn the bound ports.
    println!("frame-proxy listening on {listen} control {control_addr} active {active}");
    tracing::info!(%listen, control = %control_addr, %active, "frame-proxy started");

    let control_task = tokio::spawn(control::serve(control, Arc::clone(&state)));
    let data_task = tokio::spawn(server::serve(data, Arc::clone(&state)));

    wait_for_signal().await;
    tracing::info!(
        deadline_ms = state.config.shutdown.as_millis() as u64,
        "shutting down"
    );
    state.shutdown.fire();
    // SSE streams never end by themselves: end them now, at an event boundary,
    // so the graceful wait covers only ordinary requests.
    for color in color::Color::ALL {
        state.end_streams(color);
    }
    let graceful = match data_task.await {
        Ok(graceful) => graceful,
        Err(e) => {
            tracing::error!(error = %e, "data plane task failed");
            return ExitCode::FAILURE;
        }
    };
    let _ = control_task.await;
    match tokio::time::timeout(state.config.shutdown, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!("shutdown deadline passed; closing the remaining connections"),
    }
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch SIGTERM; Ctrl-C only");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
