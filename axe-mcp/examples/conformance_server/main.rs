//! The conformance server: the fixtures of the official MCP conformance suite
//! (`@modelcontextprotocol/conformance`) behind axe-mcp's endpoint stack (session binding,
//! limits, Host and Origin checks), with a [`DevFront`] in place of Entra sign-in because the
//! suite sends no token.
//!
//! ```text
//! cargo run -p axe-mcp --features test-util --example conformance_server -- --port 3000
//! ```
//!
//! It prints `listening on http://127.0.0.1:PORT/mcp` on stdout once it serves (`--port 0`,
//! the default, picks a free port), and stops on Ctrl-C, on SIGTERM, or, with
//! `--exit-on-stdin-eof`, when its standard input closes (how `tests/conformance.rs` stops
//! it, so the test database is dropped on the way out).
//!
//! The suite never reaches PostgreSQL through this server (its handler is a raw rmcp
//! handler), but the endpoint builder takes an audit log, so a private [`TestDb`] backs it.

mod handler;
mod media;
mod mrtr;
mod prompts;
mod resources;
mod tools;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Context;
use axe_audit::AuditLog;
use axe_auth::{Principal, TenantId};
use axe_isolation::testing::TestDb;
use axe_mcp::{CancellationToken, DevFront, McpEndpoint};
use axe_tenant::{CustomerId, CustomerSignal, EntityId, EntitySignal, ServiceId, Tenancy, Via};

/// Where the suite expects the endpoint.
const PATH: &str = "/mcp";
/// The suite opens a session per scenario and rarely closes one: lift the per-user limit
/// well above one full run (30 scenarios, several sessions in some).
const MAX_SESSIONS: usize = 10_000;
/// The fixed principal every loopback request runs as.
const DEV_TENANT: &str = "c0f0c0f0-0000-4000-8000-00000000c0f0";
const DEV_OBJECT_ID: &str = "00000000-0000-4000-8000-0000000c0f0a";

/// Command-line options (two flags: hand-parsed rather than pulling in an argument parser).
struct Args {
    port: u16,
    exit_on_stdin_eof: bool,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let mut parsed = Args {
            port: 0,
            exit_on_stdin_eof: false,
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--port" => {
                    let v = args.next().context("--port needs a value")?;
                    parsed.port = v.parse().with_context(|| format!("bad --port {v:?}"))?;
                }
                "--exit-on-stdin-eof" => parsed.exit_on_stdin_eof = true,
                other => anyhow::bail!(
                    "unknown argument {other:?} (usage: conformance_server [--port N] [--exit-on-stdin-eof])"
                ),
            }
        }
        Ok(parsed)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse(std::env::args().skip(1))?;

    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, args.port))
        .await
        .context("bind 127.0.0.1")?;
    let port = listener.local_addr()?.port();

    let db = TestDb::new().await.context("start the test database")?;
    let audit = AuditLog::new(db.isolation().await?);
    let endpoint = McpEndpoint::builder(PATH, audit)
        .dev_front(dev_front()?)
        // DNS-rebinding protection: loopback Host names (the builder's default) and loopback
        // browser origins on this port only.
        .allowed_origins([
            format!("http://127.0.0.1:{port}"),
            format!("http://localhost:{port}"),
            format!("http://[::1]:{port}"),
        ])
        .max_sessions_per_user(MAX_SESSIONS)
        .build_with_handler(handler::Conformance::new)?;

    let shutdown = endpoint.shutdown_token();
    let router = endpoint.router();
    println!("listening on http://127.0.0.1:{port}{PATH}");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop(shutdown, args.exit_on_stdin_eof))
    .await?;
    drop(db);
    Ok(())
}

/// The principal and tenancy of every request (the suite sends no token).
fn dev_front() -> anyhow::Result<DevFront> {
    let tenant: TenantId = DEV_TENANT.parse()?;
    let principal = Principal::builder(tenant, DEV_OBJECT_ID)
        .client_id("mcp-conformance-suite")
        .name("Conformance Suite")
        .build();
    let tenancy = Tenancy::new(
        CustomerId::parse("conformance")?,
        EntityId::parse("conformance")?,
        ServiceId::parse("mcp")?,
        Via::new(CustomerSignal::Tenant, EntitySignal::Default),
        0,
    );
    Ok(DevFront::new(principal, tenancy))
}

/// Resolves on Ctrl-C, SIGTERM or (if asked) the end of standard input, after ending every
/// session and SSE stream (graceful shutdown waits on open streams otherwise).
async fn stop(shutdown: CancellationToken, on_stdin_eof: bool) {
    // Standard input is read on a plain thread: tokio's stdin reads on a blocking-pool
    // thread, and the runtime waits for that read on exit, so after Ctrl-C or SIGTERM the
    // process would linger until stdin closed. A detached thread ends with the process.
    let closed = on_stdin_eof.then(|| {
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 256];
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            let _ = closed_tx.send(());
        });
        closed_rx
    });
    let stdin_closed = async move {
        match closed {
            // A reader thread that died early counts as a closed stdin too.
            Some(closed) => {
                let _ = closed.await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let terminated = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminated => {}
        () = stdin_closed => {}
    }
    shutdown.cancel();
}
