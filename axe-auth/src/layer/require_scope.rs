use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::body::AuthBody;
use super::service::reject;
use crate::error::Error;
use crate::{Principal, ProtectedResource};

/// Requires, on the routes it wraps, one of some scopes or app roles.
///
/// Goes inside an [`EntraAuthLayer`](super::EntraAuthLayer). A principal
/// that has none of them is answered 403 `insufficient_scope` with the fully
/// qualified scopes to request; a request without a principal (the auth
/// layer is missing) gets 401.
///
/// ```
/// # use axe_auth::{ProtectedResource, RequireScopeLayer};
/// # fn demo(resource: ProtectedResource) {
/// let admin_only = RequireScopeLayer::new(resource)
///     .scope("api://frame.axelabs.ai/frame.admin")
///     .role("Frame.Admin");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RequireScopeLayer {
    resource: ProtectedResource,
    scopes: Vec<String>,
    roles: Vec<String>,
}

impl RequireScopeLayer {
    /// No requirement yet; add scopes and roles.
    pub fn new(resource: ProtectedResource) -> Self {
        RequireScopeLayer {
            resource,
            scopes: Vec::new(),
            roles: Vec::new(),
        }
    }

    /// Accepts a token with this delegated scope (fully qualified, as it is
    /// advertised; compared by its short name with `scp`).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Accepts a token with this app role.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.roles.push(role.into());
        self
    }

    /// True when `principal` satisfies the requirement.
    pub fn allows(&self, principal: &Principal) -> bool {
        principal.satisfies(&self.scopes, &self.roles)
    }
}

impl<S> Layer<S> for RequireScopeLayer {
    type Service = RequireScope<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireScope {
            inner,
            rule: self.clone(),
        }
    }
}

/// The service made by [`RequireScopeLayer`].
#[derive(Debug, Clone)]
pub struct RequireScope<S> {
    inner: S,
    rule: RequireScopeLayer,
}

pin_project! {
    /// Response future of [`RequireScope`].
    pub struct RequireScopeFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response<Full<Bytes>>> },
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScope<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = RequireScopeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let error = match req.extensions().get::<Principal>() {
            None => Error::MissingCredentials,
            Some(p) if self.rule.allows(p) => {
                return RequireScopeFuture {
                    kind: Kind::Inner {
                        future: self.inner.call(req),
                    },
                };
            }
            Some(_) => Error::InsufficientScope {
                required_scopes: self.rule.scopes.clone(),
                accepted_roles: self.rule.roles.clone(),
            },
        };
        RequireScopeFuture {
            kind: Kind::Refused {
                response: Some(reject(error, &self.rule.resource, &req)),
            },
        }
    }
}

impl<F, ResBody, E> Future for RequireScopeFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<AuthBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx).map_ok(|r| r.map(AuthBody::Left)),
            KindProj::Refused { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r.map(AuthBody::Right))),
                None => panic!("RequireScopeFuture polled after completion"),
            },
        }
    }
}
