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
    pub(crate) loopback_hosts: bool,
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
        let host_customer = if self.loopback_hosts && is_loopback_host(host) {
            customers
                .customer(customer.as_str())
                .ok_or_else(|| refuse(TenantRejection::HostMismatch))?
        } else {
            customers
                .customer_for_raw_host(host)
                .map_err(|e| refuse(e.into()))?
        };
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

/// `localhost`, `127.0.0.1` (any 127/8) or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or("", |(h, _)| h),
        None => host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        }),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "LOCALHOST:3710",
            "127.0.0.1",
            "127.0.0.1:80",
            "127.1.2.3:9",
            "[::1]",
            "[::1]:3710",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "",
            "axe.axelabs.ai",
            "10.0.0.1:80",
            "localhost.evil.com",
            "127.0.0.1.evil.com",
            "[::2]:1",
            "::1",
            "localhost:x",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
