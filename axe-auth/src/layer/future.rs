use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower_service::Service;
use tracing::Instrument as _;
use tracing::instrument::Instrumented;

use super::body::AuthBody;
use super::service::reject;
use crate::error::Error;
use crate::{Principal, ProtectedResource};

pub(crate) type Validation = Pin<Box<dyn Future<Output = Result<Principal, Error>> + Send>>;

pin_project! {
    /// The response future of [`EntraAuth`](super::EntraAuth): first the
    /// validation (which may fetch keys), then the inner service.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        Validating {
            validation: Validation,
            request: Option<Request<B>>,
            inner: S,
            resource: ProtectedResource,
        },
        Calling {
            #[pin]
            future: Instrumented<S::Future>,
        },
        Rejected {
            response: Option<Response<Full<Bytes>>>,
        },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(crate) fn validating(
        validation: Validation,
        request: Request<B>,
        inner: S,
        resource: ProtectedResource,
    ) -> Self {
        ResponseFuture {
            state: State::Validating {
                validation,
                request: Some(request),
                inner,
                resource,
            },
        }
    }

    pub(crate) fn rejected(response: Response<Full<Bytes>>) -> Self {
        ResponseFuture {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Output = Result<Response<AuthBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Validating {
                    validation,
                    request,
                    inner,
                    resource,
                } => {
                    let outcome = ready!(validation.as_mut().poll(cx));
                    let Some(mut req) = request.take() else {
                        // Polled again after completion: a caller bug.
                        panic!("ResponseFuture polled after completion");
                    };
                    match outcome {
                        Ok(principal) => {
                            // The span carries who is calling, never the token.
                            let span = tracing::info_span!(
                                "principal",
                                tid = %principal.tenant_id(),
                                oid = principal.object_id(),
                            );
                            tracing::debug!(parent: &span, "token accepted");
                            req.extensions_mut().insert(principal);
                            let future = inner.call(req).instrument(span);
                            this.state.set(State::Calling { future });
                        }
                        Err(error) => {
                            let response = reject(error, resource, &req);
                            this.state.set(State::Rejected {
                                response: Some(response),
                            });
                        }
                    }
                }
                StateProj::Calling { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(AuthBody::Left)));
                }
                StateProj::Rejected { response } => {
                    let Some(response) = response.take() else {
                        panic!("ResponseFuture polled after completion");
                    };
                    return Poll::Ready(Ok(response.map(AuthBody::Right)));
                }
            }
        }
    }
}
