//! The data-plane listener: HTTP/1.1 and h2c (prior knowledge) on one port, each connection
//! watched for graceful shutdown and served on one of the data-plane threads ([`crate::lanes`])
//! together with its own upstream connections ([`crate::upstream`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::rt::Timer;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};

use crate::forward;
use crate::headers;
use crate::lanes::Lanes;
use crate::sniff::{Protocol, sniff};
use crate::state::ProxyState;
use crate::timer::ReusingTimer;
use crate::upstream::Paired;

/// Accepts connections until `state.shutdown` is cancelled and hands them to the data-plane
/// threads in turn; returns the watcher of the open connections so `main` can wait for them
/// with a deadline.
pub(crate) async fn serve(listener: TcpListener, state: Arc<ProxyState>) -> GracefulShutdown {
    let state = ProxyState::for_data_plane(&state);
    let graceful = GracefulShutdown::new();
    let lanes = Lanes::start(state);
    // Serves here only when no data-plane thread could be started.
    let builders = Arc::new(Builders::for_any_thread(state));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = state.shutdown.fired() => return graceful,
        };
        let _ = stream.set_nodelay(true);
        if let Some((stream, peer, watcher)) = lanes.hand(stream, peer, graceful.watcher()) {
            serve_connection(&builders, state, stream, peer, watcher);
        }
    }
}

/// The connection settings of one data-plane thread: request-header timeout for HTTP/1.1,
/// keep-alive pings for h2c.
pub(crate) struct Builders {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Builders {
    /// For a data-plane thread (one current-thread runtime): the request-header timeout reuses
    /// its sleeps ([`ReusingTimer`]).
    ///
    /// HTTP/1.1 responses are written from one buffer (`writev(false)`): one `send` per
    /// response instead of a `writev` costs about 1 µs less system time per request (`wrk
    /// -c32`, measured from `/proc/<pid>/stat`), for a copy of the body bytes into that buffer.
    pub(crate) fn for_lane(state: &ProxyState) -> Self {
        Self::with_timer(state, ReusingTimer)
    }

    /// For a multi-threaded runtime (the accept loop's, when no data-plane thread could be
    /// started): hyper-util's tokio timer.
    pub(crate) fn for_any_thread(state: &ProxyState) -> Self {
        Self::with_timer(state, TokioTimer::new())
    }

    fn with_timer<T: Timer + Send + Sync + 'static>(state: &ProxyState, timer: T) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .writev(false)
            .timer(timer)
            .header_read_timeout(state.config.header_read_timeout);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(20));
        Builders { http1, http2 }
    }
}

/// Serves one client connection in a task of the current runtime, beside its upstream
/// connections (driven from the same task).
pub(crate) fn serve_connection(
    builders: &Arc<Builders>,
    state: &'static Arc<ProxyState>,
    stream: TcpStream,
    peer: SocketAddr,
    watcher: Watcher,
) {
    let paired = Paired::new(state);
    let service = {
        let paired = Arc::clone(&paired);
        // The peer's address as a header value, made once per connection.
        let peer_ip = headers::peer_ip(peer);
        service_fn(move |req| forward::handle(state, peer_ip.clone(), Arc::clone(&paired), req))
    };
    let builders = Arc::clone(builders);
    tokio::spawn(async move {
        // A new connection has the request-header timeout to send its first bytes.
        let Some(protocol) = sniff(&stream, state.config.header_read_timeout).await else {
            tracing::debug!("client connection sent no request in time; closed");
            return;
        };
        let io = TokioIo::new(stream);
        let ended = match protocol {
            Protocol::Http1 => {
                let connection = watcher.watch(builders.http1.serve_connection(io, service));
                beside(connection, &paired).await
            }
            Protocol::H2c => {
                let connection = watcher.watch(builders.http2.serve_connection(io, service));
                beside(connection, &paired).await
            }
        };
        if let Some(Err(e)) = ended {
            tracing::debug!(error = %e, "client connection ended with an error");
        }
    });
}

/// Runs `connection` with the reaper of its parked upstream connections; `None` never (the
/// reaper runs until the connection ends).
async fn beside<F: Future>(connection: F, paired: &Paired) -> Option<F::Output> {
    tokio::select! {
        biased;
        ended = connection => Some(ended),
        () = paired.reap() => None,
    }
}
