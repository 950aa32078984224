//! [`ResponseFuture`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::Captured;
use super::layer::Shared;

pin_project! {
    /// The response future of [`RefusalService`](super::RefusalService): the inner future's
    /// output, unchanged; a refused response is queued for the recorder on the way out.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        captured: Option<Captured>,
        shared: Arc<Shared>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, captured: Captured, shared: Arc<Shared>) -> Self {
        Self {
            inner,
            captured: Some(captured),
            shared,
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let (Ok(response), Some(captured)) = (&result, this.captured.take()) {
            this.shared
                .observe(captured, response.status(), response.extensions());
        }
        Poll::Ready(result)
    }
}
