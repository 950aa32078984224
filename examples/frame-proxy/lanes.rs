//! The data-plane threads: one single-threaded tokio runtime per core, each serving the client
//! connections handed to it (in turn) together with their upstream connections.
//!
//! A connection and everything it does stays on one thread: no request is woken on another
//! core, and no task is stolen between workers (what a work-stealing runtime does under load,
//! at the cost of cross-core wake-ups). This is the shape of HAProxy's threads, and it only
//! pays off because each client connection drives its own upstream connections
//! ([`crate::upstream`]). The control plane (swaps, probes, the control API) stays on the main
//! runtime.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::server::graceful::Watcher;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::server;
use crate::state::ProxyState;

/// A client connection handed to a data-plane thread.
type Handed = (std::net::TcpStream, SocketAddr, Watcher);

/// The data-plane threads, fed round-robin.
pub(crate) struct Lanes {
    lanes: Vec<mpsc::UnboundedSender<Handed>>,
    next: std::cell::Cell<usize>,
}

impl Lanes {
    /// Starts one thread per available core (at least one). A thread that cannot be started
    /// is logged and left out; with none, [`Lanes::hand`] gives every connection back.
    pub(crate) fn start(state: &'static Arc<ProxyState>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut lanes = Vec::with_capacity(cores);
        for index in 0..cores {
            match start_lane(index, state) {
                Ok(lane) => lanes.push(lane),
                Err(e) => tracing::warn!(index, error = %e, "cannot start a data-plane thread"),
            }
        }
        Lanes {
            lanes,
            next: std::cell::Cell::new(0),
        }
    }

    /// Hands a connection to the next thread; gives it back when it could not be handed over
    /// (the caller then serves it itself).
    pub(crate) fn hand(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        watcher: Watcher,
    ) -> Option<(TcpStream, SocketAddr, Watcher)> {
        if self.lanes.is_empty() {
            return Some((stream, peer, watcher));
        }
        let index = self.next.get() % self.lanes.len();
        self.next.set(index + 1);
        // Leaves this runtime's reactor (the socket stays non-blocking) to join the thread's.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "cannot hand over a connection; closing it");
                return None;
            }
        };
        match self.lanes[index].send((stream, peer, watcher)) {
            Ok(()) => None,
            Err(mpsc::error::SendError((stream, peer, watcher))) => {
                tracing::warn!(
                    index,
                    "data-plane thread is gone; serving the connection here"
                );
                TcpStream::from_std(stream)
                    .ok()
                    .map(|stream| (stream, peer, watcher))
            }
        }
    }
}

/// Builds the thread's runtime here (so a failure is reported, not a panic in the thread),
/// then runs it until the process exits: connections it serves may outlive the accept loop
/// (graceful shutdown waits for them).
fn start_lane(
    index: usize,
    state: &'static Arc<ProxyState>,
) -> std::io::Result<mpsc::UnboundedSender<Handed>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Handed>();
    std::thread::Builder::new()
        .name(format!("frame-proxy-data-{index}"))
        .spawn(move || {
            runtime.block_on(async move {
                let builders = Arc::new(server::Builders::for_lane(state));
                while let Some((stream, peer, watcher)) = rx.recv().await {
                    match TcpStream::from_std(stream) {
                        Ok(stream) => {
                            server::serve_connection(&builders, state, stream, peer, watcher);
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot take over a connection"),
                    }
                }
                // The accept loop has ended: keep serving the open connections.
                std::future::pending::<()>().await;
            });
        })?;
    Ok(tx)
}
