use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of [`TenantService`](super::TenantService): the inner
    /// service's body, or the JSON of a [`TenantRejection`](super::TenantRejection).
    #[project = TenantBodyProj]
    #[derive(Debug)]
    #[allow(missing_docs)] // `body` fields: named by their variants' docs.
    pub enum TenantBody<B> {
        /// The inner service answered; `body` is its body.
        Inner {
            #[pin]
            body: B,
        },
        /// The layer refused the request; `body` is the JSON error.
        Rejection {
            #[pin]
            body: Full<Bytes>,
        },
    }
}

impl<B> Body for TenantBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project() {
            TenantBodyProj::Inner { body } => body.poll_frame(cx),
            TenantBodyProj::Rejection { body } => body
                .poll_frame(cx)
                .map(|frame| frame.map(|r| r.map_err(|never| match never {}))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            TenantBody::Inner { body } => body.is_end_stream(),
            TenantBody::Rejection { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            TenantBody::Inner { body } => body.size_hint(),
            TenantBody::Rejection { body } => body.size_hint(),
        }
    }
}
