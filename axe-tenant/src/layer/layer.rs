use tower_layer::Layer;

use super::TenantService;
use crate::{CustomerRegistry, ServiceId};

/// Builds [`TenantService`]s: see the [module documentation](crate::layer).
#[derive(Debug, Clone)]
pub struct TenantLayer {
    pub(crate) registry: CustomerRegistry,
    pub(crate) service: Option<ServiceId>,
    pub(crate) loopback_hosts: bool,
}

impl TenantLayer {
    /// A layer over the live `registry`, taking the service from the first
    /// path segment.
    pub fn new(registry: CustomerRegistry) -> Self {
        TenantLayer {
            registry,
            service: None,
            loopback_hosts: false,
        }
    }

    /// Fixes the service instead of reading it from the path: for a layer
    /// that sees paths with the service prefix already stripped (a nested
    /// axum router). The customer must still offer it.
    pub fn service(mut self, service: ServiceId) -> Self {
        self.service = Some(service);
        self
    }

    /// Accepts requests whose `Host` is a loopback name or address (`localhost`,
    /// `127.0.0.1`, `[::1]`, any port) for the customer the token resolves to, instead of
    /// refusing them as an unknown host. For a development server on loopback, whose
    /// clients cannot send `{customer}.{base_domain}`; leave it off (the default) anywhere
    /// a non-loopback client can reach the server.
    pub fn allow_loopback_hosts(mut self, allow: bool) -> Self {
        self.loopback_hosts = allow;
        self
    }
}

impl<S> Layer<S> for TenantLayer {
    type Service = TenantService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantService {
            inner,
            registry: self.registry.clone(),
            service: self.service.clone(),
            loopback_hosts: self.loopback_hosts,
        }
    }
}
