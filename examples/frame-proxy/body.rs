//! The response body the proxy hands to clients: the backend's body frame by frame (never
//! buffered), holding the in-flight count of its color until it ends, and for SSE ending the
//! stream cleanly (at an event boundary) when its color's drain deadline passes.
//!
//! Hand-written because no crate combines these three: http-body-util's combinators map or
//! limit frames but do not end a stream on a signal at an SSE event boundary.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tokio::time::Sleep;

use crate::state::{InFlightGuard, StreamGuard};
use crate::upstream::Lease;

/// How long a stream cut waits for the event it is in the middle of to complete.
const CUT_GRACE: Duration = Duration::from_secs(2);

/// SSE bookkeeping: the cut signal and whether the bytes sent so far end an event.
pub(crate) struct SseCut {
    cancelled: Pin<Box<dyn Future<Output = ()> + Send>>,
    _stream: StreamGuard,
    tail: [u8; 4],
    tail_len: usize,
    cutting: bool,
    grace: Option<Pin<Box<Sleep>>>,
}

impl SseCut {
    /// Watches `token`; `stream` counts the open stream until the body ends.
    pub(crate) fn new(token: crate::signal::Trigger, stream: StreamGuard) -> Self {
        SseCut {
            cancelled: Box::pin(token.fired()),
            _stream: stream,
            tail: [0; 4],
            tail_len: 0,
            cutting: false,
            grace: None,
        }
    }

    fn push(&mut self, data: &[u8]) {
        for &b in &data[data.len().saturating_sub(4)..] {
            if self.tail_len == 4 {
                self.tail.copy_within(1.., 0);
                self.tail[3] = b;
            } else {
                self.tail[self.tail_len] = b;
                self.tail_len += 1;
            }
        }
    }

    /// True before any byte and after a blank line (the end of an SSE event).
    fn at_boundary(&self) -> bool {
        let tail = &self.tail[..self.tail_len];
        tail.is_empty() || tail.ends_with(b"\n\n") || tail.ends_with(b"\r\r")
    }
}

pin_project! {
    /// See the module docs.
    pub(crate) struct TrackedBody {
        #[pin]
        inner: Incoming,
        guard: Option<InFlightGuard>,
        sse: Option<SseCut>,
        // The paired upstream connection the body arrives through (HTTP/1.1 clients).
        lease: Option<Lease>,
        done: bool,
    }
}

impl TrackedBody {
    /// Wraps `inner`; `sse` is set for `text/event-stream` responses.
    /// `lease` is the paired upstream connection `inner` arrives through, if any.
    pub(crate) fn new(
        inner: Incoming,
        guard: InFlightGuard,
        sse: Option<SseCut>,
        lease: Option<Lease>,
    ) -> Self {
        let mut body = TrackedBody {
            inner,
            guard: Some(guard),
            sse,
            lease,
            done: false,
        };
        body.note_end();
        body
    }

    /// Marks the lease complete once the backend's body has ended (a body without content,
    /// or one whose last frame was just read), so the connection is parked, not closed.
    fn note_end(&mut self) {
        if self.inner.is_end_stream()
            && let Some(lease) = self.lease.as_mut()
        {
            lease.complete();
        }
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        if let Some(sse) = this.sse.as_mut() {
            if !sse.cutting && sse.cancelled.as_mut().poll(cx).is_ready() {
                sse.cutting = true;
                if sse.at_boundary() {
                    finish(this.done, this.guard, this.sse);
                    return Poll::Ready(None);
                }
                sse.grace = Some(Box::pin(tokio::time::sleep(CUT_GRACE)));
            }
            if let Some(grace) = sse.grace.as_mut()
                && grace.as_mut().poll(cx).is_ready()
            {
                finish(this.done, this.guard, this.sse);
                return Poll::Ready(None);
            }
        }
        let mut polled = this.inner.as_mut().poll_frame(cx);
        if polled.is_pending()
            && let Some(lease) = this.lease.as_mut()
        {
            // The body arrives through the upstream connection this task drives.
            lease.poll_conn(cx);
            polled = this.inner.as_mut().poll_frame(cx);
        }
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream()
                    && let Some(lease) = this.lease.as_mut()
                {
                    lease.complete();
                }
                if let Some(sse) = this.sse.as_mut() {
                    if let Some(data) = frame.data_ref() {
                        sse.push(data);
                    }
                    if sse.cutting && sse.at_boundary() {
                        // This frame completes the event: send it, then end.
                        *this.done = true;
                        this.guard.take();
                        this.sse.take();
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                finish(this.done, this.guard, this.sse);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                if let Some(lease) = this.lease.as_mut() {
                    lease.complete();
                }
                finish(this.done, this.guard, this.sse);
                this.lease.take();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || (self.sse.is_none() && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        if self.sse.is_some() {
            SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}

fn finish(done: &mut bool, guard: &mut Option<InFlightGuard>, sse: &mut Option<SseCut>) {
    *done = true;
    guard.take();
    sse.take();
}
