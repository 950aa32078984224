//! The data-plane listener: HTTP/1.1 and h2c (prior knowledge) on one port, each connection
//! watched for graceful shutdown and served on one of the data-plane threads ([`crate::lanes`])
//! together with its own upstream connections ([`crate::upstream`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};

use crate::forward;
use crate::headers;
use crate::lanes::Lanes;
use crate::state::ProxyState;
use crate::upstream::Paired;

/// Accepts connections until `state.shutdown` is cancelled and hands them to the data-plane
/// threads in turn; returns the watcher of the open connections so `main` can wait for them
/// with a deadline.
pub(crate) async fn serve(listener: TcpListener, state: Arc<ProxyState>) -> GracefulShutdown {
    let state = ProxyState::for_data_plane(&state);
    let graceful = GracefulShutdown::new();
    let lanes = Lanes::start(state);
    // Serves here only when no data-plane thread could be started.
    let builder = connection_builder(state);
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
            serve_connection(&builder, state, stream, peer, watcher);
        }
    }
}

/// The connection settings: request-header timeout for HTTP/1.1, keep-alive pings for h2c.
///
/// HTTP/1.1 responses are written from one buffer (`writev(false)`): one `send` per response
/// instead of a `writev` costs about 1 µs less system time per request (`wrk -c32`, measured
/// from `/proc/<pid>/stat`), for a copy of the body bytes into that buffer.
pub(crate) fn connection_builder(state: &ProxyState) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .writev(false)
        .timer(TokioTimer::new())
        .header_read_timeout(state.config.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(20));
    builder
}

/// Serves one client connection in a task of the current runtime, beside its upstream
/// connections (driven from the same task).
pub(crate) fn serve_connection(
    builder: &Builder<TokioExecutor>,
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
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .into_owned();
    let connection = watcher.watch(connection);
    tokio::spawn(async move {
        tokio::select! {
            biased;
            ended = connection => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "client connection ended with an error");
                }
            }
            () = paired.reap() => {}
        }
    });
}
