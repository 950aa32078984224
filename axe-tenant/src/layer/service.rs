use std::task::{Context, Poll};

use axe_auth::Principal;
use http::Request;
use tower_service::Service;

use super::{ResponseFuture, TenantRejection};
use crate::host::{first_segment, service_of};
use crate::{CustomerRegistry, Resolution, ServiceId, Tenancy};

/// The middleware of [`TenantLayer`](super::TenantLayer).
#[derive(Debug, Clone)]
pub struct TenantService<S> {
    pub(crate) inner: S,
    pub(crate) registry: CustomerRegistry,
    pub(crate) service: Option<ServiceId>,
}

impl<S> TenantService<S> {
    /// The decision for one request: its [`Tenancy`], or why not.
    pub fn decide<B>(&self, req: &Request<B>) -> Result<Tenancy, TenantRejection> {
        let Some(principal) = req.extensions().get::<Principal>() else {
            tracing::error!(
                "TenantLayer: request without a Principal; the tenant layer must run after \
                 axe-auth's EntraAuthLayer"
            );
            return Err(TenantRejection::MissingPrincipal);
        };
        let customers = self.registry.load_guard();
        let resolution = customers.resolve(principal);
        let Resolution::Matched {
            customer,
            entity,
            via,
            generation,
        } = resolution
        else {
            let rejection = TenantRejection::from_resolution(&resolution)
                .unwrap_or(TenantRejection::UnknownTenant);
            tracing::info!(
                tenant = %principal.tenant_id(),
                resolution = ?resolution,
                code = rejection.code(),
                "tenant resolution refused",
            );
            return Err(rejection);
        };

        let host = req
            .uri()
            .authority()
            .map(|a| a.as_str())
            .or_else(|| {
                req.headers()
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
            })
            .unwrap_or("");
        let refuse = |rejection: TenantRejection| {
            tracing::info!(
                tenant = %principal.tenant_id(),
                customer = %customer,
                generation,
                code = rejection.code(),
                "tenant routing refused",
            );
            rejection
        };
        let host_customer = customers
            .customer_for_raw_host(host)
            .map_err(|e| refuse(e.into()))?;
        if host_customer.id() != &customer {
            return Err(refuse(TenantRejection::HostMismatch));
        }
        let segment = match &self.service {
            Some(fixed) => fixed.as_str(),
            None => first_segment(req.uri().path()),
        };
        let service = service_of(host_customer, segment).map_err(|e| refuse(e.into()))?;
        Ok(Tenancy {
            customer,
            entity,
            service,
            via,
            generation,
        })
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TenantService<S>
where
    S: Service<Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<super::TenantBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        match self.decide(&req) {
            Ok(tenancy) => {
                req.extensions_mut().insert(tenancy);
                ResponseFuture::inner(self.inner.call(req))
            }
            Err(rejection) => ResponseFuture::rejected(rejection),
        }
    }
}
