//! [`RefusalService`].

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
use super::layer::Shared;
use super::{Captured, forwarded_for};
use crate::event::Timestamp;

/// The service made by [`RefusalLayer`](super::RefusalLayer).
#[derive(Debug, Clone)]
pub struct RefusalService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> RefusalService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RefusalService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let shared = &self.shared;
        let headers = request.headers();
        let ip = forwarded_for(headers, shared.forwarded_hops)
            .or_else(|| (shared.peer_ip)(request.extensions()));
        // Cheap clones only (Method, Uri and HeaderValue share their bytes); no header other
        // than these two is looked at.
        let captured = Captured {
            at: Timestamp::now(),
            method: request.method().clone(),
            uri: request.uri().clone(),
            user_agent: headers.get(http::header::USER_AGENT).cloned(),
            request_id: headers.get(&shared.request_id_header).cloned(),
            ip,
        };
        ResponseFuture::new(self.inner.call(request), captured, Arc::clone(&self.shared))
    }
}
