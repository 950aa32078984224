//! The command line: `run` starts the proxy, `status`/`swap`/`rollback` talk to its control API.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::color::Color;

/// Default address of the control API (loopback only).
pub(crate) const DEFAULT_CONTROL: &str = "127.0.0.1:3713";

/// Blue/green selector in front of two frame servers.
#[derive(Debug, Parser)]
#[command(
    name = "frame-proxy",
    version,
    about = "Blue/green selector in front of two frame servers, with zero-downtime swaps",
    arg_required_else_help = true
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the proxy (data plane and loopback control API).
    Run(Box<RunArgs>),
    /// Print the proxy's state: active color, draining color, in-flight requests, last swap.
    Status(ControlArgs),
    /// Check the passive color (readiness and an MCP probe), then make it active.
    Swap(ControlArgs),
    /// Flip back to the other color right away (it only has to answer /readyz).
    Rollback(ControlArgs),
}

/// Where the control API of a running proxy listens.
#[derive(Debug, Args)]
pub(crate) struct ControlArgs {
    /// Control API address of the running proxy (loopback).
    #[arg(long, default_value = DEFAULT_CONTROL)]
    pub(crate) control: SocketAddr,
}

/// Options of `run`. Each overrides the same field of the `--config` file.
///
/// The probe token is deliberately not a flag (flags show up in `ps`): use
/// `--probe-token-file` or the `FRAME_PROXY_PROBE_TOKEN` environment variable.
#[derive(Debug, Default, Args)]
pub(crate) struct RunArgs {
    /// YAML config file (fields as in the README); flags override it.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Data-plane listen address (default 127.0.0.1:3712).
    #[arg(long)]
    pub(crate) listen: Option<SocketAddr>,
    /// Control API address; must be a loopback address (default 127.0.0.1:3713).
    #[arg(long)]
    pub(crate) control: Option<SocketAddr>,
    /// Blue frame server, `http://host:port` (default http://127.0.0.1:3710).
    #[arg(long)]
    pub(crate) blue: Option<String>,
    /// Green frame server, `http://host:port` (default http://127.0.0.1:3711).
    #[arg(long)]
    pub(crate) green: Option<String>,
    /// Where the active color is persisted (default frame-proxy.state.json).
    #[arg(long)]
    pub(crate) state_file: Option<PathBuf>,
    /// Color to start with when the state file does not exist yet (default blue).
    #[arg(long)]
    pub(crate) initial_color: Option<Color>,
    /// How long the old color may finish its work after a swap, in milliseconds.
    #[arg(long)]
    pub(crate) drain_ms: Option<u64>,
    /// How many `/readyz` answers in a row a swap needs.
    #[arg(long)]
    pub(crate) ready_checks: Option<u32>,
    /// Pause between two `/readyz` checks, in milliseconds.
    #[arg(long)]
    pub(crate) ready_interval_ms: Option<u64>,
    /// File holding a bearer token for the MCP probe (initialize + tools/list).
    #[arg(long)]
    pub(crate) probe_token_file: Option<PathBuf>,
    /// The frame servers share a PostgreSQL session store: sessions may move at once.
    #[arg(long)]
    pub(crate) shared_session_store: bool,
    /// Roll back by itself when the new color fails right after a swap.
    #[arg(long)]
    pub(crate) auto_rollback: bool,
    /// Graceful shutdown deadline, in milliseconds.
    #[arg(long)]
    pub(crate) shutdown_ms: Option<u64>,
    /// Trust X-Forwarded-* headers sent by the client (only behind a tunnel or proxy).
    #[arg(long)]
    pub(crate) trust_forwarded: bool,
}
