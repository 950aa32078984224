//! Upstream connections paired with one HTTP/1.1 client connection.
//!
//! An HTTP/1.1 client connection carries one request at a time, so it is served with its own
//! upstream connection per color, driven from the client connection's task: the request future
//! writes the request and reads the response head, the response body ([`crate::body`]) reads
//! the rest. No request crosses to another task or thread (a pooled client runs each upstream
//! connection in a task of its own and hands it requests over a channel). Between requests
//! the upstream connection is parked beside its client connection; one that stayed idle for
//! `pool_idle_ms` is closed (below the frame server's keep-alive), and at most `pool_max_idle`
//! per color are parked at once. HTTP/2 client connections multiplex and use the pooled client
//! instead.
//!
//! Hand-written on hyper's low-level `client::conn::http1` because hyper-util's pooled client
//! always drives its connections from tasks of their own.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::coop::unconstrained;
use tokio::time::Sleep;

use crate::color::Color;
use crate::state::ProxyState;

type Io = TokioIo<TcpStream>;

/// Why a request got no response from its frame server.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// The TCP connection could not be made (refused, unreachable, `connect_timeout_ms`).
    #[error("connect to {authority}: {source}")]
    Connect {
        /// `host:port` of the frame server.
        authority: String,
        /// The cause.
        source: io::Error,
    },
    /// The connection failed after the request was (or may have been) sent.
    #[error("request to {authority}: {source}")]
    Request {
        /// `host:port` of the frame server.
        authority: String,
        /// The cause.
        source: hyper::Error,
    },
    /// No response head within `response_timeout_ms` of the request's start.
    #[error("no response in time")]
    TimedOut,
}

impl UpstreamError {
    /// True when no connection could be made.
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, UpstreamError::Connect { .. })
    }
}

/// One HTTP/1.1 connection to a frame server: the request handle and the connection future
/// that does the I/O (polled only by the task of the client connection that owns it).
pub(crate) struct Upstream {
    sender: SendRequest<Incoming>,
    /// `None` once the connection has ended. Boxed (once per connection): the connection state
    /// is over a kilobyte, and an `Upstream` moves several times per request.
    conn: Option<Pin<Box<Connection<Io, Incoming>>>>,
    /// The response deadline of the request in flight. One timer per connection, moved to each
    /// request's deadline: a deadline later than the last one only updates tokio's timer entry,
    /// where a timer per request is put into tokio's timer wheel and taken out again (a
    /// throwaway build without this timer and the request-header one spent about 0.5 µs less
    /// CPU per request under `wrk -c32`).
    deadline: Pin<Box<Sleep>>,
}

/// Why [`Upstream::send`] got no response head.
enum SendFailure {
    /// hyper's error; the request is in it when it provably was not sent (boxed: it is
    /// large, and rare).
    Failed(Box<hyper::client::conn::TrySendError<Request<Incoming>>>),
    /// The deadline passed first.
    TimedOut,
}

impl Upstream {
    /// Drives the connection's I/O; false once the connection has ended.
    pub(crate) fn poll_conn(&mut self, cx: &mut Context<'_>) -> bool {
        drive(&mut self.conn, cx)
    }

    /// Sends `req` and drives the connection until the response head arrives or `deadline`
    /// passes.
    async fn send(
        &mut self,
        req: Request<Incoming>,
        deadline: Instant,
    ) -> Result<Response<Incoming>, SendFailure> {
        self.deadline.as_mut().reset(deadline.into());
        // Only the connection, driven by this future, can complete the response future: it is
        // polled quietly (and outside tokio's task budget, which would otherwise ask for a
        // wake-up this quiet poll drops), so the response arriving does not wake the task a
        // second time.
        let mut response = pin!(unconstrained(self.sender.try_send_request(req)));
        let (conn, timer) = (&mut self.conn, &mut self.deadline);
        poll_fn(|cx| {
            // The connection first: it writes the request and reads the head the response
            // future then finds, all in this one poll.
            drive(conn, cx);
            if let Poll::Ready(answer) = response.as_mut().poll(&mut quiet()) {
                return Poll::Ready(answer.map_err(|e| SendFailure::Failed(Box::new(e))));
            }
            timer.as_mut().poll(cx).map(|()| Err(SendFailure::TimedOut))
        })
        .await
    }
}

/// A context whose wake-ups go nowhere, for polls that are followed by one with the task's
/// waker within the same poll of the task.
fn quiet() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// Polls `conn` once; when it has ended, logs why and clears it. False once it has ended.
fn drive(conn: &mut Option<Pin<Box<Connection<Io, Incoming>>>>, cx: &mut Context<'_>) -> bool {
    let Some(c) = conn.as_mut() else {
        return false;
    };
    match c.as_mut().poll(cx) {
        Poll::Pending => true,
        Poll::Ready(result) => {
            if let Err(e) = result {
                tracing::debug!(error = %crate::error_chain(&e), "upstream connection ended");
            }
            *conn = None;
            false
        }
    }
}

/// An upstream connection waiting beside its client connection for the next request.
struct Parked {
    upstream: Upstream,
    since: Instant,
}

/// The upstream connections of one client connection.
pub(crate) struct Paired {
    state: &'static ProxyState,
    parked: Mutex<[Option<Parked>; 2]>,
    /// Wakes [`Paired::reap`] when a connection is parked.
    parked_one: Notify,
}

impl Paired {
    /// No upstream connection yet; they are opened when a request needs one.
    pub(crate) fn new(state: &'static ProxyState) -> Arc<Self> {
        Arc::new(Paired {
            state,
            parked: Mutex::new([None, None]),
            parked_one: Notify::new(),
        })
    }

    fn slots(&self) -> MutexGuard<'_, [Option<Parked>; 2]> {
        // Slots are replaced by single assignments: a poisoned lock holds valid slots.
        self.parked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `req` (origin-form URI, `Host` set) to `color` over this client connection's
    /// upstream connection, opening one when there is none or it cannot take a request; the
    /// response head must arrive by `deadline`. A request goes out a second time only when
    /// hyper hands it back unsent on a reused connection (the frame server closed it while it
    /// was parked).
    pub(crate) async fn send(
        self: &Arc<Self>,
        color: Color,
        mut req: Request<Incoming>,
        deadline: Instant,
    ) -> Result<(Response<Incoming>, Upstream), UpstreamError> {
        let (mut upstream, mut reused) = match self.checkout(color) {
            Some(upstream) => (upstream, true),
            None => (Box::pin(self.connect(color, deadline)).await?, false),
        };
        loop {
            match upstream.send(req, deadline).await {
                Ok(response) => return Ok((response, upstream)),
                Err(SendFailure::TimedOut) => return Err(UpstreamError::TimedOut),
                Err(SendFailure::Failed(mut e)) => match e.take_message() {
                    Some(unsent) if reused => {
                        tracing::debug!(%color, "parked upstream connection was closed; reconnecting");
                        req = unsent;
                        reused = false;
                        upstream = Box::pin(self.connect(color, deadline)).await?;
                    }
                    _ => {
                        return Err(UpstreamError::Request {
                            authority: self.state.config.backend(color).authority.to_string(),
                            source: e.into_error(),
                        });
                    }
                },
            }
        }
    }

    /// The parked connection of `color` if it is fresh, open and ready for a request.
    fn checkout(&self, color: Color) -> Option<Upstream> {
        let parked = self.slots()[color.index()].take()?;
        self.state.unpark(color);
        if parked.since.elapsed() >= self.state.config.pool_idle {
            return None;
        }
        let mut upstream = parked.upstream;
        // One poll reads a close (or anything unexpected) that arrived while it was parked. It
        // is a quiet poll: the connection is driven with the task's waker right after (in
        // `Upstream::send`), and the request that is about to be handed to it would otherwise
        // wake the task through the waker this poll leaves with the connection's request queue
        // (one more poll of the whole client connection per request, for nothing).
        (upstream.poll_conn(&mut quiet()) && upstream.sender.is_ready()).then_some(upstream)
    }

    /// Opens a connection to `color` within `connect_timeout_ms`, and by `deadline`.
    async fn connect(&self, color: Color, deadline: Instant) -> Result<Upstream, UpstreamError> {
        let authority = &self.state.config.backend(color).authority;
        let connect_error = |source| UpstreamError::Connect {
            authority: authority.to_string(),
            source,
        };
        // `[::1]` in a URL is `::1` to the resolver.
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        let connect_by = Instant::now() + self.state.config.connect_timeout;
        let stream = tokio::time::timeout_at(
            connect_by.min(deadline).into(),
            TcpStream::connect((host, port)),
        )
        .await
        .map_err(|_| {
            if deadline < connect_by {
                UpstreamError::TimedOut
            } else {
                connect_error(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
            }
        })?
        .map_err(connect_error)?;
        let _ = stream.set_nodelay(true);
        // Requests go out from one buffer (one `send`, not a `writev`), as responses do to
        // clients (`server::connection_builder`).
        let (sender, conn) = http1::Builder::new()
            .writev(false)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|source| UpstreamError::Request {
                authority: authority.to_string(),
                source,
            })?;
        Ok(Upstream {
            sender,
            conn: Some(Box::pin(conn)),
            deadline: Box::pin(tokio::time::sleep_until(deadline.into())),
        })
    }

    /// Keeps `upstream` for the next request of this client connection, unless it has ended,
    /// `pool_max_idle` connections of `color` are parked already, or the slot is taken.
    pub(crate) fn park(&self, color: Color, upstream: Upstream) {
        if upstream.conn.is_none() || upstream.sender.is_closed() {
            return;
        }
        let mut slots = self.slots();
        let slot = &mut slots[color.index()];
        if slot.is_some() || !self.state.try_park(color) {
            return;
        }
        *slot = Some(Parked {
            upstream,
            since: Instant::now(),
        });
        drop(slots);
        self.parked_one.notify_one();
    }

    /// Closes parked connections once they have been idle for `pool_idle_ms`. Runs beside the
    /// client connection in its task and never ends.
    pub(crate) async fn reap(&self) {
        loop {
            let oldest = self.slots().iter().flatten().map(|p| p.since).min();
            match oldest {
                Some(since) => {
                    let deadline = since + self.state.config.pool_idle;
                    tokio::time::sleep_until(deadline.into()).await;
                }
                None => self.parked_one.notified().await,
            }
            let idle = self.state.config.pool_idle;
            let mut slots = self.slots();
            for color in Color::ALL {
                let slot = &mut slots[color.index()];
                if slot.as_ref().is_some_and(|p| p.since.elapsed() >= idle) {
                    *slot = None;
                    self.state.unpark(color);
                }
            }
        }
    }
}

impl Drop for Paired {
    fn drop(&mut self) {
        let slots = self
            .parked
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for color in Color::ALL {
            if slots[color.index()].take().is_some() {
                self.state.unpark(color);
            }
        }
    }
}

/// An upstream connection lent to one response body: driven while the body is read, parked
/// again when the body was read to its end, closed when it was dropped before (the client went
/// away, or an SSE stream was cut).
pub(crate) struct Lease {
    home: Arc<Paired>,
    color: Color,
    upstream: Option<Upstream>,
    complete: bool,
}

impl Lease {
    /// Lends `upstream` of `color`, owned by `home`.
    pub(crate) fn new(home: Arc<Paired>, color: Color, upstream: Upstream) -> Self {
        Lease {
            home,
            color,
            upstream: Some(upstream),
            complete: false,
        }
    }

    /// Drives the connection's I/O (the response body arrives through it).
    pub(crate) fn poll_conn(&mut self, cx: &mut Context<'_>) {
        if let Some(upstream) = self.upstream.as_mut() {
            upstream.poll_conn(cx);
        }
    }

    /// The response was read to its end: the connection may serve the next request.
    pub(crate) fn complete(&mut self) {
        self.complete = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.complete
            && let Some(upstream) = self.upstream.take()
        {
            self.home.park(self.color, upstream);
        }
    }
}
